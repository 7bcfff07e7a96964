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
  hparam       the RunConfig tuple that forms this variant's hyperparameter axis
"""

from __future__ import annotations

import dataclasses

BASE_AGENTS = ("active", "passive", "tandem")


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    role: str = "offline"
    data: str = "full"
    batches: str = "uniform"
    init: str = "own"
    world_model: str = "own"
    interaction: str | None = None
    hparam: str | None = None  # RunConfig field holding the axis values
    salt: int = 2  # initialisation salt: 0 = the Active's, 1 = Tandem, 2 = Passive

    @property
    def needs_lockstep(self) -> bool:
        return self.world_model == "active_each_step"

    @property
    def trains_world_model(self) -> bool:
        return self.world_model == "own"

    @property
    def hparam_name(self) -> str | None:
        """The per-run value's name in metric rows (the config field, singular)."""
        return {"ood_thresholds": "ood_threshold", "fixed_intervals": "fixed_interval",
                "tandem_alphas": "alpha"}.get(self.hparam)


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
)
