"""Fig. S15: normalised mean score against the self-generated data added, across tasks.

Per curve label and eval point: x = mean over tasks of self_generated_pct (percent of
the original Active buffer), y = normalised mean score (normalized_score's rule), both
then averaged over seeds. Only labels that log self_generated_pct in every task appear
(Passive agents allowed to interact). The top-left corner is best: high score, little data.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from offon_jit.analysis.aggregate import aggregate
from offon_jit.analysis.normalized_score import normalized_mean_rows
from offon_jit.analysis.rows import validate_task_rows
from offon_jit.analysis.rows import curve_label
from offon_jit.analysis.style import (
    MARKER_SIZE,
    curve_styles,
    display_names,
    new_figure,
    outside_legend,
    paper_style,
    seed_count_text,
)

ADDED_METRIC = "self_generated_pct"


def score_vs_added_data(
    task_rows: Mapping[str, Sequence[Mapping]],
    *,
    labels: Sequence[str] | None = None,
    score_references: Mapping[str, tuple[float, float]] | None = None,
) -> list[dict]:
    """One dict per (label, env_steps): normalized_score, self_generated_pct (seed means and stds)."""
    task_rows = validate_task_rows(task_rows)
    rows = normalized_mean_rows(task_rows, ["score", ADDED_METRIC], score_references=score_references)
    scores = aggregate(rows, "score", labels=labels)
    added = aggregate(rows, ADDED_METRIC, labels=labels)
    table = []
    for label in [label for label in scores if label in added]:
        score, pct = scores[label], added[label]
        common, score_index, pct_index = np.intersect1d(score.steps, pct.steps, return_indices=True)
        for k, steps in enumerate(common):
            table.append({
                "label": label, "env_steps": steps.item(),
                "normalized_score": float(score.mean[score_index[k]]), "normalized_score_std": float(score.std[score_index[k]]),
                ADDED_METRIC: float(pct.mean[pct_index[k]]), f"{ADDED_METRIC}_std": float(pct.std[pct_index[k]]),
            })
    if not table:
        raise ValueError(f"no curve has both a score and {ADDED_METRIC!r} in every task")
    return table


def plot_score_vs_added_data(
    task_rows: Mapping[str, Sequence[Mapping]],
    *,
    labels: Sequence[str] | None = None,
    score_references: Mapping[str, tuple[float, float]] | None = None,
    size: tuple[float, float] = (4.5, 3.0),
) -> Figure:
    """Fig. S15: one marker per eval point and label, joined in training order; the legend (outside, the
    paper's names) says what a point is: a mean over the curve's seeds."""
    table = score_vs_added_data(task_rows, labels=labels, score_references=score_references)
    all_rows = [row for rows in task_rows.values() for row in rows]
    styles, names = curve_styles(all_rows), display_names(all_rows)
    shown = [label for label in styles if any(entry["label"] == label for entry in table)]  # legend order
    with paper_style():
        fig = new_figure(*size)
        ax = fig.subplots()
        lines = []
        for label in shown:
            points = [entry for entry in table if entry["label"] == label]
            style = styles[label]
            (line,) = ax.plot([p[ADDED_METRIC] for p in points], [p["normalized_score"] for p in points],
                              marker=style.marker, markersize=MARKER_SIZE, color=style.color,
                              linestyle=style.linestyle, label=label)
            lines.append(line)
        ax.set_xlabel("Self-generated data added (%)")
        ax.set_ylabel("Normalized mean score")
        seeds = {label: {row["seed"] for row in all_rows if curve_label(row) == label} for label in shown}
        legend = outside_legend(fig, lines, [names[label] for label in shown])
        legend.set_title(f"each point: one eval point, mean over {seed_count_text(len(s) for s in seeds.values())}",
                         prop={"size": "small"})
    return fig
