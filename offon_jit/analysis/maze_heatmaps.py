"""Point-mass maze heatmaps: buffer visitation (Fig. 5) and trajectories over visitation and loss (Fig. 2).

Visitation heatmaps paint never-visited cells grey and cells above the outlier threshold
(default: the 99th percentile of visited cells) dark red, as the paper's Fig. 5 caption
says; walls, start (yellow) and goal (red) come from the maze model. Fig. 2 shows, per
agent, the buffer visitation of the cells its final test trajectory covers and the mean
world-model loss per covered cell, each with the trajectory drawn on top; the median
visitation along the trajectory is printed in the panel (maze_grid.median_visitation).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from offon_jit.analysis.curves import curve_legend, draw_curves
from offon_jit.analysis.episode_traces import validate_traces
from offon_jit.analysis.maze_grid import (
    DEFAULT_MAZE_BINS,
    DEFAULT_OUTLIER_PERCENTILE,
    cell_mean,
    maze_layout,
    median_visitation,
    outlier_threshold,
    validate_counts,
    visitation_counts,
)
from offon_jit.analysis.rows import validate_rows
from offon_jit.analysis.style import (
    curve_styles,
    display_names,
    label_name,
    new_figure,
    paper_style,
)

UNVISITED_COLOR = "#bdbdbd"
OUTLIER_COLOR = "#67000d"  # dark red
WALL_COLOR = "#303030"
VISITATION_CMAP = "viridis"
LOSS_CMAP = "plasma"
TRAJECTORY_COLOR = "white"


def _edges(bins: int) -> tuple[np.ndarray, np.ndarray]:
    xmin, xmax, ymin, ymax = maze_layout().arena
    return np.linspace(xmin, xmax, bins + 1), np.linspace(ymin, ymax, bins + 1)


def draw_maze(ax: Axes) -> None:
    """Walls, start (yellow) and goal (red) of the maze on `ax`, in world metres."""
    layout = maze_layout()
    for xmin, xmax, ymin, ymax in (*layout.outer_walls, *layout.walls):
        ax.add_patch(Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, facecolor=WALL_COLOR, edgecolor="none", zorder=3))
    ax.add_patch(Circle(layout.goal, max(layout.goal_radius, 0.015), facecolor="red", edgecolor="black", linewidth=0.5, zorder=5))
    ax.add_patch(Circle(layout.start, layout.mass_radius, facecolor="gold", edgecolor="black", linewidth=0.5, zorder=5))
    outer = np.array(layout.outer_walls)
    ax.set_xlim(outer[:, 0].min(), outer[:, 1].max())
    ax.set_ylim(outer[:, 2].min(), outer[:, 3].max())
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _checked_mask(show, shape) -> np.ndarray:
    if show is None:
        return np.ones(shape, bool)
    show = np.asarray(show)
    if show.shape != shape or show.dtype != bool:
        raise ValueError(f"show must be a bool grid of shape {shape}, got {show.dtype} {show.shape}")
    return show


def draw_visitation(
    ax: Axes,
    counts,
    *,
    show=None,
    threshold: float | None = None,
    percentile: float = DEFAULT_OUTLIER_PERCENTILE,
    colorbar: bool = True,
):
    """Visitation heatmap of a (bins, bins) [ix, iy] count grid on `ax`, with the maze.

    Cells outside the bool grid `show` are left blank (Fig. 2 shows only the trajectory's
    cells); shown cells with zero count are grey, those above `threshold` (default: the
    `percentile` of the visited cells of the whole grid) dark red.
    """
    counts = validate_counts(counts)
    show = _checked_mask(show, counts.shape)
    threshold = outlier_threshold(counts, percentile) if threshold is None else float(threshold)
    if not threshold > 0:
        raise ValueError(f"outlier threshold must be positive, got {threshold}")
    x_edges, y_edges = _edges(counts.shape[0])
    unvisited = np.ma.masked_where(~(show & (counts == 0)), np.zeros(counts.shape))
    ax.pcolormesh(x_edges, y_edges, unvisited.T, cmap=ListedColormap([UNVISITED_COLOR]), vmin=0, vmax=1)
    visited = np.ma.masked_where(~(show & (counts > 0)), counts.astype(np.float64))
    colormap = matplotlib.colormaps[VISITATION_CMAP].with_extremes(over=OUTLIER_COLOR)
    mesh = ax.pcolormesh(x_edges, y_edges, visited.T, cmap=colormap, norm=Normalize(0.0, threshold))
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, extend="max", shrink=0.8, label="visits")
    draw_maze(ax)
    return mesh


def draw_cell_values(ax: Axes, grid, *, vmax: float | None = None, label: str = "WM loss", colorbar: bool = True):
    """Heatmap of per-cell values (NaN = blank), e.g. mean world-model loss along a trajectory."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1]:
        raise ValueError(f"grid must be square (bins, bins), got {grid.shape}")
    if np.all(np.isnan(grid)):
        raise ValueError("grid has no value (all NaN)")
    x_edges, y_edges = _edges(grid.shape[0])
    vmax = float(np.nanmax(grid)) if vmax is None else float(vmax)
    vmin = min(0.0, float(np.nanmin(grid)))
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(grid).T, cmap=LOSS_CMAP,
                         norm=Normalize(vmin, vmax if vmax > vmin else vmin + 1.0))
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, shrink=0.8, label=label)
    draw_maze(ax)
    return mesh


