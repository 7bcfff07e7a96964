"""Offline OOD signal validation: Spearman correlations on hand-made rows, the score gap, the winner,
the schedule comparison against scipy, the figure and the markdown report."""

import math

import numpy as np
import pytest
from scipy import stats

from offon_jit.analysis import offline_ood, save_figure
from offon_jit.engine.offline_signals import SIGNALS

DISAG, KL, GAP = SIGNALS
AUTO = "passive_auto (ood_threshold=1.35)"
OFFLINE = "passive_offline_auto (offline_threshold=1.5)"


def row(agent, seed, steps, label=None, **metrics):
    out = {"agent": agent, "seed": seed, "env_steps": steps, **metrics}
    if label:
        out["label"] = label
    return out


def monotone_rows():
    """Three curves x 2 seeds x steps 0..3. At steps > 0: disag = exp(3 * ood) (monotone in the OOD ratio,
    spanning > 10x), kl = 5 - ood (anti-monotone), value gap constant; a curve's score is the Active's
    minus 10 / ood, so the gap falls as the OOD ratio rises (kl then rises with the gap). Step-0 rows carry
    values that would break every ordering if they were counted."""
    rows = []
    oods = {"active": 0.5, "passive": 1.0, AUTO: 2.0}
    for label, base in oods.items():
        agent = label.split(" ")[0]
        for seed in (0, 1):
            rows.append(row(agent, seed, 0, label if label == AUTO else None, score=0.0, ood_ratio=0.1,
                            **{DISAG: 1e6, KL: 1e6, GAP: 7.0}))
            for steps in (1, 2, 3):
                ood = base + 0.1 * steps + 0.05 * seed
                active_score = 100.0 + 10 * steps + seed
                score = active_score if label == "active" else active_score - 10.0 / ood
                rows.append(row(agent, seed, steps * 1000, label if label == AUTO else None, score=score,
                                ood_ratio=ood, **{DISAG: math.exp(3 * ood), KL: 5.0 - ood, GAP: 0.2}))
    return rows


def walk(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    else:
        yield value


def test_monotone_signals_rank_correlate_exactly_and_the_winner():
    validation = offline_ood.signal_validation(monotone_rows())
    result = validation["signals"]
    assert result[DISAG]["vs_ood_ratio"]["rho"] == pytest.approx(1.0)
    assert result[KL]["vs_ood_ratio"]["rho"] == pytest.approx(-1.0)
    assert result[DISAG]["vs_ood_ratio"]["n"] == 18  # 3 curves x 2 seeds x 3 steps: step 0 excluded
    assert result[DISAG]["vs_score_gap"]["rho"] == pytest.approx(-1.0)
    assert result[KL]["vs_score_gap"]["rho"] == pytest.approx(1.0)
    assert result[KL]["vs_score_gap"]["n"] == 12  # the Active's own points have no gap
    for target in offline_ood.TARGETS:
        assert result[GAP][target]["rho"] is None and result[GAP][target]["p"] is None
        assert f"constant {GAP}" in result[GAP][target]["note"]
    assert validation["winner"] == {"vs_ood_ratio": DISAG, "vs_score_gap": KL}
    assert validation["absent"] == [] and validation["reference"] == "active"
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in walk(validation))


