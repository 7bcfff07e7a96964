"""Tiny envs with known dynamics: a raw JAX counter (wrappers, registration) and a gymnasium env
that records its actions (the gymnasium adapter).

Counter: position starts at a random integer in [0, 100) drawn from the key; each step adds
the action (an int) and gives reward = action. The episode terminates when the
position reaches `terminal_at` or more.
"""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from envs.core import JaxEnv, first_state
from envs.spec import ActionSpec, EnvSpec


def make_counter_env(terminal_at: int = 1000) -> JaxEnv:
    spec = EnvSpec(
        name="toy/counter",
        obs_shape=(1,),
        obs_dtype="float32",
        action=ActionSpec(kind="discrete", num_actions=5),
        episode_length=10_000,
    )

    def reset(key):
        key, sub = jax.random.split(key)
        start = jax.random.randint(sub, (), 0, 100)
        return first_state(jnp.array([start], jnp.float32), key, {"pos": start})

    def step(state, action):
        pos = state.backend["pos"] + jnp.asarray(action, jnp.int32)
        return state.replace(
            obs=jnp.array([pos], jnp.float32),
            reward=jnp.asarray(action, jnp.float32),
            terminated=pos >= terminal_at,
            is_first=jnp.zeros((), bool),
            backend={"pos": pos},
        )

    return JaxEnv(spec=spec, reset=reset, step=step)


class RecordingGymEnv(gymnasium.Env):
    """A gymnasium env with any given spaces that records the actions it receives.

    Observations fill the observation space's shape with one number drawn from the env's
    `np_random` at reset and with the step index afterwards; the reward is the step index.
    It never terminates; with `truncate_at` it truncates by itself (no TimeLimit) at that step.
    """

    def __init__(self, observation_space, action_space, truncate_at: int | None = None):
        self.observation_space = observation_space
        self.action_space = action_space
        self.truncate_at = truncate_at
        self.actions: list = []
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._observation(int(self.np_random.integers(1, 100))), {}

    def step(self, action):
        self.actions.append(action)
        self._t += 1
        truncated = self.truncate_at is not None and self._t >= self.truncate_at
        return self._observation(self._t), float(self._t), False, truncated, {}

    def _observation(self, value: int) -> np.ndarray:
        return np.full(self.observation_space.shape, value, self.observation_space.dtype)
