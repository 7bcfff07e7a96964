"""Welch's t-test against the Active: scipy's values, an independent re-derivation, and the not-computable cases."""

import warnings

import numpy as np
import pytest
from scipy import stats

from offon_jit.analysis import final_values, format_test, markdown_table, welch_test

ACTIVE = [10.0, 12.5, 14.0]
PASSIVE = [5.0, 6.5, 9.75]


def welch_by_hand(a, b):
    """t = (mean_a - mean_b) / sqrt(s_a^2 / n_a + s_b^2 / n_b), Welch-Satterthwaite df, two-sided p."""
    a, b = np.asarray(a), np.asarray(b)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return t, 2 * stats.t.sf(abs(t), df)


def test_welch_test_equals_scipy_and_the_formula():
    rng = np.random.default_rng(0)
    for n, m in ((3, 3), (2, 5), (4, 2)):
        a, b = rng.normal(1.0, 2.0, n), rng.normal(0.0, 0.5, m)
        test = welch_test(a, b)
        reference = stats.ttest_ind(a, b, equal_var=False)
        assert test.computable and (test.n, test.n_reference) == (n, m) and test.note == ""
        assert test.t_statistic == pytest.approx(float(reference.statistic), rel=1e-12)
        assert test.p_value == pytest.approx(float(reference.pvalue), rel=1e-12)
        t, p = welch_by_hand(a, b)
        assert test.t_statistic == pytest.approx(t, rel=1e-9) and test.p_value == pytest.approx(p, rel=1e-9)


def test_fewer_than_two_seeds_or_no_spread_is_not_computable():
    for values, reference in (([1.0], ACTIVE), (PASSIVE, [3.0]), ([], ACTIVE)):
        test = welch_test(values, reference)
        assert not test.computable and test.p_value is None and test.t_statistic is None
        assert "needs >= 2 seeds per side" in test.note
    constant = welch_test([2.0, 2.0], [3.0, 3.0])
    assert not constant.computable and "same value" in constant.note
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one constant side is an ordinary test, without scipy's precision warning
        one_side = welch_test([2.0, 2.0, 2.0], ACTIVE)
    assert one_side.computable and one_side.p_value == pytest.approx(welch_by_hand([2.0, 2.0, 2.0], ACTIVE)[1])
    with pytest.raises(ValueError, match="finite numbers"):
        welch_test([1.0, float("nan")], ACTIVE)


def test_format_test():
    assert format_test(welch_test([1.0], ACTIVE)) == "no test, n = 1 vs 3"
    text = format_test(welch_test(PASSIVE, ACTIVE))
    assert text.startswith("p = 0.0") and text.endswith("n = 3 vs 3")


def rows(agent, finals, steps=(0, 10)):
    return [{"agent": agent, "seed": seed, "env_steps": s, "score": value * s / steps[-1]}
            for seed, value in enumerate(finals) for s in steps]


def test_final_values_carry_the_test_against_the_active():
    task_rows = {
        "a": rows("active", ACTIVE) + rows("passive", PASSIVE) + rows("tandem", [7.0]),
        "b": rows("passive", PASSIVE),
    }
    table = {(e["task"], e["label"]): e for e in final_values(task_rows, "score")}
    passive = table[("a", "passive")]
    expected = stats.ttest_ind(PASSIVE, ACTIVE, equal_var=False)
    assert passive["mean"] == pytest.approx(np.mean(PASSIVE)) and passive["num_seeds"] == 3
    assert passive["test"] == "welch_t" and passive["reference"] == "active" and passive["n_reference"] == 3
    assert passive["p_value"] == pytest.approx(float(expected.pvalue))
    assert passive["t_statistic"] == pytest.approx(float(expected.statistic))
    assert table[("a", "active")]["test_note"] == "reference" and table[("a", "active")]["p_value"] is None
    assert table[("a", "tandem")]["p_value"] is None and "n = 1 vs 3" in table[("a", "tandem")]["test_note"]
    assert table[("b", "passive")]["p_value"] is None and "no 'active' score" in table[("b", "passive")]["test_note"]
    assert "p_value" not in final_values(task_rows, "score", test_against=None)[0]

    text = markdown_table(list(table.values()), average=False)
    p = float(expected.pvalue)
    assert f"| a | 12.17 (reference, n = 3) | 7.08 (p = {p:.3f}, n = 3 vs 3) | 7.00 (no test, n = 1 vs 3) |" in text
    assert "| b | – | 7.08 (no test: no 'active' score on this task) | – |" in text
    assert text.rstrip().endswith("against active on the same task (scipy.stats.ttest_ind, equal_var=False); "
                                  "n: seeds per side.")
