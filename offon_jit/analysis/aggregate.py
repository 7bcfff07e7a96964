"""Seed aggregation: one curve per label = mean and std over seeds at each env_steps.

Seeds are aligned by their env_steps value (every agent evaluates on the same schedule);
at each env_steps the mean and the population std (numpy's default, ddof=0) are taken
over the seeds that have a value of the metric there. Rows without the metric (missing,
None or non-finite) are skipped, so agents that never log a metric simply have no curve.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from offon_jit.analysis.rows import (
    curve_label,
    metric_value,
    require_metric,
    validate_rows,
    validate_task_metrics,
)


class Curve(NamedTuple):
    steps: np.ndarray  # (K,) env_steps, increasing
    mean: np.ndarray  # (K,) mean over seeds
    std: np.ndarray  # (K,) population std over seeds


def seed_values(rows: Sequence[Mapping], metric: str) -> dict[str, dict[float, dict[object, float]]]:
    """{label: {env_steps: {seed: value}}}; raises on two rows for one (label, seed, env_steps)."""
    table: dict[str, dict[float, dict[object, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        value = metric_value(row, metric)
        if value is None:
            continue
        label, steps, seed = curve_label(row), row["env_steps"], row["seed"]
        if seed in table[label][steps]:
            raise ValueError(
                f"two rows for label {label!r}, seed {seed!r}, env_steps {steps} with metric {metric!r}: "
                "duplicated eval rows (e.g. a resumed run appended twice)"
            )
        table[label][steps][seed] = value
    return {label: dict(by_step) for label, by_step in table.items()}


def _summaries(rows: Sequence[Mapping], metric: str, min_seeds: int) -> dict[str, tuple[np.ndarray, ...]]:
    if not isinstance(min_seeds, int) or min_seeds < 1:
        raise ValueError(f"min_seeds must be a positive int, got {min_seeds!r}")
    out = {}
    for label, by_step in seed_values(rows, metric).items():
        steps = [s for s in sorted(by_step) if len(by_step[s]) >= min_seeds]
        if not steps:
            continue
        values = [np.fromiter(by_step[s].values(), float) for s in steps]
        out[label] = (
            np.asarray(steps),
            np.array([v.mean() for v in values]),
            np.array([v.std() for v in values]),
            np.array([v.size for v in values]),
        )
    return out


def aggregate(
    rows: Sequence[Mapping], metric: str, *, labels: Iterable[str] | None = None, min_seeds: int = 1
) -> dict[str, Curve]:
    """{label: Curve(steps, mean, std)} of `metric`; steps with fewer than `min_seeds` seeds are dropped.

    `labels` restricts (and orders) the curves; a requested label with no value of the
    metric is simply absent. Raises KeyError if no row at all has the metric.
    """
    rows = validate_rows(rows)
    require_metric(rows, metric)
    summaries = _summaries(rows, metric, min_seeds)
    order = list(summaries) if labels is None else [label for label in labels if label in summaries]
    return {label: Curve(*summaries[label][:3]) for label in order}


def aggregate_metrics(
    rows: Sequence[Mapping], metrics: Sequence[str], *, min_seeds: int = 1
) -> dict[str, dict[str, Curve]]:
    """{metric: {label: Curve}} for several metrics (each must exist in some row)."""
    if isinstance(metrics, str) or not metrics:
        raise ValueError(f"metrics must be a non-empty list of metric names, got {metrics!r}")
    return {metric: aggregate(rows, metric, min_seeds=min_seeds) for metric in metrics}


def curve_table(
    task_rows: Mapping[str, Sequence[Mapping]], metrics: Sequence[str], *, min_seeds: int = 1
) -> list[dict]:
    """Long-format table of the plotted curves: one dict per (task, metric, label, env_steps).

    Columns: task, metric, label, env_steps, mean, std, num_seeds. A metric only needs to
    exist in some task; tasks without it contribute no rows.
    """
    task_rows, all_rows = validate_task_metrics(task_rows, metrics)
    table = []
    for task, rows in task_rows.items():
        for metric in metrics:
            for label, (steps, mean, std, count) in _summaries(rows, metric, min_seeds).items():
                for k in range(steps.size):
                    table.append({
                        "task": task, "metric": metric, "label": label, "env_steps": steps[k].item(),
                        "mean": mean[k].item(), "std": std[k].item(), "num_seeds": int(count[k]),
                    })
    return table
