"""Learning-curve grids (Figs 3, 4, 6-8, S1, S2, S5-S14, S16, S17): tasks as columns, metrics as rows.

Each panel draws one line per curve label (mean over seeds) with a shaded band of +-1
std, in the label's paper colour, line style and marker (style.curve_styles, computed once over
all tasks so a label looks the same everywhere); the legend, outside the axes, names each curve
as the paper does (style.display_names) and says what the band is ("shaded: ±1 std over n=3
seeds"). The layout follows the number of panels: tasks as columns (wrapped into blocks of at
most `max_columns`, balanced), metrics as rows; a one-task figure lays its metrics side by side
instead of stacking them in a narrow column. Optional extras: a last column with the normalised
mean across tasks (normalized_score: score as (score - random) / (Active's final - random),
which needs the tasks' random-policy scores), and a horizontal black dashed baseline per task
on the score row (the final score of a task-oriented Active agent, Figs 6, 7, S9, S16).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from offon_jit.analysis.aggregate import aggregate, curve_table
from offon_jit.analysis.normalized_score import (
    NORMALIZED_MEAN_TASK,
    PLAIN_MEAN_METRICS,
    normalized_mean_rows,
    normalized_score,
    score_ranges,
)
from offon_jit.analysis.rows import (
    curve_label,
    metric_title,
    metric_value,
    require_metric,
    validate_rows,
    validate_task_rows,
)
from offon_jit.analysis.style import (
    BAND_ALPHA,
    BASELINE_STYLE,
    MIN_FIGURE_WIDTH,
    STEPS_FORMATTER,
    CurveStyle,
    band_handle,
    band_label,
    curve_styles,
    display_names,
    new_figure,
    outside_legend,
    paper_style,
    set_title,
)
from offon_jit.analysis.tables import REFERENCE_LABEL

DEFAULT_METRICS = ("score", "eval_wm_loss")
NORMALIZED_METRICS = ("score", "eval_wm_loss", "policy_input_loss")  # normalised per task in the mean column
AVERAGEABLE_METRICS = NORMALIZED_METRICS + PLAIN_MEAN_METRICS
NORMALIZED_MEAN_TITLE = "Normalized mean"
DEFAULT_MAX_COLUMNS = 5  # the paper's widest row: four tasks and the normalised mean


def _checked_metrics(metrics: Sequence[str]) -> list[str]:
    if isinstance(metrics, str) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"metrics must be a non-empty list of metric names, got {metrics!r}")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics listed twice: {list(metrics)}")
    return list(metrics)


def _with_reference(labels, reference_label, rows) -> list[str] | None:
    """The labels a restricted grid averages and tabulates: the drawn ones plus the reference (the tables'
    comparison), if the rows have it."""
    if labels is None:
        return None
    has_reference = any(curve_label(row) == reference_label for row in rows)
    return list(dict.fromkeys([*labels, reference_label])) if has_reference else list(labels)


def grid_rows(
    task_rows: Mapping[str, Sequence[Mapping]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    normalized_mean: bool = False,
    random_scores: Mapping[str, float] | None = None,
    reference_label: str = REFERENCE_LABEL,
    score_references: Mapping[str, tuple[float, float]] | None = None,
    labels: Sequence[str] | None = None,
) -> dict[str, list[Mapping]]:
    """The rows of each grid column: the tasks, plus "normalized_mean" if requested (over `labels` and the
    reference, if given; score normalised with `random_scores` and `reference_label`'s final score, or
    `score_references`)."""
    task_rows = validate_task_rows(task_rows)
    metrics = _checked_metrics(metrics)
    if NORMALIZED_MEAN_TASK in task_rows:
        raise ValueError(f"task name {NORMALIZED_MEAN_TASK!r} is reserved for the normalised mean column")
    all_rows = [row for rows in task_rows.values() for row in rows]
    for metric in metrics:
        require_metric(all_rows, metric, where="all tasks")
    if labels is not None:
        if isinstance(labels, str) or not labels:
            raise ValueError(f"labels must be a non-empty list of curve labels, got {labels!r}")
        known = {curve_label(row) for row in all_rows}
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise KeyError(f"unknown curve labels {unknown}; known: {sorted(known)}")
    columns = dict(task_rows)
    if normalized_mean:
        averaged = [m for m in metrics if m in AVERAGEABLE_METRICS]
        if not averaged:
            raise ValueError(f"normalized_mean needs one of {list(AVERAGEABLE_METRICS)} among metrics {metrics}")
        columns[NORMALIZED_MEAN_TASK] = normalized_mean_rows(
            task_rows, averaged, random_scores=random_scores, reference_label=reference_label,
            score_references=score_references, plain_metrics=PLAIN_MEAN_METRICS,
            labels=_with_reference(labels, reference_label, all_rows),
        )
    return columns


def curve_grid_table(
    task_rows: Mapping[str, Sequence[Mapping]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    normalized_mean: bool = False,
    random_scores: Mapping[str, float] | None = None,
    reference_label: str = REFERENCE_LABEL,
    score_references: Mapping[str, tuple[float, float]] | None = None,
    labels: Sequence[str] | None = None,
    min_seeds: int = 1,
) -> list[dict]:
    """The numbers `plot_curve_grid` draws: long table (task, metric, label, env_steps, mean, std, num_seeds)."""
    columns = grid_rows(task_rows, metrics, normalized_mean=normalized_mean, random_scores=random_scores,
                        reference_label=reference_label, score_references=score_references, labels=labels)
    table = curve_table(columns, metrics, min_seeds=min_seeds)
    if labels is None:
        return table
    kept = set(_with_reference(labels, reference_label, [row for rows in task_rows.values() for row in rows]))
    return [entry for entry in table if entry["label"] in kept]


def draw_curves(
    ax: Axes,
    rows: Sequence[Mapping],
    metric: str,
    styles: Mapping[str, CurveStyle] | None = None,
    *,
    labels: Sequence[str] | None = None,
    baseline: float | None = None,
    min_seeds: int = 1,
) -> dict[str, Line2D]:
    """Mean +- std lines of `metric` per label on `ax`; returns {label: line} (for a legend)."""
    rows = validate_rows(rows)
    styles = curve_styles(rows) if styles is None else styles
    curves = aggregate(rows, metric, labels=labels, min_seeds=min_seeds)
    lines = {}
    for label in [label for label in styles if label in curves] + [label for label in curves if label not in styles]:
        steps, mean, std = curves[label]
        style = styles.get(label, CurveStyle("black", "-"))
        (line,) = ax.plot(steps, mean, label=label, **style.line_kwargs())
        ax.fill_between(steps, mean - std, mean + std, color=style.color, alpha=BAND_ALPHA, linewidth=0)
        lines[label] = line
    if baseline is not None:
        ax.axhline(float(baseline), **BASELINE_STYLE)
    ax.xaxis.set_major_formatter(STEPS_FORMATTER)
    return lines


def _normalized_baseline(task_rows, baselines, **score_options) -> float | None:
    """The baselines in normalised-score units, averaged over tasks (NaN where undefined)."""
    if baselines is None or set(task_rows) - set(baselines):
        return None
    ranges = score_ranges(task_rows, **score_options)
    return float(np.mean([normalized_score(baselines[t], *ranges[t]) for t in task_rows]))


def grid_layout(num_columns: int, num_metrics: int, max_columns: int | None = None) -> tuple[int, int, dict]:
    """(panel rows, panel columns, {(column index, metric index): (row, col)}) of a curve grid.

    Several columns (tasks, the mean): one column each, wrapped into balanced blocks of at most
    `max_columns` (each block holds every metric row). One column: its metrics side by side, wrapped
    the same way, so a one-task figure is a row of panels, not a narrow column."""
    max_columns = DEFAULT_MAX_COLUMNS if max_columns is None else max_columns
    if isinstance(max_columns, bool) or not isinstance(max_columns, int) or max_columns < 1:
        raise ValueError(f"max_columns must be a positive int, got {max_columns!r}")
    if num_columns == 1:
        blocks = -(-num_metrics // max_columns)
        width = -(-num_metrics // blocks)
        return blocks, width, {(0, i): (i // width, i % width) for i in range(num_metrics)}
    blocks = -(-num_columns // max_columns)
    width = -(-num_columns // blocks)
    positions = {(j, i): ((j // width) * num_metrics + i, j % width)
                 for j in range(num_columns) for i in range(num_metrics)}
    return num_metrics * blocks, width, positions


def curve_legend(figure, lines: Mapping, names: Mapping, rows: Sequence[Mapping], extra: Sequence = ()) -> None:
    """The legend below the axes: each drawn curve (label -> line) under its paper name, then the
    `extra` (handle, text) pairs, then what the shaded band is when one is drawn."""
    handles = list(lines.values()) + [handle for handle, _ in extra]
    texts = [names.get(label, label) for label in lines] + [text for _, text in extra]
    band = band_label(seed_counts(rows, set(lines)))
    if band and lines:
        handles.append(band_handle())
        texts.append(band)
    outside_legend(figure, handles, texts)


def seed_counts(rows: Sequence[Mapping], labels) -> list[int]:
    """The number of distinct seeds of each curve in `labels` (what a band's std is taken over)."""
    seeds: dict[str, set] = {}
    for row in rows:
        label = curve_label(row)
        if label in labels:
            seeds.setdefault(label, set()).add(row["seed"])
    return [len(s) for s in seeds.values()]


def plot_curve_grid(
    task_rows: Mapping[str, Sequence[Mapping]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    normalized_mean: bool = False,
    random_scores: Mapping[str, float] | None = None,
    reference_label: str = REFERENCE_LABEL,
    score_references: Mapping[str, tuple[float, float]] | None = None,
    baselines: Mapping[str, float] | None = None,
    baseline_label: str = "Active (task only)",
    labels: Sequence[str] | None = None,
    task_titles: Mapping[str, str] | None = None,
    min_seeds: int = 1,
    title: str | None = None,
    panel_size: tuple[float, float] = (2.4, 1.9),
    max_columns: int | None = None,
) -> Figure:
    """Grid figure: one column per task (+ "Normalized mean"), one row per metric, legend once, outside.

    Columns wrap into balanced blocks of at most `max_columns` (default DEFAULT_MAX_COLUMNS; each block
    holds every metric row), so 31 tasks fit a page (Figs. S10-S17). A one-task figure (no mean column)
    lays its metrics side by side instead, each panel titled by its metric, the task in the title.

    `baselines` {task: score} draws a black dashed line on the score row (see
    tables.final_values for the final score of a task-oriented Active run). `labels`
    restricts which curves are drawn (and averaged in the mean column). A panel whose task lacks
    the metric says "no data" (the mean column's score panel says "undefined" where some task's
    reference is not above its random score); mean-column panels of metrics that are not averaged
    across tasks are left empty. The normalised mean needs `random_scores` (or `score_references`)
    for score. The legend names curves as the paper does (style.display_names) and ends with what the
    shaded band is, e.g. "shaded: ±1 std over n=3 seeds" (none with one seed).
    """
    score_options = dict(random_scores=random_scores, reference_label=reference_label,
                         score_references=score_references)
    columns = grid_rows(task_rows, metrics, normalized_mean=normalized_mean, labels=labels, **score_options)
    tasks = [t for t in columns if t != NORMALIZED_MEAN_TASK]
    if baselines is not None:
        if not isinstance(baselines, Mapping):
            raise ValueError(f"baselines must be a dict task -> score, got {type(baselines).__name__}")
        unknown = sorted(set(baselines) - set(tasks))
        if unknown:
            raise KeyError(f"baselines for unknown tasks {unknown}; tasks are {tasks}")
    drawn = None if labels is None else set(labels)
    drawn_rows = [row for t in tasks for row in columns[t] if drawn is None or curve_label(row) in drawn]
    styles = curve_styles(drawn_rows)
    names = display_names(drawn_rows)
    mean_baseline = None
    if normalized_mean and "score" in metrics:
        mean_baseline = _normalized_baseline(task_rows, baselines, **score_options)
        mean_baseline = None if mean_baseline is None or np.isnan(mean_baseline) else mean_baseline

    num_rows, width, positions = grid_layout(len(columns), len(metrics), max_columns)
    one_task = len(columns) == 1
    with paper_style():
        fig = new_figure(max(panel_size[0] * width + 0.3, MIN_FIGURE_WIDTH), panel_size[1] * num_rows + 0.2)
        axes = np.asarray(fig.subplots(num_rows, width, squeeze=False))
        used = set(positions.values())
        for r in range(num_rows):
            for c in range(width):
                if (r, c) not in used:  # the last block's unused panels
                    axes[r, c].set_axis_off()
        handles: dict[str, Line2D] = {}
        for j, task in enumerate(columns):
            is_mean = task == NORMALIZED_MEAN_TASK
            shown = [i for i, m in enumerate(metrics) if not (is_mean and m not in AVERAGEABLE_METRICS)]
            for i, metric in enumerate(metrics):
                ax = axes[positions[(j, i)]]
                rows = columns[task]
                if is_mean and metric not in AVERAGEABLE_METRICS:
                    ax.set_axis_off()
                    continue
                if not any(metric_value(row, metric) is not None for row in rows):
                    undefined = is_mean and any(metric in row for row in rows)  # NaN: reference <= random
                    ax.text(0.5, 0.5, "undefined:\nreference score\n<= random score" if undefined else "no data",
                            ha="center", va="center", transform=ax.transAxes, color="0.5")
                    ax.set_xticks([])
                    ax.set_yticks([])
                else:
                    baseline = None
                    if metric == "score":
                        baseline = mean_baseline if is_mean else (baselines or {}).get(task)
                    lines = draw_curves(ax, rows, metric, styles, labels=labels, baseline=baseline, min_seeds=min_seeds)
                    for label, line in lines.items():
                        handles.setdefault(label, line)
                if one_task:
                    ax.set_title(metric_title(metric))
                    ax.set_xlabel("Env steps")
                    continue
                if i == 0:
                    ax.set_title(NORMALIZED_MEAN_TITLE if is_mean else (task_titles or {}).get(task, task))
                if j % width == 0:
                    ax.set_ylabel(metric_title(metric))
                elif is_mean and metric in NORMALIZED_METRICS:
                    ax.set_ylabel("normalized")
                if i == shown[-1]:
                    ax.set_xlabel("Env steps")
        ordered = {label: handles[label] for label in styles if label in handles}
        extra = [(Line2D([], [], **BASELINE_STYLE), baseline_label)] if mean_baseline is not None or baselines else []
        curve_legend(fig, ordered, names, drawn_rows, extra)
        if one_task:
            task = (task_titles or {}).get(tasks[0], tasks[0])
            title = task if not title else title if task in title else f"{title}\n{task}"
        if title:
            set_title(fig, title)
    return fig
