"""Every agent the paper trains, as data: where its batches come from and how it starts.

All variants share one run state and one update function (engine/chunks.py); a
variant only chooses
  role         "active" (own interaction), "lockstep" (trains on the Active's batches in
               the same program) or "offline" (a phase of its own after the Active's)
  data         the Active buffer it trains on: full, expert (second half), suboptimal
               (first half) or mixed (a uniform half)            (paper Fig. 4 / S8)
  batches      "uniform" samples of its buffer or "replay" of the Active's logged indices
  init         "own" seed salt, "active" (the Active's initialisation, Fig. S6) or
               "alpha" (Eq. S3 weight mix, Fig. S7)
  world_model  "own", "active_each_step" (Tandem_sameWM) or "active_final" (Passive_sameWM
               (frozen), Fig. S5)
  interaction  None, "fixed" or "adaptive" self-generated data (Alg. 2, Fig. 8)
  arm_signal   what arms an adaptive burst: "ood_ratio" (the paper's, from eval rollouts) or "offline"
               (RunConfig.offline_signal, measured without env steps: engine/offline_signals.py)
  hparam       the RunConfig tuple that forms this variant's hyperparameter axis
"""

from __future__ import annotations

import dataclasses

BASE_AGENTS = ("active", "passive", "tandem")

# The allowed value of every Variant field (validated in Variant.__post_init__).
ROLES = ("active", "lockstep", "offline")
DATA_SPLITS = ("full", "expert", "suboptimal", "mixed")
BATCH_SOURCES = ("uniform", "replay")
INITS = ("own", "active", "alpha")
WORLD_MODELS = ("own", "active_each_step", "active_final")
INTERACTIONS = (None, "fixed", "adaptive")
ARM_SIGNALS = ("ood_ratio", "offline")
# Hyperparameter axes: RunConfig tuple field -> the per-run value's name in metric rows.
# (Kept here as names, not read from RunConfig: offon_jit.config imports this module;
# tests/engine/test_variants.py checks they are RunConfig tuple fields.)
HPARAM_NAMES = {"ood_thresholds": "ood_threshold", "offline_thresholds": "offline_threshold",
                "fixed_intervals": "fixed_interval", "tandem_alphas": "alpha"}
HPARAMS = (None, *HPARAM_NAMES)
# The axis a schedule or an initialisation reads its per-run value from.
REQUIRED_HPARAM = {("interaction", "fixed"): "fixed_intervals", ("init", "alpha"): "tandem_alphas"}
THRESHOLD_AXES = {"ood_ratio": "ood_thresholds", "offline": "offline_thresholds"}  # adaptive: by its arm_signal
ALLOWED = {"role": ROLES, "data": DATA_SPLITS, "batches": BATCH_SOURCES, "init": INITS,
           "world_model": WORLD_MODELS, "interaction": INTERACTIONS, "hparam": HPARAMS, "arm_signal": ARM_SIGNALS}


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    role: str = "offline"
    data: str = "full"
    batches: str = "uniform"
    init: str = "own"
    world_model: str = "own"
    interaction: str | None = None
    arm_signal: str = "ood_ratio"
    hparam: str | None = None  # RunConfig field holding the axis values
    salt: int = 2  # initialisation salt: 0 = the Active's, 1 = Tandem, 2 = Passive

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Variant.name must be a non-empty string, got {self.name!r}")
        for field, allowed in ALLOWED.items():
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(f"Variant {self.name!r}: {field} {value!r} is not one of "
                                 f"{', '.join(map(repr, allowed))}")
        required = {**REQUIRED_HPARAM, ("interaction", "adaptive"): THRESHOLD_AXES[self.arm_signal]}
        for (field, value), axis in required.items():
            if getattr(self, field) == value and self.hparam != axis:
                raise ValueError(f"Variant {self.name!r}: {field} {value!r} reads its per-run value from "
                                 f"hparam {axis!r}, got hparam {self.hparam!r}")
        if isinstance(self.salt, bool) or not isinstance(self.salt, int) or self.salt < 0:
            raise ValueError(f"Variant {self.name!r}: salt must be an integer >= 0, got {self.salt!r}")

    @property
    def needs_lockstep(self) -> bool:
        return self.world_model == "active_each_step"

    @property
    def trains_world_model(self) -> bool:
        return self.world_model == "own"

    @property
    def hparam_name(self) -> str | None:
        """The per-run value's name in metric rows (the config field, singular)."""
        return HPARAM_NAMES.get(self.hparam)


def _variants(*variants: Variant) -> dict[str, Variant]:
    return {v.name: v for v in variants}


VARIANTS = _variants(
    Variant("active", role="active", salt=0),
    # A Tandem runs in lock-step when the Active is in the same study, else replays its log.
    Variant("tandem", role="lockstep", batches="replay", salt=1),
    Variant("passive", salt=2),
    Variant("passive_same_init", init="active", salt=0),
    Variant("passive_expert", data="expert"),
    Variant("passive_suboptimal", data="suboptimal"),
    Variant("passive_mixed", data="mixed"),
    Variant("tandem_same_wm", role="lockstep", batches="replay", world_model="active_each_step", salt=1),
    Variant("passive_frozen_wm", world_model="active_final"),
    Variant("tandem_alpha", batches="replay", init="alpha", hparam="tandem_alphas", salt=1),
    Variant("passive_fixed", interaction="fixed", hparam="fixed_intervals"),
    Variant("passive_auto", interaction="adaptive", hparam="ood_thresholds"),
    # Beyond the paper (its Q1): adaptive bursts armed by an offline signal instead of eval rollouts.
    Variant("passive_offline_auto", interaction="adaptive", arm_signal="offline", hparam="offline_thresholds"),
)
