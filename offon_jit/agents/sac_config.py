"""SAC hyperparameters: presets and one frozen, validated config (hashable: a static jit argument).

Defaults follow Haarnoja et al. 2018 ("SAC: algorithms and applications", the automatic
temperature version): two 256-unit hidden layers, Adam at 3e-4 for actor, critics and
temperature, discount 0.99, Polyak tau 0.005, target entropy -action_dim, alpha starting at 1.
"""

from __future__ import annotations

import dataclasses
import math

# Field annotation (a string under `from __future__ import annotations`) -> accepted types.
_FIELD_TYPES = {"int": int, "float": (int, float), "str": str}
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string"}

PRESETS: dict[str, dict] = {
    "tiny": {"hidden": (256, 256)},  # the standard SAC MLP; a CPU update at batch 256 takes ~15 ms
}


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Everything that shapes a SAC agent and its update. Build with `from_preset`."""

    preset: str = "tiny"
    hidden: tuple[int, ...] = (256, 256)  # hidden layer widths of the actor and of each critic
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4  # Adam on log_alpha
    adam_eps: float = 1e-8
    discount: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critics
    n_step: int = 1  # n of the critic's n-step target (seq_len = n_step + 1 gives one target per window)
    init_alpha: float = 1.0  # initial temperature
    # Target entropy = this * action_dim; -1 is Haarnoja et al.'s -dim(A). A scale, not an absolute
    # value, so one config serves tasks of different action sizes.
    target_entropy_per_dim: float = -1.0
    log_std_min: float = -5.0  # the actor's log std is clipped to [min, max]
    log_std_max: float = 2.0

    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, list):  # JSON / CLI values; a tuple keeps the config hashable
            object.__setattr__(self, "hidden", hidden := tuple(hidden))
        if not (isinstance(hidden, tuple) and hidden and all(
                isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in hidden)):  # fmt: skip
            raise ValueError(f"SACConfig.hidden must be a non-empty tuple of widths >= 1, got {hidden!r}")
        self._check_types()
        if self.preset not in PRESETS:
            raise ValueError(f"unknown SAC preset {self.preset!r}; valid presets: {', '.join(PRESETS)}")
        if self.n_step < 1:
            raise ValueError(f"SACConfig.n_step must be >= 1, got {self.n_step}")
        for name in ("actor_lr", "critic_lr", "alpha_lr", "adam_eps", "init_alpha"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"SACConfig.{name} must be a finite number > 0, got {value}")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"SACConfig.discount must lie in (0, 1], got {self.discount}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"SACConfig.tau must lie in (0, 1] (1 copies the critics), got {self.tau}")
        if not math.isfinite(self.target_entropy_per_dim):
            raise ValueError(f"SACConfig.target_entropy_per_dim must be finite, got {self.target_entropy_per_dim}")
        if not (math.isfinite(self.log_std_min) and math.isfinite(self.log_std_max)
                and self.log_std_min < self.log_std_max):  # fmt: skip
            raise ValueError(f"SACConfig needs finite log_std_min < log_std_max, "
                             f"got {self.log_std_min}, {self.log_std_max}")

    def _check_types(self) -> None:
        """Every scalar field has its annotated type (an int is a valid float; a bool is neither)."""
        for field in dataclasses.fields(self):
            if field.name == "hidden":  # checked in __post_init__
                continue
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, _FIELD_TYPES[field.type]):
                raise ValueError(f"SACConfig.{field.name} must be {_TYPE_NAMES[field.type]}, got {value!r}")

    @classmethod
    def from_preset(cls, name: str = "tiny", **overrides) -> "SACConfig":
        """The `name` preset with the defaults above; `overrides` replace any field."""
        if name not in PRESETS:
            raise ValueError(f"unknown SAC preset {name!r}; valid presets: {', '.join(PRESETS)}")
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown SACConfig fields {unknown}; valid fields: {', '.join(cls.field_names())}")
        return cls(**{"preset": name, **PRESETS[name], **overrides})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> "SACConfig":
        return dataclasses.replace(self, **changes)

    def target_entropy(self, action_dim: int) -> float:
        return float(self.target_entropy_per_dim * action_dim)