def test_score_gap_uses_the_reference_at_the_same_seed_and_step():
    rows = [
        row("active", 0, 0, score=5.0, ood_ratio=1.0, **{KL: 1.0}),
        row("active", 0, 10, score=50.0, ood_ratio=1.0, **{KL: 1.0}),
        row("active", 0, 20, score=80.0, ood_ratio=1.0, **{KL: 1.0}),
        row("active", 1, 10, score=40.0, ood_ratio=1.0, **{KL: 1.0}),  # seed 1 has no step 20
        row("passive", 0, 0, score=1.0, ood_ratio=2.0, **{KL: 2.0}),  # step 0: excluded
        row("passive", 0, 10, score=30.0, ood_ratio=2.0, **{KL: 2.0}),
        row("passive", 0, 20, score=50.0, ood_ratio=3.0, **{KL: 3.0}),
        row("passive", 1, 10, score=10.0, ood_ratio=2.5, **{KL: 4.0}),
        row("passive", 1, 20, score=20.0, ood_ratio=4.0, **{KL: 5.0}),  # no reference row: skipped
    ]
    points = offline_ood.signal_points(rows, KL, "active")
    assert points["vs_score_gap"] == [("passive", 2.0, 20.0), ("passive", 3.0, 30.0), ("passive", 4.0, 30.0)]
    assert [p[1:] for p in points["vs_ood_ratio"]] == [(1.0, 1.0)] * 3 + [(2.0, 2.0), (3.0, 3.0), (4.0, 2.5), (5.0, 4.0)]
    validation = offline_ood.signal_validation(rows, signals=[KL, DISAG])
    gap = validation["signals"][KL]["vs_score_gap"]
    expected = stats.spearmanr([2.0, 3.0, 4.0], [20.0, 30.0, 30.0])
    assert (gap["rho"], gap["p"], gap["n"]) == pytest.approx((expected.statistic, expected.pvalue, 3))
    assert validation["absent"] == [DISAG] and list(validation["signals"]) == [KL]
    per_agent = validation["signals"][KL]["per_agent"]
    assert set(per_agent["active"]) == {"vs_ood_ratio"}  # the reference has no gap to itself
    assert "constant" in per_agent["active"]["vs_ood_ratio"]["note"]
    assert per_agent["passive"]["vs_score_gap"]["n"] == 3


def test_per_agent_shows_a_signal_that_separates_agents_but_not_stages():
    rows = []
    for label, offset in (("active", 0.0), ("passive", 10.0), ("tandem", 20.0)):
        for steps, (ood, signal) in enumerate(((1.0, 3.0), (2.0, 2.0), (3.0, 1.0)), start=1):
            rows.append(row(label, 0, steps, score=1.0, ood_ratio=offset + ood, **{KL: offset + signal}))
    validation = offline_ood.signal_validation(rows, signals=[KL])
    result = validation["signals"][KL]
    overall = stats.spearmanr([r[KL] for r in rows], [r["ood_ratio"] for r in rows])
    assert result["vs_ood_ratio"]["rho"] == pytest.approx(overall.statistic) and overall.statistic > 0.5
    assert result["vs_ood_ratio"]["p"] == pytest.approx(overall.pvalue)
    for label in ("active", "passive", "tandem"):
        assert result["per_agent"][label]["vs_ood_ratio"]["rho"] == pytest.approx(-1.0)
    assert result["vs_score_gap"]["rho"] is None  # every score equal: a constant gap
    assert validation["winner"] == {"vs_ood_ratio": KL, "vs_score_gap": None}


def test_spearman_undefined_cases_give_none_with_a_note():
    few = offline_ood.spearman([1.0, 2.0], [3.0, 4.0])
    assert few == {"rho": None, "p": None, "n": 2, "note": "fewer than 3 points (n = 2)"}
    constant = offline_ood.spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], ("signal", "ood_ratio"))
    assert constant["rho"] is None and constant["note"] == "constant ood_ratio over the 3 points"
    assert offline_ood.spearman([1.0, 2.0, 3.0], [1.0, 4.0, 9.0])["rho"] == pytest.approx(1.0)


def test_bad_input_is_named():
    rows = monotone_rows()
    with pytest.raises(ValueError, match="reference curve 'tandem'"):
        offline_ood.signal_validation(rows, reference="tandem")
    with pytest.raises(ValueError, match="any of the signals"):
        offline_ood.signal_validation(rows, signals=["offline_unknown"])
    with pytest.raises(ValueError, match="signals must be"):
        offline_ood.signal_validation(rows, signals=KL)
    with pytest.raises(ValueError, match="one task"):
        offline_ood.signal_validation([{**r, "task": f"t{r['seed']}"} for r in rows])
    with pytest.raises(ValueError, match="baseline curve 'tandem'"):
        offline_ood.schedule_comparison(rows, baseline="tandem")
    with pytest.raises(ValueError, match="no curve of agents"):
        offline_ood.schedule_comparison(rows, agents=["passive_offline_auto"])


def schedule_rows():
    finals = {  # label: (agent, final scores of seeds 0-2, final self_generated_pct or None)
        "active": ("active", [50.0, 52.0, 54.0], None),
        "passive": ("passive", [10.0, 12.0, 14.0], None),
        AUTO: ("passive_auto", [20.0, 25.0, 21.0], [3.0, 4.0, 5.0]),
        OFFLINE: ("passive_offline_auto", [11.0, 13.0, 18.0], [1.0, 2.0, None]),  # seed 2 never logs it
    }
    rows = []
    for label, (agent, scores, pct) in finals.items():
        for seed, score in enumerate(scores):
            extra = {} if pct is None or pct[seed] is None else {"self_generated_pct": pct[seed]}
            rows.append(row(agent, seed, 0, label if label != agent else None, score=0.0))
            rows.append(row(agent, seed, 500, label if label != agent else None, score=score - 5.0, **extra))
            rows.append(row(agent, seed, 1000, label if label != agent else None, score=score, **extra))
    return rows


