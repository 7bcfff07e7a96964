"""Checks shared by the burst tests: a Passive run's self-generated data sits after the Active's."""

import numpy as np


def assert_bursts_follow_active_data(run, index: int, active, bursts: int, burst_steps: int, per_stream: int):
    """Run `index` added `bursts` bursts after the Active's rows, left those rows bitwise as they were, and
    started every burst with fresh episodes in every stream. Returns the bursts' observations."""
    base = int(active.num_added)
    assert int(run.schedule.added[index]) == bursts * burst_steps
    assert int(run.buffer.num_added[index]) == base + bursts * per_stream
    for name, values in active.data.items():
        np.testing.assert_array_equal(np.asarray(run.buffer.data[name][index][:, :base]), np.asarray(values)[:, :base])
    first = np.asarray(run.buffer.data["is_first"][index])
    for burst in range(bursts):
        assert first[:, base + burst * per_stream].all()
    return np.asarray(run.buffer.data["obs"][index][:, base:base + bursts * per_stream])
