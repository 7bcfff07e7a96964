"""DreamerV3 hyperparameters: size presets and one frozen, validated config.

Defaults follow DreamerV3 v1 (Hafner et al. 2023, first public release, `configs.yaml`).
The config is a frozen (hashable) dataclass, so jitted functions close over it as a
static value; only arrays live in the agent state.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class SizePreset:
    """Network sizes of one DreamerV3 model size."""

    deter: int  # GRU (deterministic state) size
    cnn_depth: int  # channels of the first conv layer; doubled at each stride-2 stage
    units: int  # width of every dense hidden layer (MLPs and the RSSM's hidden layers)
    layers: int  # hidden layers of every MLP (heads, actor, critic; vector encoder/decoder unless set below)
    stoch: int = 32  # categorical latent variables
    classes: int = 32  # classes per latent variable
    vector_mlp_layers: int = 0  # hidden layers of the vector encoder and decoder; 0 = `layers`
    vector_mlp_units: int = 0  # their width (the encoder's output is the embedding); 0 = `units`


# v1's size presets never reached its vector encoder/decoder: the patterns `.*\.layers` and
# `.*\.units` miss `encoder.mlp_layers` / `mlp_units`, so those stayed at the 5 x 1024 of
# `defaults` at every size (proprio tasks only; images use the CNN).
V1_VECTOR_MLP = {"vector_mlp_layers": 5, "vector_mlp_units": 1024}

# DreamerV3 v1 sizes (configs.yaml: small/medium/large as 's'/'m'/'l'; 'xs' as in its
# size ablation). `tiny` is for fast CPU tests only; `tiny` and `xs` keep their vector
# encoder/decoder at the preset's own size so that proprio agents stay small.
PRESETS: dict[str, SizePreset] = {
    "tiny": SizePreset(deter=64, cnn_depth=8, units=64, layers=1, stoch=8, classes=8),
    "xs": SizePreset(deter=256, cnn_depth=24, units=256, layers=1),
    "s": SizePreset(deter=512, cnn_depth=32, units=512, layers=2, **V1_VECTOR_MLP),
    "m": SizePreset(deter=1024, cnn_depth=48, units=640, layers=3, **V1_VECTOR_MLP),
    "l": SizePreset(deter=2048, cnn_depth=64, units=768, layers=4, **V1_VECTOR_MLP),
}


def default_precision(backend: str) -> str:
    """The precision a run uses unless told otherwise: bf16 where matmuls are fast in it (GPU,
    TPU), f32 on CPU (where bf16 matmuls are emulated and slower)."""
    return "f32" if backend == "cpu" else "bf16"


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> SizePreset:
    if name not in PRESETS:
        raise ValueError(f"unknown size preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]


# DreamerConfig's field annotations (strings under `from __future__ import annotations`).
_FIELD_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool}
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "a bool (true or false)"}

EXPL_RULES = ("fixed", "decay")  # how the exploration weight is set (see expl_schedule.py)
PRECISIONS = ("f32", "bf16")  # compute dtype of matmuls and activations; parameters always float32
REMAT_POLICIES = ("none", "dots", "full")  # what imagination keeps for the backward pass (remat.py)


@dataclasses.dataclass(frozen=True)
class DreamerConfig:
    """Everything that shapes a DreamerV3 agent and its update. Build with `from_preset`."""

    preset: str = "s"
    # --- sizes (filled from the preset by `from_preset`) ---
    deter: int = 512
    cnn_depth: int = 32
    units: int = 512
    layers: int = 2
    stoch: int = 32
    classes: int = 32
    vector_mlp_layers: int = 5  # vector encoder/decoder hidden layers; 0 = `layers`
    vector_mlp_units: int = 1024  # their width = the embedding size of vector tasks; 0 = `units`
    cnn_min_resolution: int = 4  # conv stages stop at this spatial size (4x4)
    layernorm_eps: float = 1e-3
    # --- numerics and memory (change speed and memory, not the maths) ---
    # "bf16": matmuls and activations in bfloat16; parameters, optimiser state, losses, KL and
    # two-hot log-probabilities, the recurrent state and the return normaliser stay float32.
    precision: str = "f32"
    # Rematerialisation of imagination and its heads in the backward pass: "none" keeps every
    # activation, "dots" keeps only matmul outputs, "full" keeps only each step's inputs.
    remat: str = "dots"
    # --- world model ---
    unimix: float = 0.01  # uniform mix of latent and actor categoricals
    action_clip: float = 1.0  # RSSM rescales actions with |a| > clip (v1 'action_clip')
    twohot_bins: int = 255
    twohot_low: float = -20.0  # bin range, in symlog space
    twohot_high: float = 20.0
    beta_pred: float = 1.0
    beta_dyn: float = 0.5
    beta_rep: float = 0.1
    free_nats: float = 1.0  # KL terms are clipped below at this value (free bits)
    # --- actor-critic in imagination ---
    imag_horizon: int = 15
    discount_horizon: float = 333.0  # gamma = 1 - 1 / discount_horizon
    return_lambda: float = 0.95
    retnorm_decay: float = 0.99
    retnorm_low_percentile: float = 5.0
    retnorm_high_percentile: float = 95.0
    retnorm_max: float = 1.0  # returns are divided by max(1 / retnorm_max, range)
    actor_entropy: float = 3e-4
    actor_min_std: float = 0.1
    actor_max_std: float = 1.0
    slow_critic_fraction: float = 0.02
    slow_critic_reg: float = 1.0
    # --- optimisers (Adam with global-norm clipping, no weight decay) ---
    wm_lr: float = 1e-4
    wm_eps: float = 1e-8
    wm_clip: float = 1000.0
    actor_lr: float = 3e-5
    actor_eps: float = 1e-5
    actor_clip: float = 100.0
    critic_lr: float = 3e-5
    critic_eps: float = 1e-5
    critic_clip: float = 100.0
    # --- Plan2Explore ensemble (Sekar et al. 2020; v1 expl.py 'Disag'), paper Sec. 4.1 ---
    disag_models: int = 0  # ensemble heads; 0 = no ensemble (the paper uses 8)
    disag_layers: int = 0  # hidden layers per head; 0 = the preset's `layers`
    disag_units: int = 0  # hidden width per head; 0 = the preset's `units`
    expl_lr: float = 1e-4  # the ensemble's own Adam (v1 'expl_opt')
    expl_eps: float = 1e-5
    expl_clip: float = 100.0
    # False: the ensemble is a signal only (trained, measurable), with no disagreement reward term,
    # critic or normaliser, and the actor-critic update of the plain agent.
    disag_reward: bool = True
    # w_expl per update: "fixed" = AgentState.expl_weight; "decay" = expl_weight scaled down as the
    # ensemble's disagreement on the training batches falls below its peak (expl_schedule.py).
    expl_rule: str = "fixed"
    expl_decay_rate: float = 0.01  # "decay": EMA rate of that disagreement level
    # --- policy-input autoencoder (paper App. A.3, Eq. S2): an OOD detector, not used for acting ---
    policy_ae_bottleneck: int = 32  # code size; 0 disables the autoencoder
    policy_ae_lr: float = 1e-4  # its own Adam; eps and clip are expl_eps / expl_clip
    # Replay settings (batch size, sequence length, train ratio) are not model fields: the
    # engine reads them from RunConfig (batch_size, seq_len, train_every) alone.

    @classmethod
    def from_preset(cls, name: str = "s", **overrides) -> "DreamerConfig":
        """The `name` size preset with v1 defaults; `overrides` replace any field."""
        sizes = dataclasses.asdict(get_preset(name))
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown DreamerConfig fields {unknown}; valid fields: {', '.join(cls.field_names())}")
        return cls(**{"preset": name, **sizes, **overrides})

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> "DreamerConfig":
        return dataclasses.replace(self, **changes)

    def _check_types(self) -> None:
        """Every field has its annotated type (an int is a valid float, a bool is no number and no
        number is a bool), so later checks compare numbers."""
        for field in dataclasses.fields(self):
            value, expected = getattr(self, field.name), _FIELD_TYPES[field.type]
            wrong_bool = isinstance(value, bool) != (field.type == "bool")
            if wrong_bool or not isinstance(value, expected):
                raise ValueError(f"DreamerConfig.{field.name} must be {_TYPE_NAMES[field.type]}, got {value!r}")

    @property
    def discount(self) -> float:
        return 1.0 - 1.0 / self.discount_horizon

    @property
    def compute_dtype(self):
        """The networks' compute dtype (see `precision`)."""
        import jax.numpy as jnp  # lazy: the config itself needs no JAX

        return jnp.bfloat16 if self.precision == "bf16" else jnp.float32

    @property
    def stoch_size(self) -> int:
        return self.stoch * self.classes

    @property
    def feat_size(self) -> int:
        """Width of the latent features (h, flat z) fed to heads, actor and critic."""
        return self.deter + self.stoch_size

    @property
    def vector_layers(self) -> int:
        """Hidden layers of the vector encoder and decoder."""
        return self.vector_mlp_layers or self.layers

    @property
    def vector_units(self) -> int:
        """Width of the vector encoder and decoder; the vector encoder's embedding size."""
        return self.vector_mlp_units or self.units

    @property
    def disag_reward_on(self) -> bool:
        """The ensemble's disagreement is a reward term of its own (v1 `Explore`), not only a signal."""
        return self.disag_models > 0 and self.disag_reward

    @property
    def disag_head_layers(self) -> int:
        return self.disag_layers or self.layers

    @property
    def disag_head_units(self) -> int:
        return self.disag_units or self.units

    def __post_init__(self):
        self._check_types()
        if self.preset not in PRESETS and self.preset != "custom":
            raise ValueError(f"unknown size preset {self.preset!r}; valid presets: {', '.join(PRESETS)} (or 'custom')")
        positive_ints = (
            "deter", "cnn_depth", "units", "layers", "stoch", "classes", "cnn_min_resolution",
            "imag_horizon",
        )  # fmt: skip
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DreamerConfig.{name} must be a positive integer, got {value!r}")
        if self.classes < 2:
            raise ValueError(f"DreamerConfig.classes must be >= 2, got {self.classes}")
        if self.twohot_bins < 2 or not isinstance(self.twohot_bins, int):
            raise ValueError(f"DreamerConfig.twohot_bins must be an integer >= 2, got {self.twohot_bins!r}")
        if not self.twohot_low < self.twohot_high:
            raise ValueError(f"DreamerConfig needs twohot_low < twohot_high, got [{self.twohot_low}, {self.twohot_high}]")
        if self.cnn_min_resolution & (self.cnn_min_resolution - 1):
            raise ValueError(f"DreamerConfig.cnn_min_resolution must be a power of two, got {self.cnn_min_resolution}")
        positive_floats = (
            "layernorm_eps", "action_clip", "discount_horizon", "retnorm_max", "actor_min_std",
            "wm_lr", "wm_eps", "wm_clip", "actor_lr", "actor_eps", "actor_clip",
            "critic_lr", "critic_eps", "critic_clip", "expl_lr", "expl_eps", "expl_clip",
            "policy_ae_lr",
        )  # fmt: skip
        for name in positive_floats:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"DreamerConfig.{name} must be a positive finite number, got {value!r}")
        zero_means_default = (
            "disag_models", "disag_layers", "disag_units", "policy_ae_bottleneck",
            "vector_mlp_layers", "vector_mlp_units",
        )  # fmt: skip
        for name in zero_means_default:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"DreamerConfig.{name} must be an integer >= 0 (0 = off / preset default), got {value!r}")
        if self.disag_models == 1:
            raise ValueError("DreamerConfig.disag_models must be 0 (no ensemble) or >= 2: one head has no disagreement")
        non_negative = ("beta_pred", "beta_dyn", "beta_rep", "free_nats", "actor_entropy", "slow_critic_reg")
        for name in non_negative:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"DreamerConfig.{name} must be a finite number >= 0, got {value!r}")
        for name in ("unimix", "retnorm_decay"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"DreamerConfig.{name} must be in [0, 1), got {value}")
        for name in ("return_lambda", "slow_critic_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DreamerConfig.{name} must be in [0, 1], got {value}")
        if self.discount_horizon <= 1.0:
            raise ValueError(f"DreamerConfig.discount_horizon must be > 1 (gamma = 1 - 1/horizon), got {self.discount_horizon}")
        if not 0.0 <= self.retnorm_low_percentile < self.retnorm_high_percentile <= 100.0:
            raise ValueError(
                "DreamerConfig needs 0 <= retnorm_low_percentile < retnorm_high_percentile <= 100, got "
                f"{self.retnorm_low_percentile} and {self.retnorm_high_percentile}"
            )
        if not self.actor_min_std < self.actor_max_std:
            raise ValueError(f"DreamerConfig needs actor_min_std < actor_max_std, got {self.actor_min_std} and {self.actor_max_std}")
        for name, valid in (("precision", PRECISIONS), ("remat", REMAT_POLICIES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"DreamerConfig.{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")
        if self.expl_rule not in EXPL_RULES:
            raise ValueError(f"DreamerConfig.expl_rule must be one of {', '.join(EXPL_RULES)}, got {self.expl_rule!r}")
        if self.expl_rule == "decay" and not (self.disag_models >= 2 and self.disag_reward):
            raise ValueError("DreamerConfig.expl_rule='decay' needs the disagreement reward (disag_models >= 2, "
                             f"disag_reward=True), got disag_models={self.disag_models}, disag_reward={self.disag_reward}")
        if not (math.isfinite(self.expl_decay_rate) and 0.0 < self.expl_decay_rate <= 1.0):
            raise ValueError(f"DreamerConfig.expl_decay_rate must be in (0, 1], got {self.expl_decay_rate}")
