"""The run axis of each phase: which seed, exploration weight and hyperparameter every run has.

A study's *base runs* are expl_weights x seeds (value-major): the Active agents, one
per (w_expl, seed), and every agent trained on an Active's data inherits that axis. A
variant with a hyperparameter axis (OOD thresholds, fixed intervals, alphas) runs
values x base runs, all in one jitted program: run r of such a phase trains on the data
of base run r % num_base with value values[r // num_base].
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from offon_jit.config import RunConfig
from offon_jit.engine.variants import Variant


@dataclasses.dataclass(frozen=True)
class RunId:
    base: int  # index into the base runs (the Active whose data this run uses)
    seed: int
    expl_weight: float
    hparam_value: float | int | None = None

    def tag(self, config: RunConfig) -> str:
        """File-name tag of the base run: seedN, or explW_seedN when exploration weights are swept."""
        return base_tag(config, self.seed, self.expl_weight)


def base_tag(config: RunConfig, seed: int, expl_weight: float) -> str:
    return f"seed{seed}" if len(config.expl_weights) == 1 else f"expl{expl_weight:g}_seed{seed}"


def base_runs(config: RunConfig) -> list[RunId]:
    return [RunId(w_index * config.num_seeds + s, config.seed + s, w)
            for w_index, w in enumerate(config.expl_weights) for s in range(config.num_seeds)]


def phase_runs(config: RunConfig, variant: Variant) -> list[RunId]:
    values = getattr(config, variant.hparam) if variant.hparam else (None,)
    return [dataclasses.replace(run, hparam_value=value) for value in values for run in base_runs(config)]


def run_label(config: RunConfig, variant: Variant, run: RunId) -> str:
    """One curve per label: the variant plus every swept value that distinguishes it."""
    parts = []
    if variant.hparam and len(getattr(config, variant.hparam)) > 1:
        parts.append(f"{variant.hparam_name}={run.hparam_value:g}")
    if len(config.expl_weights) > 1:
        parts.append(f"expl_weight={run.expl_weight:g}")
    return variant.name + (f" ({', '.join(parts)})" if parts else "")


def run_keys(runs: list[RunId]) -> np.ndarray:
    """(runs, 2) host keys: a run's randomness depends only on its seed (so swept runs share it)."""
    with jax.ensure_compile_time_eval():  # concrete even while a caller is being traced (eval_shape)
        return np.asarray(jax.vmap(jax.random.PRNGKey)(jnp.asarray([r.seed for r in runs])))


def hparam_array(runs: list[RunId], dtype=np.float32) -> np.ndarray:
    return np.asarray([0 if r.hparam_value is None else r.hparam_value for r in runs], dtype)


def expl_array(runs: list[RunId]) -> np.ndarray:
    return np.asarray([r.expl_weight for r in runs], np.float32)


def run_file_name(config: RunConfig, variant: Variant, run: RunId) -> str:
    """A run's file stem: variant, swept value (if any) and base-run tag, e.g. passive_fixed_fixed_interval500_seed0."""
    value = f"_{variant.hparam_name}{run.hparam_value:g}" if variant.hparam else ""
    return f"{variant.name}{value}_{run.tag(config)}"
