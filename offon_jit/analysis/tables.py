"""Final-value tables: Table S2 (self-generated data added by Passive+Auto), baselines, CSV/markdown.

A run's final value of a metric is its value at the largest env_steps where the metric
is present (per seed, so a seed that stopped early contributes its last eval point);
the table reports mean and population std over seeds and, next to each mean, Welch's
t-test of that label's per-seed final values against the reference label's (the Active,
`test_against`) on the same task (statistics.py: p-value, n per side, or "not computable"
with fewer than 2 seeds a side). No table states that one agent is better or worse: the
p-value is the comparison. Table S2's percentages are self_generated_pct: steps the agent
added, as a percentage of the original Active buffer's size; they carry no test (the Active
adds no data, so there is nothing to compare them with).
"""

from __future__ import annotations

import csv
import pathlib
from typing import Mapping, Sequence

import numpy as np

from offon_jit.analysis.aggregate import seed_values
from offon_jit.analysis.rows import curve_labels, require_metric, validate_task_rows
from offon_jit.analysis.statistics import TEST_NAME, WelchTest, comparison_columns, format_test, welch_test

TABLE_S2_METRIC = "self_generated_pct"
TABLE_S2_FORMAT = "{:.2f}%"
AVERAGE_ROW = "Average"
REFERENCE_LABEL = "active"  # what every table's test compares against: the Active on the same task


def final_seed_values(rows: Sequence[Mapping], metric: str) -> dict[str, dict[object, tuple[float, float]]]:
    """{label: {seed: (env_steps, value)}} at each seed's last eval point that has the metric."""
    out = {}
    for label, by_step in seed_values(rows, metric).items():
        last: dict[object, tuple] = {}
        for steps, by_seed in by_step.items():
            for seed, value in by_seed.items():
                if seed not in last or steps > last[seed][0]:
                    last[seed] = (steps, value)
        out[label] = last
    return out


def final_values(
    task_rows: Mapping[str, Sequence[Mapping]],
    metric: str,
    *,
    labels: Sequence[str] | None = None,
    test_against: str | None = REFERENCE_LABEL,
) -> list[dict]:
    """One dict per (task, label) with the metric: task, label, metric, mean, std, num_seeds, final_env_steps,
    and (unless `test_against` is None) the Welch test against that label's seeds on the same task:
    test, reference, n_reference, t_statistic, p_value, test_note (statistics.comparison_columns).

    final_env_steps is the largest of the seeds' final eval points. `labels` restricts
    and orders the labels; a requested label that no task has raises KeyError. The
    reference label's own row has no test (note "reference"); a task without the
    reference label's values has none either (the note says so).
    """
    task_rows = validate_task_rows(task_rows)
    all_rows = [row for rows in task_rows.values() for row in rows]
    require_metric(all_rows, metric, where="all tasks")
    if labels is not None:
        if isinstance(labels, str):
            raise ValueError(f"labels must be a list of curve labels, got {labels!r}")
        known = set(curve_labels(all_rows))
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise KeyError(f"unknown curve labels {unknown}; known: {sorted(known)}")
    if test_against is not None and not isinstance(test_against, str):
        raise ValueError(f"test_against must be a curve label or None, got {test_against!r}")
    table = []
    for task, rows in task_rows.items():
        finals = final_seed_values(rows, metric)
        reference = finals.get(test_against, {}) if test_against is not None else {}
        for label in (curve_labels(rows) if labels is None else labels):
            if label not in finals:
                continue
            last = finals[label]
            values = np.array([value for _, value in last.values()])
            entry = {
                "task": task, "label": label, "metric": metric,
                "mean": float(values.mean()), "std": float(values.std()), "num_seeds": int(values.size),
                "final_env_steps": max(steps for steps, _ in last.values()),
            }
            if test_against is not None:
                if label == test_against:
                    entry.update(comparison_columns(None, test_against, "reference"))
                elif not reference:
                    entry.update(comparison_columns(None, test_against, f"no {test_against!r} {metric} on this task"))
                else:
                    test = welch_test(values, [value for _, value in reference.values()])
                    entry.update(comparison_columns(test, test_against))
            table.append(entry)
    return table


