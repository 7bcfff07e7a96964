"""Normalised mean across tasks: hand-computed values, references, plain-mean metrics, errors."""

import pytest

from offon_jit.analysis import aggregate, normalized_mean_rows, reference_ranges
from offon_jit.analysis.normalized_score import (
    NORMALIZED_MEAN_TASK,
    best_mean_value,
    normalize_rows,
)
from tests.analysis.synthetic import two_task_rows


def by_key(rows, metric="score"):
    return {(r["label"], r["seed"], r["env_steps"]): r.get(metric) for r in rows}


def test_automatic_ranges_are_zero_to_best_mean_curve_value():
    task_rows = two_task_rows()
    assert best_mean_value(task_rows["a"]) == 20.0
    assert reference_ranges(task_rows) == {"a": (0.0, 20.0), "b": (0.0, 300.0)}


def test_normalized_mean_matches_hand_computation():
    rows = normalized_mean_rows(two_task_rows())
    values = by_key(rows)
    # Active seed 0 at 10: (10/20 + 200/300) / 2; seed 1: (30/20 + 400/300) / 2.
    assert values[("active", 0, 10)] == pytest.approx((0.5 + 2 / 3) / 2)
    assert values[("active", 1, 10)] == pytest.approx((1.5 + 4 / 3) / 2)
    assert values[("passive", 0, 10)] == pytest.approx((4 / 20 + 150 / 300) / 2)
    assert values[("active", 0, 0)] == pytest.approx((0 + 100 / 300) / 2)
    assert all(r["task"] == NORMALIZED_MEAN_TASK and r["num_tasks"] == 2 for r in rows)
    curves = aggregate(rows, "score")
    assert curves["active"].mean[1] == pytest.approx(1.0)  # mean over seeds of the two values above
    assert curves["passive"].mean[1] == pytest.approx(0.4)
    assert curves["passive"].std[1] == pytest.approx(0.05)


def test_reference_ranges_replace_the_automatic_ones():
    rows = normalized_mean_rows(two_task_rows(), score_references={"a": (0, 40), "b": (100, 300)})
    assert by_key(rows)[("active", 0, 10)] == pytest.approx((10 / 40 + 100 / 200) / 2)


def test_plain_metrics_are_averaged_without_normalisation():
    rows = normalized_mean_rows(two_task_rows(), ["score", "ood_ratio"])
    ood = by_key(rows, "ood_ratio")
    assert ood[("passive", 1, 0)] == pytest.approx((0.4 + 1.2) / 2)


def test_points_and_labels_missing_from_a_task_are_left_out():
    task_rows = two_task_rows()
    task_rows["b"] = [r for r in task_rows["b"] if not (r["agent"] == "active" and r["seed"] == 1 and r["env_steps"] == 10)]
    task_rows["a"].append({"agent": "tandem", "seed": 0, "env_steps": 10, "score": 3.0})
    with pytest.warns(UserWarning, match="tandem"):
        rows = normalized_mean_rows(task_rows)
    keys = by_key(rows)
    assert ("active", 1, 10) not in keys and ("active", 0, 10) in keys
    assert not any(label == "tandem" for label, _, _ in keys)


def test_normalize_rows_keeps_missing_values_missing():
    rows = [{"agent": "x", "seed": 0, "env_steps": 0, "score": 5.0}, {"agent": "x", "seed": 0, "env_steps": 1}]
    out = normalize_rows(rows, "score", 0.0, 10.0)
    assert out[0]["score"] == 0.5 and "score" not in out[1] and rows[0]["score"] == 5.0


def test_errors_name_the_problem():
    task_rows = two_task_rows()
    with pytest.raises(KeyError, match=r"missing for tasks \['b'\]"):
        normalized_mean_rows(task_rows, score_references={"a": (0, 1)})
    with pytest.raises(ValueError, match="low < high"):
        normalized_mean_rows(task_rows, score_references={"a": (0, 1), "b": (5, 5)})
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        normalized_mean_rows(task_rows, ["nope"])
    zero = {"z": [{"agent": "a", "seed": 0, "env_steps": 0, "score": 0.0}]}
    with pytest.raises(ValueError, match="low < high"):
        reference_ranges(zero)
    with pytest.raises(ValueError, match="non-empty dict"):
        normalized_mean_rows({})
    with pytest.raises(ValueError, match="no metric rows"):
        normalized_mean_rows({"a": []})
    with pytest.raises(ValueError, match="no curve label is present in all"):
        with pytest.warns(UserWarning):
            normalized_mean_rows({"a": task_rows["a"], "c": [{"agent": "other", "seed": 0, "env_steps": 0, "score": 1.0}]})
