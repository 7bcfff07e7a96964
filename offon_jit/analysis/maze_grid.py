"""Point-mass maze statistics on a grid of cells: visitation counts, per-cell means, medians.

Grids have shape (bins, bins) and are indexed [ix, iy] like
envs.mjx_ports.point_mass_maze.discretize_position: ix counts cells from the left wall,
iy from the bottom wall, over the maze's free arena. DEFAULT_MAZE_BINS = 30 gives
0.02 m cells on the 0.6 m arena of the URLB maze: the point mass's diameter, and the
interior walls (0.04 m thick, ends at +-0.18 m) line up with cell borders. The paper
does not state its grid size.

Positions come either as an (N, 2) array or from a ReplayBuffer, where only the steps
each stream still stores count (never-written zero slots are not visits at (0, 0)).
For dmc/point_mass_maze-proprio the (x, y) position is obs[..., :2].
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from offon_jit.replay.buffer import ReplayBuffer

DEFAULT_MAZE_BINS = 30
DEFAULT_OUTLIER_PERCENTILE = 99.0


def _maze_module():
    # Imported on first use: it loads MuJoCo and dm_control, which curve-only analysis does not need.
    from envs.mjx_ports import point_mass_maze

    return point_mass_maze


def maze_layout():
    """The maze's MazeLayout (arena, walls, start, goal) from envs.mjx_ports.point_mass_maze."""
    return _maze_module().maze_layout()


def _checked_bins(bins) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    return int(bins)


def buffer_positions(buffer: ReplayBuffer, field: str = "obs", dims: Sequence[int] = (0, 1)) -> np.ndarray:
    """(N, 2) positions of the stored steps of one run's buffer, stream by stream, oldest first.

    Only absolute times [num_added - num_stored, num_added) of each stream are read, so
    slots that were never written (or hold nothing after a capacity change) are excluded.
    """
    if not isinstance(buffer, ReplayBuffer):
        raise ValueError(f"expected a ReplayBuffer, got {type(buffer).__name__}")
    if np.ndim(buffer.num_added):
        raise ValueError("buffer has a seed axis; pass one run's buffer, e.g. jax.tree.map(lambda x: x[seed], buffer)")
    if field not in buffer.data:
        raise KeyError(f"buffer has no field {field!r}; fields: {sorted(buffer.data)}")
    data = np.asarray(buffer.data[field])
    if data.ndim != 3:
        raise ValueError(
            f"buffer field {field!r} has per-step shape {data.shape[2:]}; positions need a vector field "
            "(e.g. the proprio obs of dmc/point_mass_maze-proprio)"
        )
    dims = list(dims)
    if len(dims) != 2 or not all(-data.shape[2] <= d < data.shape[2] for d in dims):
        raise ValueError(f"dims must name 2 entries of the {data.shape[2]}-d field {field!r}, got {dims}")
    num_added, num_stored = int(buffer.num_added), int(buffer.num_stored)
    slots = np.arange(num_added - num_stored, num_added) % buffer.steps_per_env
    return data[:, slots][..., dims].reshape(-1, 2).astype(np.float64)


def as_positions(source, *, field: str = "obs", dims: Sequence[int] = (0, 1), name: str = "positions") -> np.ndarray:
    """(N, 2) float positions from a ReplayBuffer or an array-like of shape (N, 2)."""
    if isinstance(source, ReplayBuffer):
        return buffer_positions(source, field, dims)
    positions = np.asarray(source, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return positions


def cells_of(positions, bins: int = DEFAULT_MAZE_BINS) -> np.ndarray:
    """(N, 2) int cell indices (ix, iy) of (N, 2) positions."""
    positions = as_positions(positions)
    return np.asarray(_maze_module().discretize_position(positions, _checked_bins(bins)))


def visitation_counts(source, bins: int = DEFAULT_MAZE_BINS, *, field: str = "obs", dims: Sequence[int] = (0, 1)) -> np.ndarray:
    """(bins, bins) int64 number of stored steps (or positions) per cell, indexed [ix, iy]."""
    bins = _checked_bins(bins)
    cells = cells_of(as_positions(source, field=field, dims=dims), bins)
    counts = np.zeros((bins, bins), np.int64)
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    return counts


def _checked_trajectory(positions, values=None, valid=None) -> tuple[np.ndarray, np.ndarray | None]:
    positions = as_positions(positions, name="trajectory positions")
    keep = np.ones(len(positions), bool)
    if valid is not None:
        valid = np.asarray(valid)
        if valid.shape != (len(positions),) or valid.dtype != bool:
            raise ValueError(f"valid must be a bool array of shape ({len(positions)},), got {valid.dtype} {valid.shape}")
        keep = valid
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(positions),):
            raise ValueError(f"values must have shape ({len(positions)},) like the positions, got {values.shape}")
        keep = keep & np.isfinite(values)
        values = values[keep]
    positions = positions[keep]
    if not len(positions):
        raise ValueError("trajectory has no valid steps")
    return positions, values


