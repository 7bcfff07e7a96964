"""A tiny raw JAX env with known dynamics, for testing wrappers exactly.

Position starts at a random integer in [0, 100) drawn from the key; each step adds
the action (an int) and gives reward = action. The episode terminates when the
position reaches `terminal_at` or more.
"""

import jax
import jax.numpy as jnp

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