def draw_trajectory(ax: Axes, positions, valid=None) -> None:
    """The trajectory as a line (white with a black outline) ending in a cross."""
    positions = np.asarray(positions, dtype=np.float64)
    if valid is not None:
        positions = positions[np.asarray(valid, bool)]
    # Thin and translucent, so the cells under the path stay readable.
    ax.plot(positions[:, 0], positions[:, 1], color="black", linewidth=1.4, alpha=0.6, zorder=6)
    ax.plot(positions[:, 0], positions[:, 1], color=TRAJECTORY_COLOR, linewidth=0.6, alpha=0.8, zorder=7)
    ax.plot(positions[-1, 0], positions[-1, 1], marker="x", color="black", markersize=5, zorder=8)


def plot_visitation_heatmaps(
    datasets: Mapping[str, object],
    bins: int = DEFAULT_MAZE_BINS,
    *,
    percentile: float = DEFAULT_OUTLIER_PERCENTILE,
    field: str = "obs",
    dims: Sequence[int] = (0, 1),
    panel_size: float = 2.6,
) -> Figure:
    """Fig. 5: one visitation heatmap per dataset {title: ReplayBuffer or (N, 2) positions}."""
    if not isinstance(datasets, Mapping) or not datasets:
        raise ValueError("datasets must be a non-empty dict title -> ReplayBuffer or (N, 2) positions")
    counts = {name: visitation_counts(source, bins, field=field, dims=dims) for name, source in datasets.items()}
    with paper_style():
        fig = new_figure(panel_size * len(counts) + 0.6, panel_size)
        axes = np.atleast_1d(fig.subplots(1, len(counts), squeeze=False)[0])
        for ax, (name, grid) in zip(axes, counts.items()):
            draw_visitation(ax, grid, percentile=percentile)
            ax.set_title(name)
    return fig


def trace_positions(label: str, trace: Mapping, dims: Sequence[int] = (0, 1)) -> np.ndarray:
    """(T, 2) maze positions of a trace: its "position", else obs[:, dims] of a proprio trace
    (dmc/point_mass_maze-proprio observes (x, y, vx, vy))."""
    if "position" in trace:
        return np.asarray(trace["position"], dtype=np.float64)
    obs = np.asarray(trace["obs"]) if "obs" in trace else None
    if obs is None or obs.ndim != 2 or obs.dtype.kind not in "iuf":
        raise KeyError(f"trace {label!r} has no 'position' (T, 2) array and no vector 'obs' to read (x, y) from")
    dims = list(dims)
    if len(dims) != 2 or not all(-obs.shape[1] <= d < obs.shape[1] for d in dims):
        raise ValueError(f"dims must name 2 entries of trace {label!r}'s {obs.shape[1]}-d obs, got {dims}")
    return obs[:, dims].astype(np.float64)


