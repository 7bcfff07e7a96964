"""Any `gymnasium.Env` as a host backend: gymnasium's API behind the `SingleEnv` protocol.

    envs.register("gym/cartpole", host_factory=envs.from_gymnasium("CartPole-v1"))

Spaces: a `Box` observation that is a vector (served as float32) or an HxWxC uint8 image;
a `Discrete` action (index i means `start + i`) or a bounded 1-D `Box` action, which the agent
gives in [-1, 1] and the adapter rescales affinely to the Box's bounds (our convention for
every continuous task). Any other space is a one-line ValueError naming it.

Time limits belong to the host wrapper (`BatchedHostEnv`), as with dm_control, whose own limit
the DMC backend also removes: an env made from an id is built without gymnasium's `TimeLimit`,
and a factory's env loses a `TimeLimit` that is its outermost wrapper; the limit's step count
becomes the spec's episode length, so episodes are truncated exactly where gymnasium's
`truncated` would have been set. The host protocol ends episodes only by termination or that
limit, so any other truncation gymnasium reports is an error rather than a silent relabel.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from envs.spec import ActionSpec, EnvSpec


def observation_format(space, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """(obs_shape, obs_dtype) the agents see for a gymnasium observation space."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        if len(space.shape) == 1:
            return tuple(space.shape), np.dtype(np.float32)
        if len(space.shape) == 3 and space.dtype == np.uint8:
            return tuple(space.shape), np.dtype(np.uint8)
    raise ValueError(f"{name}: unsupported observation space {space}; supported: a Box vector (n,) "
                     "or a uint8 HxWxC Box image (flatten or wrap other spaces with gymnasium's wrappers)")


def action_format(space, name: str) -> ActionSpec:
    """The agent's view of a gymnasium action space: discrete indices or a box in [-1, 1]."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete) and space.n >= 2:
        return ActionSpec(kind="discrete", num_actions=int(space.n))
    if (isinstance(space, spaces.Box) and len(space.shape) == 1 and space.shape[0] >= 1
            and np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)) and np.all(space.low < space.high)):
        return ActionSpec(kind="continuous", shape=tuple(space.shape), low=-1.0, high=1.0)
    raise ValueError(f"{name}: unsupported action space {space}; supported: Discrete(n >= 2) "
                     "or a 1-D Box with finite bounds low < high")


def _strip_time_limit(env, name: str):
    """(env without an outermost TimeLimit, that limit's step count or None); a deeper TimeLimit is an error."""
    from gymnasium import Wrapper
    from gymnasium.wrappers import TimeLimit

    limit = None
    if isinstance(env, TimeLimit):
        limit = int(env._max_episode_steps)  # gymnasium's own attribute, set by TimeLimit's constructor
        env = env.env
    inner = env
    while isinstance(inner, Wrapper):
        if isinstance(inner, TimeLimit):
            raise ValueError(f"{name}: the env's gymnasium TimeLimit sits under {type(env).__name__}; build it with "
                             "gymnasium.make(..., max_episode_steps=-1) and pass max_episode_steps to from_gymnasium")
        inner = inner.env
    return env, limit


class GymnasiumEnv:
    """One gymnasium env as a `SingleEnv` (envs/host.py); `spec` describes its raw frames."""

    def __init__(self, env, name: str, max_episode_steps: int | None = None):
        env, own_limit = _strip_time_limit(env, name)
        limit = max_episode_steps if max_episode_steps is not None else own_limit
        if limit is None:
            raise ValueError(f"{name}: the env has no time limit; pass max_episode_steps (frames per episode)")
        self.env = env  # the gymnasium env, without its time limit
        self.name = name
        obs_shape, obs_dtype = observation_format(env.observation_space, name)
        action = action_format(env.action_space, name)
        self.spec = EnvSpec(name=name, obs_shape=obs_shape, obs_dtype=obs_dtype, action=action,
                            episode_length=limit, action_repeat=1)
        space = env.action_space
        if action.is_discrete:
            self._start = int(space.start)
        else:
            self._low = np.asarray(space.low, np.float64)
            self._half_range = (np.asarray(space.high, np.float64) - self._low) / 2.0
            self._action_dtype = space.dtype

    def reset(self, rng: np.random.Generator):
        # Every draw of the episode comes from gymnasium's np_random, seeded here from the host rng.
        obs, _ = self.env.reset(seed=int(rng.integers(0, 2**63 - 1)))
        return self._obs(obs), {}

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(self._env_action(action))
        if truncated and not terminated:
            raise RuntimeError(f"{self.name}: gymnasium truncated the episode by itself (not by its TimeLimit); "
                               "the host protocol ends episodes only by termination or the registered episode_length")
        return self._obs(obs), float(reward), bool(terminated), {}

    def close(self) -> None:
        self.env.close()

    def _env_action(self, action) -> Any:
        if self.spec.action.is_discrete:
            return self._start + int(action)
        unit = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        return (self._low + (unit + 1.0) * self._half_range).astype(self._action_dtype)

    def _obs(self, obs) -> np.ndarray:
        return np.asarray(obs, self.spec.obs_dtype).reshape(self.spec.obs_shape)


@dataclasses.dataclass(frozen=True)
class GymnasiumFactory:
    """A zero-argument host factory: each call builds a fresh `GymnasiumEnv`."""

    env: str | Callable[[], Any]  # a registered gymnasium id, or a function returning a gymnasium.Env
    max_episode_steps: int | None = None
    make_kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return self.env if isinstance(self.env, str) else getattr(self.env, "__name__", type(self.env).__name__)

    def __call__(self) -> GymnasiumEnv:
        if isinstance(self.env, str):
            import gymnasium

            # max_episode_steps=-1: gymnasium adds no TimeLimit; the host wrapper owns the limit.
            env = gymnasium.make(self.env, max_episode_steps=-1, **dict(self.make_kwargs))
            limit = gymnasium.spec(self.env).max_episode_steps
            return GymnasiumEnv(env, self.name, self.max_episode_steps if self.max_episode_steps is not None else limit)
        return GymnasiumEnv(self.env(), self.name, self.max_episode_steps)


def from_gymnasium(env: str | Callable[[], Any], *, max_episode_steps: int | None = None,
                   **make_kwargs) -> GymnasiumFactory:
    """A host factory for `envs.register(name, host_factory=...)` from a gymnasium id or env factory.

    `max_episode_steps` (frames per episode) defaults to the env's gymnasium time limit;
    `make_kwargs` go to `gymnasium.make` (ids only).
    """
    if isinstance(env, str):
        import gymnasium

        try:
            gymnasium.spec(env)
        except gymnasium.error.Error as error:
            raise ValueError(f"unknown gymnasium env id {env!r}: {error}") from None
    elif not callable(env):
        raise ValueError(f"from_gymnasium needs a gymnasium id or a function returning a gymnasium.Env, got {env!r}")
    elif make_kwargs:
        raise ValueError(f"make kwargs {sorted(make_kwargs)} only apply to a gymnasium id; bind them in your factory")
    if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int)
                                          or max_episode_steps < 1):
        raise ValueError(f"max_episode_steps must be an int >= 1, got {max_episode_steps!r}")
    return GymnasiumFactory(env, max_episode_steps, tuple(sorted(make_kwargs.items())))
