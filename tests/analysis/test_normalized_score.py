"""Normalised mean across tasks: (score - random) / (Active's final - random), other metrics' rules, errors."""

import math
import warnings

import pytest

from offon_jit.analysis import aggregate, metric_ranges, normalized_mean_rows, score_ranges
from offon_jit.analysis.normalized_score import (
    NORMALIZED_MEAN_TASK,
    best_mean_value,
    normalize_rows,
    normalized_score,
)
from tests.analysis.synthetic import two_task_rows

# Active's final scores (each seed's last eval point, mean over seeds): a 20, b 300 (synthetic.two_task_rows).
RANDOM = {"a": 4.0, "b": 100.0}


def by_key(rows, metric="score"):
    return {(r["label"], r["seed"], r["env_steps"]): r.get(metric) for r in rows}


def test_score_ranges_are_the_random_score_and_the_active_final_score():
    task_rows = two_task_rows()
    assert score_ranges(task_rows, random_scores=RANDOM) == {"a": (4.0, 20.0), "b": (100.0, 300.0)}
    assert score_ranges(task_rows, random_scores=RANDOM, reference_label="passive") == {"a": (4.0, 6.0),
                                                                                         "b": (100.0, 150.0)}
    assert normalized_score(12.0, 4.0, 20.0) == 0.5 and math.isnan(normalized_score(12.0, 20.0, 20.0))


def test_normalized_mean_matches_hand_computation():
    rows = normalized_mean_rows(two_task_rows(), random_scores=RANDOM)
    values = by_key(rows)
    # Active seed 0 at 10: ((10 - 4) / 16 + (200 - 100) / 200) / 2; seed 1: ((30 - 4) / 16 + (400 - 100) / 200) / 2.
    assert values[("active", 0, 10)] == pytest.approx((0.375 + 0.5) / 2)
    assert values[("active", 1, 10)] == pytest.approx((1.625 + 1.5) / 2)
    assert values[("passive", 0, 10)] == pytest.approx((0.0 + 0.25) / 2)
    assert values[("passive", 1, 10)] == pytest.approx((0.25 + 0.25) / 2)
    assert values[("passive", 0, 0)] == pytest.approx((-0.25 - 0.5) / 2)  # below the random policy: negative
    assert all(r["task"] == NORMALIZED_MEAN_TASK and r["num_tasks"] == 2 for r in rows)
    curves = aggregate(rows, "score")
    assert curves["active"].mean[1] == pytest.approx(1.0)  # the Active's final score is 1 by definition
    assert curves["passive"].mean[1] == pytest.approx(0.1875)
    assert curves["passive"].std[1] == pytest.approx(0.0625)


def test_normalised_scores_do_not_depend_on_the_other_agents_of_an_experiment():
    """The old rule (the best curve's peak) changed every value when a better agent joined; this one does not."""
    alone = by_key(normalized_mean_rows(two_task_rows(), random_scores=RANDOM))
    task_rows = two_task_rows()
    for task, rows in task_rows.items():
        rows += [dict(r, agent="tandem", score=r["score"] * 10) for r in rows if r["agent"] == "active"]
    joined = by_key(normalized_mean_rows(task_rows, random_scores=RANDOM))
    assert {k: v for k, v in joined.items() if k[0] != "tandem"} == pytest.approx(alone)
    assert joined[("tandem", 1, 10)] > 5


def test_reference_not_above_random_gives_nan_with_a_warning():
    with pytest.warns(UserWarning, match=r"undefined .* b: reference 300 <= random 300"):
        rows = normalized_mean_rows(two_task_rows(), ["score", "ood_ratio"], random_scores={"a": 4.0, "b": 300.0})
    assert all(math.isnan(r["score"]) for r in rows)
    assert by_key(rows, "ood_ratio")[("passive", 1, 0)] == pytest.approx((0.4 + 1.2) / 2)  # other metrics unaffected


def test_explicit_score_references_replace_the_measured_ones():
    rows = normalized_mean_rows(two_task_rows(), score_references={"a": (0, 40), "b": (100, 300)})
    assert by_key(rows)[("active", 0, 10)] == pytest.approx((10 / 40 + 100 / 200) / 2)