def cell_mean(positions, values, bins: int = DEFAULT_MAZE_BINS, valid=None) -> np.ndarray:
    """(bins, bins) mean of `values` (e.g. per-step world-model loss) over the steps in each cell; NaN elsewhere."""
    bins = _checked_bins(bins)
    positions, values = _checked_trajectory(positions, values, valid)
    cells = cells_of(positions, bins)
    sums = np.zeros((bins, bins))
    counts = np.zeros((bins, bins))
    np.add.at(sums, (cells[:, 0], cells[:, 1]), values)
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def validate_counts(counts) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.dtype.kind not in "iuf":
        raise ValueError(f"counts must be a square (bins, bins) numeric grid, got {counts.dtype} {counts.shape}")
    return counts


def visitation_along(counts, trajectory, valid=None) -> np.ndarray:
    """(T',) buffer visitation count of the cell of every (valid) trajectory step."""
    counts = validate_counts(counts)
    positions, _ = _checked_trajectory(trajectory, valid=valid)
    cells = cells_of(positions, counts.shape[0])
    return counts[cells[:, 0], cells[:, 1]]


def median_visitation(counts, trajectory, valid=None) -> float:
    """Median over the trajectory's steps of their cells' visitation counts (Fig. 2: 608.5 Active, 12.5 Passive).

    Every step counts, so a cell the agent lingers in weighs by its number of steps.
    """
    return float(np.median(visitation_along(counts, trajectory, valid)))


def outlier_threshold(counts, percentile: float = DEFAULT_OUTLIER_PERCENTILE) -> float:
    """The `percentile` of the visited cells' counts; cells above it are drawn as outliers."""
    counts = validate_counts(counts)
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    visited = counts[counts > 0]
    if not visited.size:
        raise ValueError("no visited cell: the counts are all zero")
    return float(np.percentile(visited, percentile))


def cell_table(grids: Mapping[str, np.ndarray]) -> list[dict]:
    """Long table of same-shape grids {column name: grid}: rows (ix, iy, x, y, one column per grid).

    x, y are the cell centres in metres; NaN values are written as None (CSV/JSON-friendly).
    """
    if not isinstance(grids, Mapping) or not grids:
        raise ValueError("grids must be a non-empty dict name -> (bins, bins) grid")
    arrays = {name: np.asarray(grid, dtype=np.float64) for name, grid in grids.items()}
    shapes = {grid.shape for grid in arrays.values()}
    if len(shapes) != 1 or any(len(s) != 2 or s[0] != s[1] for s in shapes):
        raise ValueError(f"grids must share one square (bins, bins) shape, got {sorted(shapes)}")
    bins = next(iter(shapes))[0]
    xmin, xmax, ymin, ymax = maze_layout().arena
    xs = xmin + (np.arange(bins) + 0.5) * (xmax - xmin) / bins
    ys = ymin + (np.arange(bins) + 0.5) * (ymax - ymin) / bins
    table = []
    for ix in range(bins):
        for iy in range(bins):
            row = {"ix": ix, "iy": iy, "x": float(xs[ix]), "y": float(ys[iy])}
            for name, grid in arrays.items():
                value = grid[ix, iy]
                row[name] = None if np.isnan(value) else float(value)
            table.append(row)
    return table