def baseline_scores(task_rows: Mapping[str, Sequence[Mapping]], label: str = "active", metric: str = "score") -> dict[str, float]:
    """{task: final mean score of curve `label`}: the black dashed baselines of Figs 6, 7, S9, S16."""
    table = final_values(task_rows, metric, labels=[label], test_against=None)
    missing = sorted(set(task_rows) - {entry["task"] for entry in table})
    if missing:
        raise KeyError(f"curve {label!r} has no {metric!r} in tasks {missing}")
    return {entry["task"]: entry["mean"] for entry in table}


def self_generated_table(task_rows: Mapping[str, Sequence[Mapping]], *, labels: Sequence[str] | None = None) -> list[dict]:
    """Table S2 (and Fig. S1's third row at the end of training): final self_generated_pct per task and label
    (no test: the Active adds no data)."""
    return final_values(task_rows, TABLE_S2_METRIC, labels=labels, test_against=None)


def markdown_table(
    table: Sequence[Mapping],
    *,
    value_format: str = "{:.2f}",
    show_std: bool = False,
    average: bool = True,
    task_header: str = "Task",
) -> str:
    """Markdown grid of a final_values table: one row per task, one column per label, and an
    "Average" row (mean over the tasks that have the label). Rows that carry a test show it
    beside the mean ("12.30 (p = 0.031, n = 3 vs 3)"), and a line under the grid names it."""
    if isinstance(table, Mapping) or not table:
        raise ValueError("table must be a non-empty list of final_values rows")
    for entry in table:
        missing = [key for key in ("task", "label", "mean") if key not in entry]
        if missing:
            raise KeyError(f"table row {entry!r} lacks {missing}; build it with final_values")
    try:
        value_format.format(1.0)
    except (IndexError, KeyError, ValueError) as error:
        raise ValueError(f"value_format {value_format!r} cannot format a number ({error})") from None
    tasks = list(dict.fromkeys(entry["task"] for entry in table))
    labels = list(dict.fromkeys(entry["label"] for entry in table))
    cells: dict[tuple, Mapping] = {}
    for entry in table:
        key = (entry["task"], entry["label"])
        if key in cells:
            raise ValueError(f"table has two rows for task {key[0]!r}, label {key[1]!r}")
        cells[key] = entry

    def fmt(entry) -> str:
        text = value_format.format(entry["mean"])
        text += f" ± {entry['std']:.2f}" if show_std and entry.get("std") is not None else ""
        return text + (f" ({comparison_text(entry)})" if entry.get("test") == TEST_NAME else "")

    lines = [
        "| " + " | ".join([task_header, *labels]) + " |",
        "| " + " | ".join(["---"] + ["---:"] * len(labels)) + " |",
    ]
    for task in tasks:
        lines.append("| " + " | ".join([task] + [fmt(cells[(task, l)]) if (task, l) in cells else "–" for l in labels]) + " |")
    if average:
        means = []
        for label in labels:
            values = [cells[(t, label)]["mean"] for t in tasks if (t, label) in cells]
            means.append(value_format.format(float(np.mean(values))))
        lines.append("| " + " | ".join([AVERAGE_ROW, *means]) + " |")
    references = sorted({str(e["reference"]) for e in table if e.get("test") == TEST_NAME})
    if references:
        lines += ["", f"p: Welch's two-sided t-test of the seeds' final values against {', '.join(references)} "
                      "on the same task (scipy.stats.ttest_ind, equal_var=False); n: seeds per side."]
    return "\n".join(lines) + "\n"


def comparison_text(entry: Mapping) -> str:
    """A final_values row's test as shown beside its mean."""
    note = entry.get("test_note") or ""
    if note == "reference":
        return f"reference, n = {entry['num_seeds']}"
    if entry.get("n_reference") is None:
        return f"no test: {note}"
    return format_test(WelchTest(entry["num_seeds"], entry["n_reference"], entry.get("t_statistic"),
                                 entry.get("p_value"), note))


def write_csv(table: Sequence[Mapping], path: str | pathlib.Path) -> pathlib.Path:
    """Write a list of dicts as CSV (columns in first-seen order, None as empty); returns the path."""
    if isinstance(table, Mapping) or not table or not all(isinstance(row, Mapping) for row in table):
        raise ValueError("table must be a non-empty list of dicts")
    columns = list(dict.fromkeys(key for row in table for key in row))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    return path
