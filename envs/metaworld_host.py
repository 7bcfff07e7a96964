"""Host backend for the Metaworld v3 tasks (MT1 setting: goal-observable, 39-d proprio).

Each reset draws one of the task's 50 MT1 train goals with the reset rng, so a seed
fixes the whole stream. One `MetaworldSingleEnv` step is one Metaworld step (5 MuJoCo
substeps); BatchedHostEnv adds the action repeat of 2 and the 250-agent-step limit
(500 Metaworld steps, Metaworld's own horizon). Metaworld's truncation flag is ignored
and its horizon check disabled, so only our limit ends an episode.
"""

from __future__ import annotations

import functools
from typing import Callable

import mujoco
import numpy as np

from envs.registry import TaskEntry
from envs.spec import ActionSpec, EnvSpec

TASKS = (
    "assembly", "basketball", "button-press", "lever-pull", "peg-insert-side", "pick-place", "soccer", "window-open",
)

# Seed of the MT1 benchmark object: it fixes the list of 50 train goals (MT1 draws them from
# numpy's global RNG, restoring it afterwards). Which goal an episode gets comes from reset's rng.
GOAL_LIST_SEED = 0
# Large enough that Metaworld never reaches its own horizon (it raises past max_path_length).
_UNBOUNDED_PATH_LENGTH = 2**62

# Metaworld's mocap weld reset, as it means it: anchor, relative pose (identity) and torque scale.
_WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])


def _reset_mocap_welds(self) -> None:
    """Metaworld 3.0.0's `reset_mocap_welds`, tolerant of MuJoCo's wider eq_data rows.

    Metaworld assigns an 11-value row, but MuJoCo >= 3.x stores mjNEQDATA (12 here) values
    per equality; the extra trailing entry is compile-time bookkeeping that does not change
    the weld dynamics, so only the 11 fields Metaworld means are written.
    """
    model = self.model
    if model.nmocap > 0 and model.eq_data is not None:
        for i in range(model.eq_data.shape[0]):
            if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                model.eq_data[i, : _WELD_DATA.size] = _WELD_DATA


@functools.lru_cache(maxsize=None)
def _metaworld():
    import metaworld
    from metaworld.sawyer_xyz_env import SawyerMocapBase

    SawyerMocapBase.reset_mocap_welds = _reset_mocap_welds
    return metaworld


@functools.lru_cache(maxsize=None)
def train_goals(task: str) -> tuple[type, tuple]:
    """(env class, MT1 train tasks) for a registry task name like "pick-place"."""
    env_name = f"{task}-v3"
    benchmark = _metaworld().MT1(env_name, seed=GOAL_LIST_SEED)
    return benchmark.train_classes[env_name], tuple(benchmark.train_tasks)


class MetaworldSingleEnv:
    """One Metaworld v3 environment behind the host SingleEnv protocol; info = {"success": 0/1}."""

    def __init__(self, task: str):
        env_class, self._goals = train_goals(task)
        self._env = env_class()
        self._env.max_path_length = _UNBOUNDED_PATH_LENGTH

    @property
    def metaworld_env(self):
        """The wrapped Metaworld environment, for inspection."""
        return self._env

    def reset(self, rng: np.random.Generator):
        # With a task set, Metaworld's reset is deterministic (its random vector is frozen to the goal).
        self._env.set_task(self._goals[int(rng.integers(len(self._goals)))])
        obs, _ = self._env.reset()
        return np.asarray(obs, np.float32), {"success": 0.0}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        obs, reward, terminated, _metaworld_truncated, info = self._env.step(action)
        return np.asarray(obs, np.float32), float(reward), bool(terminated), {"success": float(bool(info["success"]))}

    def close(self) -> None:
        self._env.close()


def make_single_factory(entry: TaskEntry, **options) -> tuple[Callable[[int], MetaworldSingleEnv], EnvSpec]:
    """(make_single, raw_spec) for a `metaworld/<task>` registry entry."""
    if options:
        raise ValueError(f"{entry.name}: the Metaworld host backend takes no options, got {sorted(options)}")
    if entry.task not in TASKS:
        raise KeyError(f"{entry.name}: no Metaworld task {entry.task!r}; known: {', '.join(TASKS)}")
    # The spec is read off a real environment, which then serves as env 0.
    prototype = MetaworldSingleEnv(entry.task)
    unused = [prototype]
    env = prototype.metaworld_env
    if not (np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)):
        raise ValueError(f"{entry.name}: expected Metaworld actions in [-1, 1], got {env.action_space}")
    raw_spec = EnvSpec(
        name=entry.name,
        obs_shape=env.observation_space.shape,
        obs_dtype=np.float32,
        action=ActionSpec(kind="continuous", shape=env.action_space.shape, low=-1.0, high=1.0),
        episode_length=entry.settings.episode_length,
        action_repeat=1,
    )

    def make_single(index: int) -> MetaworldSingleEnv:
        return unused.pop() if unused else MetaworldSingleEnv(entry.task)

    return make_single, raw_spec
