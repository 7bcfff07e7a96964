"""Maze grid statistics: hand-counted visitation, stored-slot selection in buffers, medians, cell means."""

import jax
import numpy as np
import pytest

from offon_jit.analysis import (
    buffer_positions,
    cell_mean,
    cell_table,
    median_visitation,
    outlier_threshold,
    visitation_along,
    visitation_counts,
)
from offon_jit.analysis.maze_grid import DEFAULT_MAZE_BINS, maze_layout
from offon_jit.replay import add, init_buffer, with_capacity

# On a 4 x 4 grid over the maze's (-0.3, 0.3)^2 arena, cells are 0.15 m wide.
POSITIONS = np.array([[-0.25, -0.25], [-0.2, -0.16], [0.05, 0.25], [0.29, 0.29], [0.01, 0.01], [-0.25, -0.25]])
HAND_COUNTS = {(0, 0): 3, (2, 3): 1, (3, 3): 1, (2, 2): 1}


def hand_grid(counts, bins=4):
    grid = np.zeros((bins, bins), np.int64)
    for cell, n in counts.items():
        grid[cell] = n
    return grid


def maze_buffer(steps_per_env: int, positions_per_step: np.ndarray) -> "object":
    """Buffer with 2 streams; step t writes positions_per_step[t] (shape (2, 2)) as obs[:, :2]."""
    buffer = init_buffer({"obs": ((4,), np.float32), "reward": ((), np.float32)}, capacity=2 * steps_per_env, num_envs=2)
    for xy in positions_per_step:
        obs = np.concatenate([xy, np.full((2, 2), 7.0)], axis=1).astype(np.float32)
        buffer = add(buffer, {"obs": obs, "reward": np.zeros(2, np.float32)})
    return buffer


def test_counts_equal_a_hand_count():
    counts = visitation_counts(POSITIONS, bins=4)
    np.testing.assert_array_equal(counts, hand_grid(HAND_COUNTS))
    assert counts.sum() == len(POSITIONS)


def test_buffer_counts_exclude_never_written_slots():
    # 3 of 4 slots per stream written; the empty slot would count as a visit at (0, 0) -> cell (2, 2).
    steps = POSITIONS.reshape(3, 2, 2)
    buffer = maze_buffer(4, steps)
    positions = buffer_positions(buffer)
    assert positions.shape == (6, 2)
    # Stream by stream, oldest first.
    np.testing.assert_allclose(positions, np.concatenate([steps[:, 0], steps[:, 1]]), atol=1e-6)
    np.testing.assert_array_equal(visitation_counts(buffer, bins=4), hand_grid(HAND_COUNTS))


def test_buffer_counts_after_wraparound_keep_only_the_newest_steps():
    old = np.full((3, 2, 2), 0.25)  # cell (3, 3); overwritten below
    new = POSITIONS.reshape(3, 2, 2)
    buffer = maze_buffer(3, np.concatenate([old, new]))
    assert int(buffer.num_added) == 6 and int(buffer.num_stored) == 3
    np.testing.assert_array_equal(visitation_counts(buffer, bins=4), hand_grid(HAND_COUNTS))
    # Grown after wrapping: the copy has 6 slots per stream but still stores 3 steps each.
    grown = with_capacity(buffer, 12)
    np.testing.assert_array_equal(visitation_counts(grown, bins=4), hand_grid(HAND_COUNTS))


def test_buffer_position_errors():
    buffer = maze_buffer(4, POSITIONS.reshape(3, 2, 2))
    with pytest.raises(KeyError, match="no field 'position'"):
        buffer_positions(buffer, field="position")
    with pytest.raises(ValueError, match="dims must name 2 entries"):
        buffer_positions(buffer, dims=(0, 9))
    batched = jax.tree.map(lambda x: np.stack([x, x]), buffer)
    with pytest.raises(ValueError, match="seed axis"):
        buffer_positions(batched)
    images = init_buffer({"obs": ((8, 8, 3), np.uint8)}, capacity=4, num_envs=2)
    with pytest.raises(ValueError, match="vector field"):
        buffer_positions(images)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        visitation_counts(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="bins"):
        visitation_counts(POSITIONS, bins=0)
    with pytest.raises(ValueError, match="NaN"):
        visitation_counts(np.array([[0.0, np.nan]]))


def test_median_visitation_along_a_trajectory_equals_the_hand_value():
    counts = hand_grid({(0, 0): 5, (1, 0): 0, (2, 0): 2, (3, 0): 7})
    trajectory = np.array([[-0.25, -0.25], [-0.1, -0.25], [0.1, -0.25], [0.25, -0.25]])
    np.testing.assert_array_equal(visitation_along(counts, trajectory), [5, 0, 2, 7])
    assert median_visitation(counts, trajectory) == 3.5  # median of 0, 2, 5, 7
    # Every step counts: lingering in the 7-cell moves the median.
    lingering = np.concatenate([trajectory, np.repeat(trajectory[3:], 3, axis=0)])
    assert median_visitation(counts, lingering) == 7.0
    # Invalid steps (after the episode ended) are ignored.
    assert median_visitation(counts, trajectory, valid=np.array([True, False, True, True])) == 5.0
    with pytest.raises(ValueError, match="bool array"):
        median_visitation(counts, trajectory, valid=np.array([1, 0, 1, 1]))


def test_cell_mean_and_outlier_threshold():
    trajectory = np.array([[-0.25, -0.25], [-0.2, -0.16], [0.25, 0.25]])
    grid = cell_mean(trajectory, [1.0, 3.0, 10.0], bins=4)
    assert grid[0, 0] == 2.0 and grid[3, 3] == 10.0
    assert np.isnan(grid).sum() == 14
    with pytest.raises(ValueError, match="like the positions"):
        cell_mean(trajectory, [1.0, 2.0], bins=4)
    counts = hand_grid({(0, 0): 1, (1, 1): 2, (2, 2): 3, (3, 3): 100})
    assert outlier_threshold(counts, 50) == 2.5  # median of the visited cells only
    assert outlier_threshold(counts, 100) == 100
    with pytest.raises(ValueError, match="all zero"):
        outlier_threshold(np.zeros((4, 4)))


def test_cell_table_lists_every_cell_with_centres():
    counts = visitation_counts(POSITIONS, bins=4)
    table = cell_table({"visits": counts, "loss": cell_mean(POSITIONS, np.arange(6.0), bins=4)})
    assert len(table) == 16
    first = table[0]
    assert (first["ix"], first["iy"], first["visits"]) == (0, 0, 3)
    assert first["x"] == pytest.approx(-0.225) and first["y"] == pytest.approx(-0.225)  # -0.3 + 0.15 / 2
    assert first["loss"] == pytest.approx((0 + 1 + 5) / 3)
    assert table[1]["loss"] is None
    with pytest.raises(ValueError, match="share one square"):
        cell_table({"a": np.zeros((4, 4)), "b": np.zeros((3, 3))})


def test_default_bins_put_the_maze_walls_on_cell_borders():
    layout = maze_layout()
    xmin, xmax, ymin, ymax = layout.arena
    cell = np.array([xmax - xmin, ymax - ymin]) / DEFAULT_MAZE_BINS
    walls = np.array(layout.walls)  # rows (xmin, xmax, ymin, ymax)
    borders = np.concatenate([(walls[:, :2] - xmin) / cell[0], (walls[:, 2:] - ymin) / cell[1]], axis=1)
    np.testing.assert_allclose(borders, np.round(borders), atol=1e-9)
    assert cell == pytest.approx(2 * layout.mass_radius)
