"""Host MinAtar backend: the original `minatar.Environment` (numpy) as a `SingleEnv`.

Same observation and action conventions as `envs.minatar_jax`: frames are uint8
{0,255} nearest-upsampled to 32x32 (bit-identical to the JAX path), actions are
indices into the game's minimal action set. Sticky actions are MinAtar's own.
"""

from __future__ import annotations

import numpy as np

from envs.minatar_frames import GAME_NAMES, GRID, host_frame
from envs.registry import TaskEntry
from envs.spec import EnvSpec


class MinAtarSingleEnv:
    """One original MinAtar game; every random draw comes from the rng given to `reset`."""

    def __init__(self, game: str, sticky_prob: float, image_size: int):
        if game not in GAME_NAMES:
            raise KeyError(f"unknown MinAtar game {game!r}; known: {', '.join(GAME_NAMES)}")
        if not 0.0 <= sticky_prob < 1.0:
            raise ValueError(f"sticky action probability must be in [0, 1), got {sticky_prob}")
        import minatar  # imported lazily: only host runs need it

        self._env = minatar.Environment(game, sticky_action_prob=sticky_prob)
        self._actions = np.asarray(self._env.minimal_action_set(), np.int64)
        self._size = image_size
        self._started = False

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self._env.state_shape())

    @property
    def num_actions(self) -> int:
        return len(self._actions)

    @property
    def game(self):
        """The wrapped original game object (its internals are read by the parity tests)."""
        return self._env.env

    def reset(self, rng: np.random.Generator):
        # MinAtar keeps one RandomState for sticky actions and the game; seeding it
        # (which `seed` also hands to the game) makes the whole episode a function of rng.
        self._env.seed(int(rng.integers(0, 2**32, dtype=np.uint64)))
        # The original keeps the last action across episodes; like the JAX sticky
        # wrapper, every episode starts from a no-op (index 0 is 'n' in every game).
        self._env.last_action = 0
        self._env.reset()
        self._started = True
        return self._obs(), {}

    def step(self, action):
        if not self._started:
            raise RuntimeError("call reset(rng) before step(action)")
        index = int(action)
        if not 0 <= index < len(self._actions):
            raise ValueError(f"action index {index} outside [0, {len(self._actions)})")
        reward, terminated = self._env.act(int(self._actions[index]))
        return self._obs(), float(reward), bool(terminated), {}

    def close(self) -> None:
        self._started = False

    def _obs(self) -> np.ndarray:
        return host_frame(self._env.state(), self._size)


def make_single_factory(entry: TaskEntry, sticky_prob: float, frame_size: int | None = None):
    size = frame_size or entry.settings.image_size
    channels = entry.spec.obs_shape[-1]

    def make_single(index: int) -> MinAtarSingleEnv:
        del index  # copies differ only through the rng each reset receives
        env = MinAtarSingleEnv(entry.task, sticky_prob, size)
        if env.frame_shape != (GRID, GRID, channels):
            raise ValueError(f"{entry.name}: MinAtar frames are {env.frame_shape}, registry expects {channels} channels")
        if env.num_actions != entry.spec.action.num_actions:
            raise ValueError(
                f"{entry.name}: MinAtar has {env.num_actions} actions, registry expects {entry.spec.action.num_actions}"
            )
        return env

    raw_spec = EnvSpec(
        name=entry.name,
        obs_shape=(size, size, channels),
        obs_dtype=np.uint8,
        action=entry.spec.action,
        episode_length=entry.settings.episode_length,
        action_repeat=1,
    )
    return make_single, raw_spec
