"""Comparisons of run outputs shared by the engine tests: metric rows, parameter trees, replay buffers."""

import jax
import numpy as np

from offon_jit.metrics_log import TIMING_COLUMNS
from offon_jit.replay import load_buffer

KEY_COLUMNS = ("agent", "hparam_value", "expl_weight", "seed", "env_steps")


def by_key(rows):
    keyed = {tuple(r.get(k) for k in KEY_COLUMNS): r for r in rows}
    assert len(keyed) == len(rows), "two rows share a key: a row was written twice"
    return keyed


def assert_rows_close(rows_a, rows_b, rtol=1e-4, atol=1e-4, skip=()):
    """Every metric of every row close, but the wall-clock columns (they differ between any two runs)."""
    a, b = by_key(rows_a), by_key(rows_b)
    assert a.keys() == b.keys()
    for key in a:
        for metric, value in a[key].items():
            if isinstance(value, float) and not metric.startswith(tuple(skip)) and metric not in TIMING_COLUMNS:
                np.testing.assert_allclose(value, b[key][metric], rtol=rtol, atol=atol, err_msg=f"{key} {metric}")


def assert_trees_close(a, b, rtol=1e-4, atol=1e-5):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)


def assert_passive_buffer_is_the_saved_active_one(run_dir, passive, num_seeds):
    """A Passive's buffer after training holds every seed's saved Active data bit for bit."""
    for seed in range(num_seeds):
        saved = load_buffer(run_dir / "buffers" / f"active_seed{seed}.npz")
        for name, array in saved.data.items():
            np.testing.assert_array_equal(np.asarray(passive.buffer.data[name][seed]), np.asarray(array))
        assert int(passive.buffer.num_added[seed]) == int(saved.num_added)


def run_keeping_final_states(config, **study_args):
    """Run a Study; returns (study, summary, {phase name: final state}) captured at each phase's end."""
    from offon_jit.engine.study import Study

    finals = {}
    study = Study(config, progress=False, on_phase_end=lambda phase, state: finals.__setitem__(phase.name, state),
                  **study_args)
    summary = study.run()
    return study, summary, finals
