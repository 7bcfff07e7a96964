"""Static description of an environment: observation, action space, episode timing.

Counting convention used everywhere in offon_jit:
  * an *agent step* is one call of `step` on the wrapped env (one policy decision);
  * a *frame* is one underlying simulator/control step; with action repeat k,
    one agent step = k frames.
`episode_length` is measured in agent steps. "Env steps" in training configs and
plots are agent steps (the DreamerV3 v1 convention); `frames_per_episode` gives
the simulator count for comparison with papers that count frames.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """Either `kind="discrete"` with `num_actions`, or `kind="continuous"` with bounds."""

    kind: Literal["discrete", "continuous"]
    num_actions: int = 0
    shape: tuple[int, ...] = ()
    low: float = -1.0
    high: float = 1.0

    def __post_init__(self):
        if self.kind == "discrete":
            if self.num_actions < 2:
                raise ValueError(f"discrete action space needs num_actions >= 2, got {self.num_actions}")
        elif self.kind == "continuous":
            if len(self.shape) != 1 or self.shape[0] < 1:
                raise ValueError(f"continuous action space needs a 1-D shape, got {self.shape}")
            if not self.low < self.high:
                raise ValueError(f"continuous action bounds need low < high, got [{self.low}, {self.high}]")
        else:
            raise ValueError(f"unknown action kind {self.kind!r}; expected 'discrete' or 'continuous'")

    @property
    def is_discrete(self) -> bool:
        return self.kind == "discrete"

    @property
    def dim(self) -> int:
        """Size of the action vector the agent emits (one-hot width for discrete spaces)."""
        return self.num_actions if self.is_discrete else self.shape[0]

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of one action passed to `step` (a scalar index for discrete spaces)."""
        return () if self.is_discrete else self.shape

    @property
    def action_dtype(self) -> np.dtype:
        return np.dtype(np.int32) if self.is_discrete else np.dtype(np.float32)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    name: str
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action: ActionSpec
    episode_length: int  # in agent steps, i.e. after action repeat
    action_repeat: int = 1
    # Per-step float32 info vectors (name, size) the env reports in `info` and the replay buffer and
    # test traces keep beside the observation, unseen by the agent: the vision maze's (x, y)
    # position, which its pixels do not give the visitation heatmaps.
    recorded_info: tuple[tuple[str, int], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "obs_dtype", np.dtype(self.obs_dtype))
        object.__setattr__(self, "recorded_info", tuple((str(n), int(d)) for n, d in self.recorded_info))
        object.__setattr__(self, "obs_shape", tuple(int(d) for d in self.obs_shape))
        if self.episode_length < 1 or self.action_repeat < 1:
            raise ValueError(
                f"{self.name}: episode_length and action_repeat must be >= 1, "
                f"got {self.episode_length} and {self.action_repeat}"
            )

    @property
    def is_image(self) -> bool:
        return len(self.obs_shape) == 3

    @property
    def frames_per_episode(self) -> int:
        return self.episode_length * self.action_repeat

    def replace(self, **changes) -> "EnvSpec":
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict:
        """JSON-friendly summary (used by `python -m envs list --json`)."""
        act = self.action
        action = (
            {"kind": "discrete", "num_actions": act.num_actions}
            if act.is_discrete
            else {"kind": "continuous", "shape": list(act.shape), "low": act.low, "high": act.high}
        )
        return {
            "obs_shape": list(self.obs_shape),
            "obs_dtype": self.obs_dtype.name,
            "action": action,
            "episode_length": self.episode_length,
            "action_repeat": self.action_repeat,
        }