def test_other_metrics_keep_zero_to_best_mean_curve_value():
    task_rows = two_task_rows()
    assert best_mean_value(task_rows["a"]) == 20.0
    assert metric_ranges(task_rows, "score") == {"a": (0.0, 20.0), "b": (0.0, 300.0)}
    loss_rows = {t: [dict(r, eval_wm_loss=r["score"] + 1.0) for r in rows] for t, rows in task_rows.items()}
    rows = normalized_mean_rows(loss_rows, ["eval_wm_loss"])  # no random scores needed without score
    assert by_key(rows, "eval_wm_loss")[("active", 0, 10)] == pytest.approx((11 / 21 + 201 / 301) / 2)


def test_plain_metrics_are_averaged_without_normalisation():
    rows = normalized_mean_rows(two_task_rows(), ["score", "ood_ratio"], random_scores=RANDOM)
    ood = by_key(rows, "ood_ratio")
    assert ood[("passive", 1, 0)] == pytest.approx((0.4 + 1.2) / 2)


def test_labels_restrict_the_average_but_the_reference_comes_from_all_rows():
    rows = normalized_mean_rows(two_task_rows(), random_scores=RANDOM, labels=["passive"])
    assert {r["label"] for r in rows} == {"passive"}
    assert by_key(rows)[("passive", 1, 10)] == pytest.approx(0.25)


def test_points_and_labels_missing_from_a_task_are_left_out():
    task_rows = two_task_rows()
    task_rows["b"] = [r for r in task_rows["b"] if not (r["agent"] == "active" and r["seed"] == 1 and r["env_steps"] == 10)]
    task_rows["a"].append({"agent": "tandem", "seed": 0, "env_steps": 10, "score": 3.0})
    with pytest.warns(UserWarning, match="tandem"):
        rows = normalized_mean_rows(task_rows, random_scores=RANDOM)
    keys = by_key(rows)
    assert ("active", 1, 10) not in keys and ("active", 0, 10) in keys
    assert not any(label == "tandem" for label, _, _ in keys)


def test_normalize_rows_keeps_missing_values_missing():
    rows = [{"agent": "x", "seed": 0, "env_steps": 0, "score": 5.0}, {"agent": "x", "seed": 0, "env_steps": 1}]
    out = normalize_rows(rows, "score", 0.0, 10.0)
    assert out[0]["score"] == 0.5 and "score" not in out[1] and rows[0]["score"] == 5.0


def test_errors_name_the_problem():
    task_rows = two_task_rows()
    with pytest.raises(ValueError, match="needs each task's random-policy score"):
        normalized_mean_rows(task_rows)
    with pytest.raises(KeyError, match=r"random-policy scores missing for tasks \['b'\]"):
        normalized_mean_rows(task_rows, random_scores={"a": 1.0})
    with pytest.raises(ValueError, match="must be finite"):
        normalized_mean_rows(task_rows, random_scores={"a": 1.0, "b": math.nan})
    with pytest.raises(KeyError, match="unknown curve labels"):
        normalized_mean_rows(task_rows, random_scores=RANDOM, reference_label="tandem")
    with pytest.raises(KeyError, match=r"missing for tasks \['b'\]"):
        normalized_mean_rows(task_rows, score_references={"a": (0, 1)})
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        normalized_mean_rows(task_rows, ["nope"])
    zero = {"z": [{"agent": "a", "seed": 0, "env_steps": 0, "score": 0.0}]}
    with pytest.raises(ValueError, match="low < high"):
        metric_ranges(zero, "score")
    with pytest.raises(ValueError, match="non-empty dict"):
        normalized_mean_rows({})
    with pytest.raises(ValueError, match="no metric rows"):
        normalized_mean_rows({"a": []})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no curve label is present in all"):
            normalized_mean_rows({"a": task_rows["a"], "c": [{"agent": "other", "seed": 0, "env_steps": 0, "score": 1.0}]},
                                 score_references={"a": (0, 1), "c": (0, 1)})
