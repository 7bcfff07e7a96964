"""Comparisons of run outputs shared by the engine tests: metric rows and parameter trees."""

import jax
import numpy as np

KEY_COLUMNS = ("agent", "seed", "env_steps")


def by_key(rows):
    return {tuple(r[k] for k in KEY_COLUMNS): r for r in rows}


def assert_rows_close(rows_a, rows_b, rtol=1e-4, atol=1e-4, skip=()):
    a, b = by_key(rows_a), by_key(rows_b)
    assert a.keys() == b.keys()
    for key in a:
        for metric, value in a[key].items():
            if isinstance(value, float) and not metric.startswith(skip):
                np.testing.assert_allclose(value, b[key][metric], rtol=rtol, atol=atol, err_msg=f"{key} {metric}")


def assert_trees_close(a, b, rtol=1e-4, atol=1e-5):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)
