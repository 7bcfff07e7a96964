"""A run's quick-look plots: one PNG per metric, metric vs env steps per curve, mean and ±1 std over seeds.

`offon-jit plot RUN_DIR` (and a study when it finishes) writes RUN_DIR/plots/<metric>.png. They look like
the experiment figures (offon_jit.analysis.style): the paper's names in a legend below the axes, one
colour family per agent family with distinct line styles and markers, and the band named in the legend.
The title names the task and the number of seeds from the run's config.json (left out if the file is
missing or unreadable, so plots of a bare metrics file still work).
"""

from __future__ import annotations

import json
import pathlib
from typing import Mapping, Sequence

from offon_jit.analysis.curves import curve_legend, draw_curves
from offon_jit.analysis.rows import metric_title, metric_value, validate_rows
from offon_jit.analysis.style import (
    curve_styles,
    display_names,
    new_figure,
    paper_style,
    save_figure,
    set_title,
)
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import read_rows

DEFAULT_PLOTS = ("score", "eval_wm_loss", "eval_td_loss", "ood_ratio", "value_error", "self_generated_pct")
PLOT_SIZE = (5.0, 3.2)
PLOT_DPI = 120


def run_facts(run_dir: pathlib.Path) -> str:
    """"debug/point_reach, 2 seeds" from the run's config.json; "" if it is missing or unreadable."""
    try:
        config = json.loads(RunLayout(run_dir).config.read_text())
        task, seeds = str(config["task"]), int(config["num_seeds"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"{task}, {seeds} seed{'s' if seeds != 1 else ''}"


def run_figure(rows: Sequence[Mapping], metric: str, facts: str = "", styles: Mapping | None = None):
    """One metric's curves as a Figure, None if no row has the metric. `facts` is the title's second line
    (task and seeds); `styles` keeps one look per curve across a run's plots."""
    rows = validate_rows(rows)
    if not any(metric_value(row, metric) is not None for row in rows):
        return None
    names = display_names(rows)
    with paper_style():
        figure = new_figure(*PLOT_SIZE)
        ax = figure.subplots()
        lines = draw_curves(ax, rows, metric, styles or curve_styles(rows))
        ax.set_xlabel("Env steps")
        ax.set_ylabel(metric_title(metric))
        curve_legend(figure, lines, names, rows)
        set_title(figure, metric_title(metric) + (f"\n{facts}" if facts else ""))
    return figure


def plot_run(run_dir: pathlib.Path, metrics: Sequence[str] = DEFAULT_PLOTS) -> list[pathlib.Path]:
    """RUN_DIR/plots/<metric>.png for each of `metrics` some row has; returns the paths written."""
    run_dir = pathlib.Path(run_dir)
    rows = read_rows(run_dir)
    if not rows:
        raise ValueError(f"{run_dir}: the metrics file has no rows yet")
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    facts, styles = run_facts(run_dir), curve_styles(rows)
    written = []
    for metric in metrics:
        figure = run_figure(rows, metric, facts, styles)
        if figure is not None:
            written.append(save_figure(figure, out_dir / f"{metric}.png", dpi=PLOT_DPI))
    return written
