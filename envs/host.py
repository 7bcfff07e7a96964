"""Batched host (numpy) environments: B copies of a Python simulator behind one object.

A backend supplies only a `SingleEnv`: one raw environment with no wrappers
(no action repeat, no time limit, no auto-reset). `BatchedHostEnv` adds those
with the same semantics as the JAX wrappers (see `envs.core` for the episode
boundary convention), so agents see identical streams from either backend.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import numpy as np

from envs.spec import EnvSpec


class SingleEnv(Protocol):
    def reset(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
        """Start an episode; returns (obs, info). All randomness must come from `rng`."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, float]]:
        """One frame; returns (obs, reward, terminated, info) with the same info keys as reset."""

    def close(self) -> None: ...


@dataclasses.dataclass
class HostStep:
    """One batched transition; every array has the batch size as leading axis."""

    obs: np.ndarray
    reward: np.ndarray  # float32 (B,)
    terminated: np.ndarray  # bool (B,)
    truncated: np.ndarray  # bool (B,)
    is_first: np.ndarray  # bool (B,)
    info: dict[str, np.ndarray]

    @property
    def done(self) -> np.ndarray:
        return np.logical_or(self.terminated, self.truncated)


class BatchedHostEnv:
    """`num_envs` SingleEnvs stepped together, with action repeat, time limit and auto-reset.

    Per-step scalar `info` values are the maximum over the repeated frames (e.g. Metaworld
    success); vector values (the vision maze's position) are the last frame's.
    `raw_spec` describes one raw frame (action_repeat of the raw env, usually 1);
    the batched env's `spec` has `action_repeat * raw_spec.action_repeat` and
    `episode_length` in agent steps.
    """

    def __init__(
        self,
        make_single: Callable[[int], SingleEnv],
        raw_spec: EnvSpec,
        num_envs: int,
        action_repeat: int,
        episode_length: int,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self.spec = raw_spec.replace(
            action_repeat=raw_spec.action_repeat * action_repeat, episode_length=episode_length
        )
        self._repeat = action_repeat
        self._envs = [make_single(i) for i in range(num_envs)]
        self._rngs: list[np.random.Generator] = []
        self._last: HostStep | None = None
        self._counts = np.zeros(num_envs, np.int64)

    # -- protocol -------------------------------------------------------------
    def reset(self, seed) -> HostStep:
        """Start every env afresh. `seed` is an int (all envs' streams spawn from it) or one seed per
        group of consecutive envs (a sequence whose length divides num_envs; each an int or a tuple of
        ints), so that a group's episodes depend on its own seed only, not on its position."""
        if isinstance(seed, (int, np.integer)):
            children = np.random.SeedSequence(int(seed)).spawn(self.num_envs)
        else:
            groups = [np.random.SeedSequence([int(x) for x in np.atleast_1d(s)]) for s in seed]
            if not groups or self.num_envs % len(groups):
                raise ValueError(f"{len(groups)} seed groups do not divide {self.num_envs} envs")
            children = [child for group in groups for child in group.spawn(self.num_envs // len(groups))]
        self._rngs = [np.random.default_rng(child) for child in children]
        rows = [self._reset_one(i) for i in range(self.num_envs)]
        self._last = self._stack(rows)
        return self._last

    def step(self, action: np.ndarray) -> HostStep:
        if self._last is None:
            raise RuntimeError("call reset(seed) before step(action)")
        action = self._check_action(action)
        rows = []
        for i, env in enumerate(self._envs):
            if self._last.done[i]:
                rows.append(self._reset_one(i))
            else:
                rows.append(self._step_one(i, env, action[i]))
        self._last = self._stack(rows)
        return self._last

    def close(self) -> None:
        for env in self._envs:
            env.close()

    # -- internals --------------------------------------------------------------
    def _reset_one(self, i: int) -> tuple:
        obs, info = self._envs[i].reset(self._rngs[i])
        self._counts[i] = 0
        return obs, 0.0, False, False, True, info

    def _step_one(self, i: int, env: SingleEnv, action) -> tuple:
        total, terminated, info = 0.0, False, {}
        for _ in range(self._repeat):
            obs, reward, terminated, frame_info = env.step(action)
            total += float(reward)
            # Scalar infos are the max over the repeated frames (a success on any frame counts);
            # vector infos (a position) are the last frame's.
            info = {k: max(v, info.get(k, v)) if np.ndim(v) == 0 else v for k, v in frame_info.items()}
            if terminated:
                break
        self._counts[i] += 1
        truncated = (not terminated) and self._counts[i] >= self.spec.episode_length
        return obs, total, bool(terminated), bool(truncated), False, info

    def _stack(self, rows) -> HostStep:
        obs, reward, terminated, truncated, is_first, infos = zip(*rows)
        keys = infos[0].keys()
        return HostStep(
            obs=np.stack(obs).astype(self.spec.obs_dtype, copy=False),
            reward=np.asarray(reward, np.float32),
            terminated=np.asarray(terminated, bool),
            truncated=np.asarray(truncated, bool),
            is_first=np.asarray(is_first, bool),
            info={k: np.asarray([info[k] for info in infos], np.float32) for k in keys},
        )

    def _check_action(self, action: Any) -> np.ndarray:
        act = self.spec.action
        action = np.asarray(action)
        expected = (self.num_envs, *act.action_shape)
        if action.shape != expected:
            raise ValueError(f"{self.spec.name}: action shape {action.shape} does not match expected {expected}")
        if act.is_discrete:
            if not np.issubdtype(action.dtype, np.integer):
                raise ValueError(f"{self.spec.name}: discrete actions must be integers, got {action.dtype}")
            if action.min() < 0 or action.max() >= act.num_actions:
                raise ValueError(f"{self.spec.name}: action index outside [0, {act.num_actions})")
            return action
        return np.clip(action.astype(np.float64), act.low, act.high)
