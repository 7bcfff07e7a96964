"""Normalised metrics across tasks (the paper's "normalized mean score across tasks").

The paper does not say how it normalises; this module's rules:

* Score, comparable across experiments: per task

      normalised score = (score - random) / (reference - random)

  random: the mean episode score of a uniform-random policy on the task, measured by the
  library (random_scores.py: a stated number of episodes, a fixed seed, the study's episode
  length) and cached per task. reference: the Active agent's final score at the same scale,
  the mean over seeds of each seed's last eval point of the curve `reference_label`
  ("active"; "active (expl_weight=0)" where exploration weights are swept), read from the
  same rows. 0 is the random policy and 1 the Active's final score on every task, whatever
  else an experiment trains. Explicit (random, reference) pairs may be passed per task as
  `score_references` instead.
  Where reference <= random (an Active that did not beat the random policy, e.g. a short
  smoke run) the normalised score is undefined: a warning names the task, and its
  normalised scores, hence the normalised mean score at every point, are NaN (read as
  missing: the mean panel says "no data"). Other metrics of the mean are unaffected.
* Other normalised metrics (eval_wm_loss, policy_input_loss): min-max per task with low = 0
  and high = the largest mean-over-seeds value any curve of the task's rows reaches, so 1 is
  the worst curve's peak (comparable between the curves of one experiment only).
* Metrics that are already comparable across tasks (ood_ratio, a ratio;
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
from offon_jit.analysis.tables import REFERENCE_LABEL, baseline_scores

NORMALIZED_MEAN_TASK = "normalized_mean"
PLAIN_MEAN_METRICS = ("ood_ratio", "self_generated_pct")
CARRIED_COLUMNS = ("hparam", "hparam_value", "expl_weight")


def best_mean_value(rows: Sequence[Mapping], metric: str = "score") -> float:
    """Largest mean-over-seeds value of `metric` that any curve reaches at any eval point."""
    curves = aggregate(rows, metric)
    return max(float(curve.mean.max()) for curve in curves.values())


def _finite_pair(task: str, pair, source: str) -> tuple[float, float]:
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise ValueError(f"task {task!r}: {source} must be a pair of numbers, got {pair!r}")
    try:
        low, high = float(pair[0]), float(pair[1])
    except (TypeError, ValueError):
        raise ValueError(f"task {task!r}: {source} must be two numbers, got {pair!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"task {task!r}: {source} must be finite, got ({low}, {high})")
    return low, high


def _checked_range(task: str, low, high, source: str) -> tuple[float, float]:
    low, high = _finite_pair(task, (low, high), source)
    if high <= low:
        raise ValueError(f"task {task!r}: {source} range needs finite low < high, got ({low}, {high})")
    return low, high


def score_ranges(
    task_rows: Mapping[str, Sequence[Mapping]],
    *,
    random_scores: Mapping[str, float] | None = None,
    reference_label: str = REFERENCE_LABEL,
    score_references: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """{task: (random, reference)}: `score_references` if given, else the measured random scores and
    the final score of `reference_label` in each task's rows (see the module doc).

    Pairs with reference <= random are returned as they are; normalising with them gives NaN.
    """
    task_rows = validate_task_rows(task_rows)
    if score_references is not None:
        if not isinstance(score_references, Mapping):
            raise ValueError(f"score_references must be a dict task -> (random, reference), "
                             f"got {type(score_references).__name__}")
        missing = sorted(set(task_rows) - set(score_references))
        if missing:
            raise KeyError(f"score references missing for tasks {missing}")
        return {task: _finite_pair(task, score_references[task], "score reference (random, reference)")
                for task in task_rows}
    if random_scores is None:
        raise ValueError("normalising 'score' needs each task's random-policy score (random_scores, measured by "
                         "offon_jit.analysis.random_scores) or explicit score_references")
    if not isinstance(random_scores, Mapping):
        raise ValueError(f"random_scores must be a dict task -> score, got {type(random_scores).__name__}")
    missing = sorted(set(task_rows) - set(random_scores))
    if missing:
        raise KeyError(f"random-policy scores missing for tasks {missing}")
    references = baseline_scores(task_rows, label=reference_label)
    return {task: _finite_pair(task, (random_scores[task], references[task]), "(random score, reference score)")
            for task in task_rows}


def metric_ranges(task_rows: Mapping[str, Sequence[Mapping]], metric: str) -> dict[str, tuple[float, float]]:
    """{task: (0, best mean curve value)}: the rule for every normalised metric other than score."""
    task_rows = validate_task_rows(task_rows)
    out = {}
    for task, rows in task_rows.items():
        require_metric(rows, metric, where=f"task {task!r}")
        out[task] = _checked_range(task, 0.0, best_mean_value(rows, metric), f"automatic {metric!r} (0, best mean)")
    return out


def normalized_score(score: float, random: float, reference: float) -> float:
    """(score - random) / (reference - random); NaN where reference <= random (undefined)."""
    return (score - random) / (reference - random) if reference > random else math.nan


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
    random_scores: Mapping[str, float] | None = None,
    reference_label: str = REFERENCE_LABEL,
    score_references: Mapping[str, tuple[float, float]] | None = None,
    plain_metrics: Sequence[str] = PLAIN_MEAN_METRICS,
    labels: Sequence[str] | None = None,
) -> list[dict]:
    """Rows with task="normalized_mean": per (label, seed, env_steps), the mean over tasks.

    "score" is normalised by (score - random) / (reference - random) (see module doc; it needs
    `random_scores` or `score_references`); every other metric in `metrics` is min-max
    normalised per task unless it is in `plain_metrics`, which are averaged as they are.
    `labels` restricts the averaged curves (the reference is read from all rows). Every metric
    must exist in some task. Each output row has agent, label, seed, env_steps, task,
    num_tasks and the averaged metrics it has a value for (NaN where undefined).
    """
    task_rows, all_rows = validate_task_metrics(task_rows, metrics)

    ranges = {}  # metric -> {task: (low, high)}; score's come from all rows (the reference may not be averaged)
    if "score" in metrics and "score" not in plain_metrics:
        ranges["score"] = score_ranges(task_rows, random_scores=random_scores, reference_label=reference_label,
                                       score_references=score_references)
        undefined = {t: pair for t, pair in ranges["score"].items() if pair[1] <= pair[0]}
        if undefined:
            warnings.warn("normalised score undefined (reference score not above the random policy's) on "
                          + "; ".join(f"{t}: reference {high:g} <= random {low:g}"
                                      for t, (low, high) in undefined.items())
                          + "; its normalised scores and the normalised mean score are NaN", stacklevel=2)

    if labels is not None:
        if isinstance(labels, str):
            raise ValueError(f"labels must be a list of curve labels, got {labels!r}")
        wanted = set(labels)
        task_rows = {t: [r for r in rows if curve_label(r) in wanted] for t, rows in task_rows.items()}
        empty = sorted(t for t, rows in task_rows.items() if not rows)
        if empty:
            raise KeyError(f"none of the labels {list(labels)} in tasks {empty}")

    for metric in metrics:
        if metric not in plain_metrics and metric not in ranges:
            having = {t: rows for t, rows in task_rows.items()
                      if any(metric_value(r, metric) is not None for r in rows)}
            ranges[metric] = metric_ranges(having, metric) if having else {}

    label_sets = [{curve_label(row) for row in rows} for rows in task_rows.values()]
    common = set.intersection(*label_sets)
    dropped = sorted(set.union(*label_sets) - common)
    if dropped:
        warnings.warn(f"normalized mean leaves out labels not present in every task: {dropped}", stacklevel=2)
    if not common:
        raise ValueError(f"no curve label is present in all {len(task_rows)} tasks; cannot average across tasks")

    # (label, seed, env_steps) -> {metric: [one value per task]}
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    first_row: dict[tuple, Mapping] = {}
    for task, rows in task_rows.items():
        for metric in metrics:
            undefined = False
            if metric in plain_metrics:
                source = rows
            elif task not in ranges[metric]:
                continue  # this task lacks the metric: its points cannot complete the mean
            elif ranges[metric][task][1] <= ranges[metric][task][0]:
                source, undefined = rows, True  # score with reference <= random: NaN (warned above)
            else:
                source = normalize_rows(rows, metric, *ranges[metric][task])
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
                values[key][metric].append(math.nan if undefined else value)
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
