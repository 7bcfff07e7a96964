"""Small synthetic metric rows and episode traces shared by the analysis tests."""

from __future__ import annotations

import numpy as np


def two_task_rows() -> dict[str, list[dict]]:
    """Two tasks, Active and Passive, seeds 0 and 1, eval at env_steps 0 and 10 (values chosen by hand).

    Task a: Active means 1 and 20 (best), Passive means 0 and 6 -> range (0, 20).
    Task b: Active means 100 and 300 (best), Passive means 0 and 150 -> range (0, 300).
    """
    scores = {
        "a": {("active", 0): (0, 10), ("active", 1): (2, 30), ("passive", 0): (0, 4), ("passive", 1): (0, 8)},
        "b": {("active", 0): (100, 200), ("active", 1): (100, 400), ("passive", 0): (0, 150), ("passive", 1): (0, 150)},
    }
    ood = {"a": 0.2, "b": 0.6}
    return {
        task: [
            {"agent": agent, "seed": seed, "env_steps": steps, "score": value, "ood_ratio": ood[task] * (1 + seed)}
            for (agent, seed), values in by_run.items()
            for steps, value in zip((0, 10), values)
        ]
        for task, by_run in scores.items()
    }


def random_rows(seed: int = 0, num_seeds: int = 3, steps=(0, 5000, 10000, 15000)) -> list[dict]:
    """Rows of three agents with random metrics; Active has no self_generated_pct, passive_auto has it."""
    rng = np.random.default_rng(seed)
    rows = []
    for agent, label in (("active", None), ("passive", None), ("passive_auto", "passive_auto (ood_threshold=1.35)")):
        for s in range(num_seeds):
            for k, env_steps in enumerate(steps):
                row = {"agent": agent, "seed": s, "env_steps": env_steps, "score": float(rng.uniform(0, 100)) + 10 * k,
                       "eval_wm_loss": float(rng.uniform(1, 3)), "value_error": float(rng.normal())}
                if label:
                    row.update(label=label, hparam="ood_threshold", hparam_value=1.35,
                               self_generated_pct=float(rng.uniform(0, 10)))
                rows.append(row)
    return rows


def maze_trace(positions: np.ndarray, wm_loss: np.ndarray, valid=None, frames: bool = False, seed: int = 0) -> dict:
    """An episode trace over given maze positions; the reward rises linearly (its values do not matter)."""
    steps = len(positions)
    trace = {
        "reward": np.linspace(0.0, 1.0, steps),
        "wm_loss": np.asarray(wm_loss, float),
        "policy_input_loss": np.asarray(wm_loss, float) / 2,
        "valid": np.ones(steps, bool) if valid is None else np.asarray(valid, bool),
        "position": np.asarray(positions, float),
    }
    if frames:
        rng = np.random.default_rng(seed)
        trace["obs"] = rng.integers(0, 256, (steps, 8, 8, 3), dtype=np.uint8)
        trace["decoded"] = rng.integers(0, 256, (steps, 8, 8, 3), dtype=np.uint8)
    return trace
