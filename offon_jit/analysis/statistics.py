"""The comparison every table reports next to a mean: Welch's t-test against the Active's seeds.

The paper reports differences as (in)significant without naming its test, so this library
uses Welch's two-sided t-test for two independent samples with unequal variances
(`scipy.stats.ttest_ind(equal_var=False)`): an agent's per-seed final values against the
reference agent's (the Active's) per-seed final values on the same task. The test is not
computable, and no p-value is given, when either side has fewer than 2 seeds (no variance
estimate) or both sides are constant (the statistic is 0/0 or infinite with no spread to
judge it by): `WelchTest.note` says which.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats

TEST_NAME = "welch_t"


class WelchTest(NamedTuple):
    n: int  # seeds of the tested agent
    n_reference: int  # seeds of the reference (Active)
    t_statistic: float | None  # None: not computable
    p_value: float | None  # two-sided; None: not computable
    note: str  # "" when computed, else why not

    @property
    def computable(self) -> bool:
        return self.p_value is not None


def _sample(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a flat list of finite numbers, got {values!r}")
    return array


def welch_test(values: Sequence[float], reference: Sequence[float]) -> WelchTest:
    """Welch's t-test of `values` against `reference` (per-seed values); see the module doc."""
    a, b = _sample(values, "values"), _sample(reference, "reference")
    n, m = a.size, b.size
    if n < 2 or m < 2:
        return WelchTest(n, m, None, None, f"not computable: needs >= 2 seeds per side (n = {n} vs {m})")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return WelchTest(n, m, None, None, "not computable: every seed has the same value on both sides")
    with warnings.catch_warnings():
        if np.ptp(a) == 0 or np.ptp(b) == 0:  # one constant side: its variance is exactly 0, not a lost digit
            warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
    return WelchTest(n, m, float(result.statistic), float(result.pvalue), "")


def format_test(test: WelchTest) -> str:
    """"p = 0.031, n = 3 vs 3" or "no test, n = 1 vs 3" (the markdown cell beside a mean)."""
    if not test.computable:
        return f"no test, n = {test.n} vs {test.n_reference}"
    p = test.p_value
    shown = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
    return f"p = {shown}, n = {test.n} vs {test.n_reference}"


def comparison_columns(test: WelchTest | None, reference_label: str, note: str = "") -> dict:
    """The columns a final-values row carries for its test (CSV-friendly: None stays empty)."""
    if test is None:
        return {"test": TEST_NAME, "reference": reference_label, "n_reference": None, "t_statistic": None,
                "p_value": None, "test_note": note}
    return {"test": TEST_NAME, "reference": reference_label, "n_reference": test.n_reference,
            "t_statistic": test.t_statistic, "p_value": test.p_value, "test_note": test.note}
