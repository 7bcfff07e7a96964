"""Seed aggregation against numpy, missing metrics, duplicates, and the long curve table."""

import numpy as np
import pytest

from offon_jit.analysis import aggregate, aggregate_metrics, curve_table
from tests.analysis.synthetic import random_rows


def test_mean_and_std_match_numpy_per_label_and_step():
    rows = random_rows(num_seeds=3)
    curves = aggregate(rows, "score")
    assert list(curves) == ["active", "passive", "passive_auto (ood_threshold=1.35)"]
    for label, curve in curves.items():
        np.testing.assert_array_equal(curve.steps, [0, 5000, 10000, 15000])
        matrix = np.array([[r["score"] for r in rows if (r.get("label") or r["agent"]) == label and r["env_steps"] == s]
                           for s in curve.steps])
        assert matrix.shape == (4, 3)
        np.testing.assert_allclose(curve.mean, matrix.mean(axis=1))
        np.testing.assert_allclose(curve.std, matrix.std(axis=1))


def test_missing_metrics_skip_rows_and_labels():
    rows = random_rows(num_seeds=2)
    rows[0]["score"] = None  # active, seed 0, step 0
    del rows[1]["score"]  # active, seed 0, step 5000
    rows[2]["score"] = float("nan")  # active, seed 0, step 10000
    curves = aggregate(rows, "score")
    active_seed1 = {r["env_steps"]: r["score"] for r in rows if r["agent"] == "active" and r["seed"] == 1}
    np.testing.assert_allclose(curves["active"].mean[:3], [active_seed1[s] for s in (0, 5000, 10000)])
    np.testing.assert_allclose(curves["active"].std[:3], 0.0)
    pct = aggregate(rows, "self_generated_pct")
    assert list(pct) == ["passive_auto (ood_threshold=1.35)"]  # Active and Passive never log it
    both = aggregate_metrics(rows, ["score", "self_generated_pct"])
    assert set(both) == {"score", "self_generated_pct"}


def test_min_seeds_drops_steps_with_too_few_seeds_and_labels_restrict():
    rows = [r for r in random_rows(num_seeds=2) if not (r["seed"] == 1 and r["env_steps"] == 15000)]
    assert aggregate(rows, "score")["active"].steps[-1] == 15000
    assert aggregate(rows, "score", min_seeds=2)["active"].steps[-1] == 10000
    assert list(aggregate(rows, "score", labels=["passive", "active", "ghost"])) == ["passive", "active"]


def test_errors():
    rows = random_rows(num_seeds=1)
    with pytest.raises(KeyError, match="unknown metric 'scor'.*available"):
        aggregate(rows, "scor")
    with pytest.raises(ValueError, match="no metric rows"):
        aggregate([], "score")
    with pytest.raises(ValueError, match="missing \\['seed'\\]"):
        aggregate([{"agent": "a", "env_steps": 0, "score": 1}], "score")
    with pytest.raises(ValueError, match="duplicated eval rows"):
        aggregate(rows + [dict(rows[0])], "score")
    with pytest.raises(ValueError, match="min_seeds"):
        aggregate(rows, "score", min_seeds=0)
    with pytest.raises(ValueError, match="list of metric rows"):
        aggregate({"task": rows}, "score")


def test_curve_table_has_one_row_per_point_with_seed_counts():
    rows = random_rows(num_seeds=3)
    table = curve_table({"t1": rows, "t2": [r for r in rows if r["agent"] == "active"]}, ["score", "self_generated_pct"])
    t1_score = [e for e in table if e["task"] == "t1" and e["metric"] == "score"]
    assert len(t1_score) == 3 * 4 and all(e["num_seeds"] == 3 for e in t1_score)
    assert not [e for e in table if e["task"] == "t2" and e["metric"] == "self_generated_pct"]
    curve = aggregate(rows, "score")["passive"]
    passive = [e for e in t1_score if e["label"] == "passive"]
    np.testing.assert_allclose([e["mean"] for e in passive], curve.mean)
    assert [e["env_steps"] for e in passive] == [0, 5000, 10000, 15000]
