"""Metric rows as the analysis reads them: validation, curve labels, metric names.

A row is one eval point of one agent run and seed (see offon_jit.metrics_log):
{"agent", "seed", "env_steps", optional "label", optional "task", ...metrics}. A curve
is identified by its label ("label" if present, else "agent"); a metric may be absent or
None in some rows (e.g. "self_generated_pct" for an Active agent).
"""

from __future__ import annotations

import math
import numbers
from typing import Mapping, Sequence

from offon_jit.metrics_log import row_label

KEY_COLUMNS = ("agent", "seed", "env_steps")
# Columns that describe a row rather than measure something.
DESCRIPTIVE_COLUMNS = frozenset({"agent", "label", "seed", "env_steps", "task", "hparam", "hparam_value", "num_tasks"})

METRIC_TITLES = {
    "score": "Episode score",
    "eval_wm_loss": "World model loss",
    "eval_td_loss": "TD loss (model-free agents)",
    "ood_ratio": "OOD ratio",
    "value_error": "Value error V(s0) - MC return",
    "policy_input_loss": "Policy input loss",
    "self_generated_steps": "Self-generated steps",
    "self_generated_pct": "Self-generated data (%)",
    "expl_weight": "Exploration weight",
}


def metric_title(metric: str) -> str:
    return METRIC_TITLES.get(metric, metric.replace("_", " "))


def curve_label(row: Mapping) -> str:
    """Display name of the curve a row belongs to: its "label", else its "agent"."""
    return row_label(row)


def validate_rows(rows: Sequence[Mapping], where: str = "rows") -> list[Mapping]:
    """Check that `rows` is a non-empty list of row dicts with agent, seed and env_steps."""
    if isinstance(rows, (Mapping, str, bytes)) or not isinstance(rows, Sequence):
        raise ValueError(f"{where}: expected a list of metric rows (dicts), got {type(rows).__name__}")
    if not rows:
        raise ValueError(f"{where}: no metric rows")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}[{index}]: expected a dict, got {type(row).__name__}")
        missing = [key for key in KEY_COLUMNS if row.get(key) is None]
        if missing:
            raise ValueError(f"{where}[{index}]: missing {missing} (every row needs {list(KEY_COLUMNS)})")
        steps = row["env_steps"]
        if isinstance(steps, bool) or not isinstance(steps, numbers.Real) or not math.isfinite(steps):
            raise ValueError(f"{where}[{index}]: env_steps must be a number, got {steps!r}")
    return list(rows)


def validate_task_rows(task_rows: Mapping[str, Sequence[Mapping]]) -> dict[str, list[Mapping]]:
    """Check a multi-task experiment {task: rows}; returns it as a dict of lists."""
    if not isinstance(task_rows, Mapping) or not task_rows:
        raise ValueError("expected a non-empty dict task name -> metric rows")
    return {str(task): validate_rows(rows, where=f"task {task!r}") for task, rows in task_rows.items()}


def metric_value(row: Mapping, metric: str) -> float | None:
    """The row's value of `metric` as a float, or None if missing, None or not finite."""
    value = row.get(metric)
    if value is None or isinstance(value, (bool, str)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def available_metrics(rows: Sequence[Mapping]) -> list[str]:
    """Metrics with at least one numeric value in `rows`, in first-seen order."""
    found: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in DESCRIPTIVE_COLUMNS and key not in found and metric_value(row, key) is not None:
                found[key] = None
    return list(found)


def require_metric(rows: Sequence[Mapping], metric: str, where: str = "rows") -> None:
    """KeyError naming the available metrics if no row has a value of `metric`."""
    if not isinstance(metric, str):
        raise ValueError(f"metric must be a string, got {metric!r}")
    if not any(metric_value(row, metric) is not None for row in rows):
        raise KeyError(f"{where}: unknown metric {metric!r} (no row has a value); available: {available_metrics(rows)}")


def curve_labels(rows: Sequence[Mapping]) -> list[str]:
    """Distinct curve labels in first-seen order."""
    return list(dict.fromkeys(curve_label(row) for row in rows))


def validate_task_metrics(task_rows: Mapping[str, Sequence[Mapping]], metrics: Sequence[str]) -> tuple[dict, list]:
    """Checked {task: rows} plus all rows together; every metric must exist in some task."""
    task_rows = validate_task_rows(task_rows)
    if isinstance(metrics, str) or not metrics:
        raise ValueError(f"metrics must be a non-empty list of metric names, got {metrics!r}")
    all_rows = [row for rows in task_rows.values() for row in rows]
    for metric in metrics:
        require_metric(all_rows, metric, where="all tasks")
    return task_rows, all_rows
