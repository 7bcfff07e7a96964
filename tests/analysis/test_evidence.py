"""evidence.json: intervals against scipy, the fixed verdict rules, each finding's claims, and the schema."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from offon_jit.analysis import evidence, evidence_report
from offon_jit.analysis.evidence import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED


def test_mean_interval_is_the_t_interval():
    values = [1.0, 2.0, 4.0]
    out = evidence.mean_interval(values)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert out["mean"] == pytest.approx(7 / 3)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high))
    assert evidence.mean_interval([3.0])["ci_low"] is None


def test_difference_interval_matches_welch_and_scales_the_lower_side():
    a, b = [10.0, 12.0, 11.0, 13.0], [7.0, 9.5, 8.0]
    out = evidence.difference_interval(a, b)
    result = stats.ttest_ind(a, b, equal_var=False)
    low, high = result.confidence_interval(0.95)
    assert out["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high))
    assert out["p_value"] == pytest.approx(result.pvalue)
    scaled = evidence.difference_interval(a, b, factor=0.9)
    assert scaled["difference"] == pytest.approx(np.mean(a) - 0.9 * np.mean(b))
    constant = evidence.difference_interval([2.0, 2.0], [1.0, 1.0])
    assert (constant["ci_low"], constant["ci_high"]) == (1.0, 1.0)
    assert evidence.difference_interval([1.0], [0.0, 2.0])["ci_low"] is None


@pytest.mark.parametrize("low, high, margin, verdict", [
    (0.1, 2.0, 1.0, REPRODUCED),  # interval above 0
    (-0.5, 0.5, 1.0, NOT_REPRODUCED),  # excludes a difference as large as the margin
    (-3.0, -1.0, 1.0, NOT_REPRODUCED),  # significant the other way
    (-0.5, 1.5, 1.0, INCONCLUSIVE),  # straddles 0 and the margin
    (-1.0, 0.0, 0.0, NOT_REPRODUCED),  # zero margin (both means 0): upper bound <= 0
    (None, None, 1.0, INCONCLUSIVE),  # no interval
])
def test_claim_verdict_rules(low, high, margin, verdict):
    assert evidence.claim_verdict({"ci_low": low, "ci_high": high}, margin) == verdict


def test_combine():
    assert evidence.combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert evidence.combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert evidence.combine([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]) == NOT_REPRODUCED
    assert evidence.combine([]) == INCONCLUSIVE


def seeds(*values):
    return dict(enumerate(values))


def paper_like_finals():
    """Final values where every finding holds clearly (offline agents worse, expert split worse, ...)."""
    finals = {
        ("base", "active", "score"): seeds(100, 102, 98),
        ("base", "passive", "score"): seeds(60, 62, 58),
        ("base", "tandem", "score"): seeds(50, 55, 45),
        ("base", "active", "eval_wm_loss"): seeds(1.0, 1.1, 0.9),
        ("base", "passive", "eval_wm_loss"): seeds(2.0, 2.2, 1.8),
        ("base", "tandem", "eval_wm_loss"): seeds(2.5, 2.4, 2.6),
        ("base", "active", "ood_ratio"): seeds(1.0, 1.05, 0.95),
        ("base", "passive", "ood_ratio"): seeds(1.8, 1.9, 2.0),
        ("base", "tandem", "ood_ratio"): seeds(2.1, 2.0, 2.2),
        ("splits", "passive", "score"): seeds(60, 62, 58),
        ("splits", "passive_expert", "score"): seeds(20, 25, 15),
        ("splits", "passive", "eval_wm_loss"): seeds(2.0, 2.2, 1.8),
        ("splits", "passive_expert", "eval_wm_loss"): seeds(4.0, 4.2, 3.8),
        ("expl_data", "active", "score"): seeds(40, 42, 38),
        ("expl_data", "passive", "score"): seeds(39, 42, 38),
        ("expl_data", "tandem", "score"): seeds(38, 41, 37),
        ("self_generated", "active", "score"): seeds(100, 102, 98),
        ("self_generated", "passive_auto", "score"): seeds(97, 99, 98),
        ("self_generated", "passive_auto", "self_generated_pct"): seeds(2.0, 3.0, 2.5),
    }
    for interval, pct in ((512, 50.0), (2560, 10.0)):
        label = f"passive_fixed (fixed_interval={interval})"
        finals[("self_generated", label, "self_generated_pct")] = seeds(pct, pct + 0.5, pct - 0.5)
        finals[("self_generated", label, "score")] = seeds(90, 91, 92)
    return finals


def test_every_finding_is_reproduced_on_paper_like_values_and_the_document_validates():
    document = evidence.build_evidence({"task/x": paper_like_finals()}, context={"scale": "test"})
    evidence.validate_evidence(document)
    verdicts = {key: finding["verdict"] for key, finding in document["findings"].items()}
    assert verdicts == {key: REPRODUCED for key in "abcde"}
    claims_e = document["findings"]["e"]["per_task"]["task/x"]["claims"]
    assert len(claims_e) == 3  # recovery + one data comparison per fixed schedule
    assert claims_e[0]["factor"] == evidence.RECOVERY
    json.dumps(document)  # plain JSON
    assert "| a |" in evidence_report.markdown_summary(document)


def test_findings_are_not_reproduced_when_the_offline_agents_match_the_active():
    finals = paper_like_finals()
    for metric in ("eval_wm_loss", "ood_ratio"):  # tight enough for 3 seeds to exclude a 10% difference
        finals[("base", "active", metric)] = seeds(1.0, 1.01, 0.99)
    for key in list(finals):
        study, label, metric = key
        if study == "base" and label in ("passive", "tandem"):
            finals[key] = dict(finals[("base", "active", metric)])
    document = evidence.build_evidence({"task/x": finals})
    assert document["findings"]["a"]["verdict"] == NOT_REPRODUCED
    assert document["findings"]["b"]["verdict"] == NOT_REPRODUCED
    # Equal offline and Active scores make the task-data gap 0 while the expl-data gap is ~1: d fails too.
    assert document["findings"]["d"]["verdict"] == NOT_REPRODUCED


def test_finding_d_compares_per_seed_gaps():
    finals = paper_like_finals()
    claim = evidence.FINDINGS[3].claims(finals)[0]
    higher = claim.higher.values(finals)
    assert higher == {0: 40, 1: 40, 2: 40}  # Active - Passive on task data, seed by seed
    assert claim.lower.values(finals) == {0: 1, 1: 0, 2: 0}


def test_missing_study_or_agent_is_inconclusive_with_a_note():
    finals = {k: v for k, v in paper_like_finals().items() if k[0] != "expl_data"}
    del finals[("splits", "passive_expert", "score")]
    document = evidence.build_evidence({"task/x": finals})
    evidence.validate_evidence(document)
    d = document["findings"]["d"]
    assert d["verdict"] == INCONCLUSIVE and "expl_data" in d["per_task"]["task/x"]["note"]
    c = document["findings"]["c"]["per_task"]["task/x"]
    assert c["verdict"] == INCONCLUSIVE and "passive_expert" in c["note"]
    # The summary names a reason shared by several tasks once.
    two_tasks = evidence.build_evidence({"task/x": finals, "task/y": finals})
    [row_d] = [line for line in evidence_report.markdown_summary(two_tasks).splitlines() if line.startswith("| d |")]
    assert row_d.count("not run: no study expl_data") == 1
    # The forest plot tells the tasks' claims apart.
    rows = evidence_report.claim_rows(two_tasks)
    labels = {evidence_report.claim_label(row, True) for row in rows}
    assert len(labels) == len(rows) and any(label.startswith("(a) task/y: ") for label in labels)


def test_validate_evidence_rejects_a_broken_document():
    document = evidence.build_evidence({"task/x": paper_like_finals()})
    broken = json.loads(json.dumps(document))
    broken["findings"]["a"]["verdict"] = "maybe"
    with pytest.raises(ValueError, match="finding a"):
        evidence.validate_evidence(broken)
    missing = json.loads(json.dumps(document))
    del missing["findings"]["e"]
    with pytest.raises(ValueError, match="exactly"):
        evidence.validate_evidence(missing)


def test_forest_plot_draws_every_claim():
    document = evidence.build_evidence({"task/x": paper_like_finals()})
    figure = evidence_report.plot_evidence(document)
    ax = figure.axes[0]
    assert len(ax.get_yticks()) == len(evidence_report.claim_rows(document))
    first = evidence_report.claim_rows(document)[0]
    assert math.isfinite(evidence_report.relative(first, first["difference"]))


def test_active_above_random_is_a_one_sample_interval_against_the_random_score():
    finals = paper_like_finals()
    document = evidence.build_evidence({"task/x": finals}, random_scores={"task/x": 90.0})
    check = document["active_above_random"]["task/x"]
    low, high = stats.t.interval(0.95, 2, loc=10.0, scale=stats.sem([10.0, 12.0, 8.0]))
    assert check["difference"] == pytest.approx(10.0) and (check["ci_low"], check["ci_high"]) == pytest.approx((low, high))
    assert check["verdict"] == REPRODUCED
    assert evidence.build_evidence({"task/x": finals}, random_scores={"task/x": 100.0})["active_above_random"][
        "task/x"]["verdict"] == NOT_REPRODUCED  # the Active's mean is the random score: within the margin
    assert "Precondition on task/x" in evidence_report.markdown_summary(document)
