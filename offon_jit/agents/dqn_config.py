"""Configuration of the Double DQN family (agents/dqn.py): network size, TD target, optimiser, epsilon.

The "tiny" preset (the CLI's CPU default) is the MinAtar DQN of Young & Tian (2019): MinAtar's
32 x 32 frames resized back to their 10 x 10 grid, one 3 x 3 convolution with 16 channels, one
hidden layer of 128 units. The update follows the Double DQN of Ostrovski et al.'s tandem study
(n-step returns, Huber loss, hard target copies) with Dopamine-style MinAtar optimiser settings:
Adam with lr 1e-4 and eps 3.125e-4 (= 0.01 / batch 32), no gradient clipping.

Counting: the policy sees only `AgentState.step` (completed updates), so every schedule here is in
UPDATES. After prefill one update happens every `train_every` env steps (RunConfig), so
env steps = prefill + updates * train_every; with train_every 4 the defaults are a target copy
every 1000 env steps (Dopamine's MinAtar setting) and an epsilon anneal over 100k env steps
(Young & Tian's 100k-frame anneal) down to Dopamine's 0.01.
"""

from __future__ import annotations

import dataclasses
import math

_FIELD_TYPES = {"int": int, "float": (int, float), "str": str}
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string"}


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Everything that shapes a Double DQN agent and its update. Build with `from_preset`."""

    preset: str = "tiny"
    # --- Q network: networks.Torso then MLP((hidden, num_actions)) ---
    conv_channels: int = 16  # image observations only
    image_size: int = 10  # resize (nearest) images to this square before the convolution; 0 keeps them
    hidden: int = 128
    # --- TD target ---
    discount: float = 0.99
    n_step: int = 3
    huber_delta: float = 1.0
    target_update_every: int = 250  # updates between hard copies online -> target
    # --- optimiser: Adam, optional global-norm clipping ---
    lr: float = 1e-4
    adam_eps: float = 3.125e-4
    grad_clip: float = 0.0  # 0: no clipping
    # --- epsilon-greedy acting, linear in updates ---
    eps_start: float = 1.0
    eps_end: float = 0.01
    eps_decay_updates: int = 25_000  # 0: eps_end from the first update on
    eval_epsilon: float = 0.0  # "eval" mode; 0 is greedy

    @classmethod
    def from_preset(cls, name: str = "tiny", **overrides) -> "DQNConfig":
        """The `name` preset; `overrides` replace any field."""
        if name not in PRESETS:
            raise ValueError(f"unknown DQN preset {name!r}; valid presets: {', '.join(PRESETS)}")
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown DQNConfig fields {unknown}; valid fields: {', '.join(cls.field_names())}")
        return cls(**{**PRESETS[name], **overrides, "preset": name})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> "DQNConfig":
        return dataclasses.replace(self, **changes)

    def __post_init__(self):
        for field in dataclasses.fields(self):  # types first, so the checks below compare numbers
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, _FIELD_TYPES[field.type]):
                raise ValueError(f"DQNConfig.{field.name} must be {_TYPE_NAMES[field.type]}, got {value!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"unknown DQN preset {self.preset!r}; valid presets: {', '.join(PRESETS)}")
        for name in ("conv_channels", "hidden", "n_step", "target_update_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"DQNConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("image_size", "eps_decay_updates"):
            if getattr(self, name) < 0:
                raise ValueError(f"DQNConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "adam_eps", "huber_delta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"DQNConfig.{name} must be a positive finite number, got {value!r}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"DQNConfig.grad_clip must be >= 0 (0 = off), got {self.grad_clip!r}")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"DQNConfig.discount must be in (0, 1], got {self.discount}")
        for name in ("eps_start", "eps_end", "eval_epsilon"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"DQNConfig.{name} must be a probability in [0, 1], got {getattr(self, name)}")


# name -> every field's value (the dataclass defaults are the "tiny" preset).
PRESETS: dict[str, dict] = {
    "tiny": {f.name: f.default for f in dataclasses.fields(DQNConfig) if f.name != "preset"},
}
