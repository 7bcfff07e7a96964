"""A study's phases: the Active with its lock-step followers, then one phase per offline variant."""

from __future__ import annotations

import dataclasses

from offon_jit.config import RunConfig
from offon_jit.engine.runs import RunId, base_runs, phase_runs
from offon_jit.engine.variants import VARIANTS, Variant


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str  # "active", or the offline variant trained in this phase
    agents: tuple[str, ...]  # variants trained (and evaluated) in this phase: the Active and its followers
    runs: tuple[RunId, ...] = ()  # the phase's run axis

    @property
    def variant(self) -> Variant:
        return VARIANTS[self.agents[0]]

    @property
    def is_active(self) -> bool:
        return self.name == "active"


def plan_phases(config: RunConfig) -> list[Phase]:
    """The Active with its lock-step followers first, then one phase per offline variant."""
    phases = []
    with_active = "active" in config.agents
    if with_active:
        followers = tuple(a for a in config.agents if VARIANTS[a].role == "lockstep")
        phases.append(Phase("active", ("active", *followers), tuple(base_runs(config))))
    for name in config.agents:
        variant = VARIANTS[name]
        if variant.role == "offline" or (variant.role == "lockstep" and not with_active):
            phases.append(Phase(name, (name,), tuple(phase_runs(config, variant))))
    return phases