def _trajectory_stats(traces, buffers, bins, field, dims) -> dict[str, dict]:
    traces = validate_traces(traces)
    if not isinstance(buffers, Mapping):
        raise ValueError("buffers must be a dict label -> ReplayBuffer or (N, 2) positions")
    missing = [label for label in traces if label not in buffers]
    if missing:
        raise KeyError(f"no buffer for traces {missing}; buffers given for {list(buffers)}")
    out = {}
    for label, trace in traces.items():
        positions = trace_positions(label, trace, dims)
        counts = visitation_counts(buffers[label], bins, field=field, dims=dims)
        valid = trace["valid"] & np.isfinite(trace["wm_loss"])
        out[label] = {
            "trace": trace,
            "positions": positions,
            "valid": valid,
            "counts": counts,
            "loss_grid": cell_mean(positions, trace["wm_loss"], bins, valid=valid),
            "median_visitation": median_visitation(counts, positions, valid=valid),
        }
    return out


def trajectory_statistics(
    traces: Mapping[str, Mapping],
    buffers: Mapping[str, object],
    bins: int = DEFAULT_MAZE_BINS,
    *,
    field: str = "obs",
    dims: Sequence[int] = (0, 1),
) -> list[dict]:
    """The numbers behind Fig. 2 b-d, one dict per label: median visitation along the
    trajectory, valid steps, mean WM loss, cells covered, and the buffer's visited cells."""
    stats = _trajectory_stats(traces, buffers, bins, field, dims)
    return [
        {
            "label": label,
            "median_visitation": s["median_visitation"],
            "steps": int(s["valid"].sum()),
            "mean_wm_loss": float(s["trace"]["wm_loss"][s["valid"]].mean()),
            "trajectory_cells": int(np.isfinite(s["loss_grid"]).sum()),
            "buffer_visited_cells": int((s["counts"] > 0).sum()),
            "buffer_steps": int(s["counts"].sum()),
        }
        for label, s in stats.items()
    ]


def plot_maze_figure(
    score_rows: Sequence[Mapping],
    traces: Mapping[str, Mapping],
    buffers: Mapping[str, object],
    bins: int = DEFAULT_MAZE_BINS,
    *,
    percentile: float = DEFAULT_OUTLIER_PERCENTILE,
    field: str = "obs",
    dims: Sequence[int] = (0, 1),
    panel_size: float = 2.4,
) -> Figure:
    """Fig. 2: (a) score curves; then one column per agent (b, c, d, ...): top, the buffer
    visitation of the cells its final test trajectory covers; bottom, the mean WM loss per
    covered cell; the trajectory drawn on both.

    `traces` {label: trace with "wm_loss" and "position" (else positions are obs[:, dims])};
    `buffers` {label: the buffer that agent trained on (for Passive/Tandem the Active
    agent's final buffer), or (N, 2) positions}; `field`/`dims` locate (x, y) in buffer
    steps. The loss colour scale is shared across agents.
    """
    score_rows = validate_rows(score_rows, where="score_rows")
    stats = _trajectory_stats(traces, buffers, bins, field, dims)
    styles, names = curve_styles(score_rows), display_names(score_rows)
    loss_max = max(float(np.nanmax(s["loss_grid"])) for s in stats.values())
    with paper_style():
        fig = new_figure(panel_size * (1.6 + len(stats)) + 0.8, 2 * panel_size)
        grid = fig.add_gridspec(2, 1 + len(stats), width_ratios=[1.6] + [1.0] * len(stats))
        score_ax = fig.add_subplot(grid[:, 0])
        lines = draw_curves(score_ax, score_rows, "score", styles)
        score_ax.set_title("a) Episode score")
        score_ax.set_xlabel("Env steps")
        score_ax.set_ylabel("Episode score")
        curve_legend(fig, lines, names, score_rows)
        for k, (label, s) in enumerate(stats.items()):
            positions = s["positions"]
            top, bottom = fig.add_subplot(grid[0, 1 + k]), fig.add_subplot(grid[1, 1 + k])
            on_trajectory = np.isfinite(s["loss_grid"])
            threshold = outlier_threshold(s["counts"], percentile)
            draw_visitation(top, s["counts"], show=on_trajectory, threshold=threshold, colorbar=True)
            draw_trajectory(top, positions, s["valid"])
            top.set_title(f"{chr(ord('b') + k)}) {names.get(label, label_name(label))}\n"
                          f"median visits {s['median_visitation']:g}")
            draw_cell_values(bottom, s["loss_grid"], vmax=loss_max)
            draw_trajectory(bottom, positions, s["valid"])
    return fig