def test_schedule_comparison_against_scipy():
    comparison = offline_ood.schedule_comparison(schedule_rows())
    assert comparison["baseline"] == "passive"
    curves = {curve["label"]: curve for curve in comparison["curves"]}
    assert list(curves) == ["passive", AUTO, OFFLINE]  # the Active is neither an agent asked for nor the baseline
    base = curves["passive"]
    assert base["scores"] == [10.0, 12.0, 14.0] and base["score_mean"] == pytest.approx(12.0)
    assert base["self_generated_pct"] == [0.0, 0.0, 0.0] and base["p_value"] is None and base["test_note"] == "baseline"
    for label, scores, pct in ((AUTO, [20.0, 25.0, 21.0], [3.0, 4.0, 5.0]), (OFFLINE, [11.0, 13.0, 18.0], [1.0, 2.0, 0.0])):
        curve = curves[label]
        expected = stats.ttest_ind(scores, [10.0, 12.0, 14.0], equal_var=False)
        assert curve["scores"] == scores and curve["score_mean"] == pytest.approx(np.mean(scores))
        assert curve["self_generated_pct"] == pct and curve["self_generated_pct_mean"] == pytest.approx(np.mean(pct))
        assert curve["p_value"] == pytest.approx(expected.pvalue)
        assert curve["t_statistic"] == pytest.approx(expected.statistic)
        assert (curve["num_seeds"], curve["n_reference"], curve["seeds"], curve["final_env_steps"]) == (3, 3, [0, 1, 2], 1000)


def test_figure_has_a_column_per_signal_and_renders(tmp_path):
    rows = monotone_rows()
    validation = offline_ood.signal_validation(rows)
    figure = offline_ood.plot_signal_validation(rows, validation, "monotone")
    assert len(figure.axes) == 2 * len(SIGNALS)
    top = figure.axes[: len(SIGNALS)]  # subplots(2, 3): row-major
    assert [ax.get_xscale() for ax in top] == ["log", "linear", "linear"]  # exp(3 * ood) spans > 10x
    assert "rho = 1.00" in top[0].get_title() and "rho: none" in top[2].get_title()
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["Active", "Passive", "Passive-auto τ=1.35"]
    assert save_figure(figure, tmp_path / "signals.png").stat().st_size > 0
    two = offline_ood.signal_validation(rows, signals=[KL, GAP])
    assert len(offline_ood.plot_signal_validation(rows, two, "").axes) == 4


def test_markdown_report_lists_every_signal_and_curve():
    validation = offline_ood.signal_validation(monotone_rows(), signals=[KL, GAP, DISAG, "offline_other"])
    comparison = offline_ood.schedule_comparison(schedule_rows())
    text = offline_ood.markdown_report(validation, comparison)
    for signal in (*SIGNALS, "offline_other"):
        assert f"| {signal} |" in text
    assert "Winner (largest rho): vs_ood_ratio: offline_disag_ratio, vs_score_gap: offline_kl_ratio." in text
    p = comparison["curves"][1]["p_value"]
    assert f"| {AUTO} | 3 | 22.00 | 4.00 | p = {p:.3f}, n = 3 vs 3 |" in text
    assert "| passive | 3 | 12.00 | 0.00 | baseline |" in text
    assert f"| {KL} | active | -1 (6) | - |" in text


def test_distinct_curves_drops_exact_repeats_only():
    rows = [{"agent": agent, "seed": seed, "env_steps": step, "score": score, "ood_ratio": 1.0, "eval_wm_loss": 2.0}
            for agent, shift in (("passive", 0.0), ("passive_auto", 0.0), ("passive_offline_auto", 0.5))
            for seed in (0, 1) for step, score in ((0, 1.0), (10, 2.0 + shift))]
    kept = offline_ood.distinct_curves(rows)
    assert sorted({row["agent"] for row in kept}) == ["passive", "passive_offline_auto"]
    assert len(kept) == 8
