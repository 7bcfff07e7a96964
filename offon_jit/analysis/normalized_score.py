"""Normalised metrics across tasks (the paper's "normalized mean score across tasks").

The paper does not say how it normalises; this module's choice:

* Per-task min-max normalisation, value -> (value - low) / (high - low).
* Score: if reference ranges {task: (low, high)} are given (e.g. random-policy and expert
  scores), they are used and must cover every task. Otherwise low = 0 (no DMC, Metaworld
  or MinAtar reward is negative, so 0 is every task's floor) and high = the best
  mean-over-seeds score that any curve in the task's rows reaches at any eval point. A
  normalised score of 1 thus means "as good as the best curve of this experiment at its
  best", and the normalised mean is comparable between agents of one experiment (not
  between experiments with different agent sets, unless references are given).
* Other normalised metrics (e.g. eval_wm_loss, policy_input_loss): the same rule, low = 0
  and high = the largest mean curve value, so 1 is the worst curve's peak.
* Metrics that are already comparable across tasks (ood_ratio, a fraction;
  self_generated_pct, a percentage) are averaged without normalisation.
* The mean across tasks is taken per (label, seed, env_steps) over the tasks that all have
  that point; it becomes a row of the usual format with task="normalized_mean", so seeds
  are then aggregated like in any task. A label missing from some task is left out (with
  a warning): a mean over fewer tasks is not comparable with the others.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from typing import Mapping, Sequence

from offon_jit.analysis.aggregate import aggregate
from offon_jit.analysis.rows import (
    curve_label,
    metric_value,
    require_metric,
    validate_rows,
    validate_task_metrics,
    validate_task_rows,
)

NORMALIZED_MEAN_TASK = "normalized_mean"
PLAIN_MEAN_METRICS = ("ood_ratio", "self_generated_pct")
CARRIED_COLUMNS = ("hparam", "hparam_value", "expl_weight")


def best_mean_value(rows: Sequence[Mapping], metric: str = "score") -> float:
    """Largest mean-over-seeds value of `metric` that any curve reaches at any eval point."""
    curves = aggregate(rows, metric)
    return max(float(curve.mean.max()) for curve in curves.values())


def _checked_range(task: str, low, high, source: str) -> tuple[float, float]:
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"task {task!r}: {source} range must be two numbers (low, high), got {(low, high)!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise ValueError(f"task {task!r}: {source} range needs finite low < high, got ({low}, {high})")
    return low, high


def reference_ranges(
    task_rows: Mapping[str, Sequence[Mapping]],
    metric: str = "score",
    references: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """{task: (low, high)}: the given references, else (0, best mean curve value) per task."""
    task_rows = validate_task_rows(task_rows)
    if references is not None:
        if not isinstance(references, Mapping):
            raise ValueError(f"references must be a dict task -> (low, high), got {type(references).__name__}")
        missing = sorted(set(task_rows) - set(references))
        if missing:
            raise KeyError(f"reference ranges missing for tasks {missing}")
        out = {}
        for task in task_rows:
            pair = references[task]
            if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise ValueError(f"task {task!r}: reference range must be (low, high), got {pair!r}")
            out[task] = _checked_range(task, *pair, "reference")
        return out
    out = {}
    for task, rows in task_rows.items():
        require_metric(rows, metric, where=f"task {task!r}")
        out[task] = _checked_range(task, 0.0, best_mean_value(rows, metric), f"automatic {metric!r} (0, best mean)")
    return out


def normalize_rows(rows: Sequence[Mapping], metric: str, low: float, high: float) -> list[dict]:
    """Copies of `rows` with `metric` mapped to (value - low) / (high - low); missing values stay missing."""
    rows = validate_rows(rows)
    low, high = _checked_range("<rows>", low, high, "normalisation")
    out = []
    for row in rows:
        row = dict(row)
        value = metric_value(row, metric)
        if value is not None:
            row[metric] = (value - low) / (high - low)
        out.append(row)
    return out


def normalized_mean_rows(
    task_rows: Mapping[str, Sequence[Mapping]],
    metrics: Sequence[str] = ("score",),
    *,
    score_references: Mapping[str, tuple[float, float]] | None = None,
    plain_metrics: Sequence[str] = PLAIN_MEAN_METRICS,
) -> list[dict]:
    """Rows with task="normalized_mean": per (label, seed, env_steps), the mean over tasks.

    Each metric in `metrics` is min-max normalised per task (see module doc;
    `score_references` apply to "score") unless it is in `plain_metrics`, which are averaged
    as they are. Every metric must exist in some task. Each output row has agent, label,
    seed, env_steps, task, num_tasks and the averaged metrics it has a value for.
    """
    task_rows, all_rows = validate_task_metrics(task_rows, metrics)

    label_sets = [{curve_label(row) for row in rows} for rows in task_rows.values()]
    common = set.intersection(*label_sets)
    dropped = sorted(set.union(*label_sets) - common)
    if dropped:
        warnings.warn(f"normalized mean leaves out labels not present in every task: {dropped}", stacklevel=2)
    if not common:
        raise ValueError(f"no curve label is present in all {len(task_rows)} tasks; cannot average across tasks")

    ranges = {}
    for metric in metrics:
        if metric not in plain_metrics:
            having = {t: rows for t, rows in task_rows.items() if any(metric_value(r, metric) is not None for r in rows)}
            ranges[metric] = reference_ranges(having, metric, score_references if metric == "score" else None)

    # (label, seed, env_steps) -> {metric: [one value per task]}
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    first_row: dict[tuple, Mapping] = {}
    for task, rows in task_rows.items():
        for metric in metrics:
            if metric in plain_metrics:
                source = rows
            elif task in ranges[metric]:
                source = normalize_rows(rows, metric, *ranges[metric][task])
            else:
                continue  # this task lacks the metric: its points cannot complete the mean
            seen = set()
            for row in source:
                label = curve_label(row)
                value = metric_value(row, metric)
                if label not in common or value is None:
                    continue
                key = (label, row["seed"], row["env_steps"])
                if key in seen:
                    raise ValueError(f"task {task!r}: two rows for (label, seed, env_steps) = {key} with {metric!r}")
                seen.add(key)
                values[key][metric].append(value)
                first_row.setdefault(key, row)

    num_tasks = len(task_rows)
    out = []
    for key in sorted(values, key=lambda k: (k[0], str(k[1]), k[2])):
        complete = {m: sum(v) / num_tasks for m, v in values[key].items() if len(v) == num_tasks}
        if not complete:
            continue
        label, seed, steps = key
        source = first_row[key]
        row = {"agent": source["agent"], "label": label, "seed": seed, "env_steps": steps,
               "task": NORMALIZED_MEAN_TASK, "num_tasks": num_tasks}
        row.update({c: source[c] for c in CARRIED_COLUMNS if c in source})
        row.update(complete)
        out.append(row)
    if not out:
        raise ValueError("no (label, seed, env_steps) point has the metrics in every task; tasks share no eval points")
    return out

