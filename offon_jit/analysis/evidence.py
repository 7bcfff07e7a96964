"""The paper's findings as fixed comparisons of final per-seed values, with 95% intervals and verdicts.

Each finding is a list of one-sided claims "H is above L" (H's per-seed final values against
`factor` x L's, e.g. factor 0.9 for "recovers >= 90% of the Active"). A claim's evidence is the
difference of means d = mean(H) - factor * mean(L), its 95% Welch (Welch-Satterthwaite) t-interval
[lo, hi], and Welch's two-sided p-value (statistics.welch_test, the test every table reports).
The rules are fixed before any run is looked at and never depend on the finding:

    reproduced      lo > 0: the interval lies above 0 (p < 0.05 in the claimed direction)
    not reproduced  hi < margin: the data exclude a difference as large as the margin in the claimed
                    direction (this includes a significant difference the other way); margin =
                    EQUIVALENCE_MARGIN x the larger of |mean(H)| and |factor x mean(L)|
    inconclusive    otherwise, or fewer than 2 seeds a side (no interval)

A finding is reproduced when every claim is, not reproduced when any claim is not reproduced,
and inconclusive otherwise; with several tasks the same rule combines the tasks' verdicts.
Per-agent means carry a 95% t-interval over seeds. A final value is a seed's value at its last
eval point (tables.final_seed_values). Claims may compare per-seed *gaps* (finding d: Active
minus the agent trained on that Active's data, paired by seed).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import stats

from offon_jit.analysis.statistics import TEST_NAME, welch_test

FORMAT = "offon_jit.evidence"
VERSION = 1
CONFIDENCE = 0.95
EQUIVALENCE_MARGIN = 0.1
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
RECOVERY = 0.9  # finding (e): "recovers >= 90% of the Active's score"

# Final values the findings read: {(study, label, metric): {seed: value}}.
Finals = Mapping[tuple[str, str, str], Mapping[object, float]]


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean of per-seed values with its t-interval (None bounds below 2 seeds)."""
    array = np.asarray(values, float)
    n = array.size
    mean = float(array.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": n, "values": array.tolist()}
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * array.std(ddof=1) / math.sqrt(n)
    return {"mean": mean, "ci_low": float(mean - half), "ci_high": float(mean + half), "n": n,
            "values": array.tolist()}


def difference_interval(higher: Sequence[float], lower: Sequence[float], factor: float = 1.0,
                        confidence: float = CONFIDENCE) -> dict:
    """d = mean(higher) - factor * mean(lower) with its Welch t-interval, df and two-sided p-value."""
    h, l = np.asarray(higher, float), factor * np.asarray(lower, float)
    d = float(h.mean() - l.mean())
    out = {"difference": d, "ci_low": None, "ci_high": None, "df": None, "p_value": None, "test": TEST_NAME,
           "n_higher": int(h.size), "n_lower": int(l.size)}
    if h.size < 2 or l.size < 2:
        return out
    vh, vl = h.var(ddof=1) / h.size, l.var(ddof=1) / l.size
    se = math.sqrt(vh + vl)
    if se == 0:  # both sides constant: the difference is exact
        return {**out, "ci_low": d, "ci_high": d}
    df = (vh + vl) ** 2 / (vh**2 / (h.size - 1) + vl**2 / (l.size - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return {**out, "ci_low": d - half, "ci_high": d + half, "df": float(df),
            "p_value": welch_test(h.tolist(), l.tolist()).p_value}


def claim_verdict(interval: Mapping, margin: float) -> str:
    lo, hi = interval["ci_low"], interval["ci_high"]
    if lo is None:
        return INCONCLUSIVE
    if lo > 0:
        return REPRODUCED
    if (hi < margin) if margin > 0 else (hi <= 0):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """Every part reproduced -> reproduced; any part not reproduced -> not reproduced; else inconclusive."""
    if not verdicts:
        return INCONCLUSIVE
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


@dataclasses.dataclass(frozen=True)
class Series:
    """Per-seed final values of one agent's metric in one study (or a per-seed gap Active - agent)."""

    study: str
    label: str
    metric: str
    gap_from: str | None = None  # label whose value minus this label's is taken per seed (finding d)

    @property
    def name(self) -> str:
        own = f"{self.label} [{self.study}]"
        return f"{self.gap_from} - {own}" if self.gap_from else own

    def values(self, finals: Finals) -> dict:
        own = finals.get((self.study, self.label, self.metric))
        if own is None:
            raise KeyError(f"no final {self.metric} of {self.label!r} in study {self.study!r}")
        if self.gap_from is None:
            return dict(own)
        reference = finals.get((self.study, self.gap_from, self.metric))
        if reference is None:
            raise KeyError(f"no final {self.metric} of {self.gap_from!r} in study {self.study!r}")
        return {seed: reference[seed] - value for seed, value in own.items() if seed in reference}


@dataclasses.dataclass(frozen=True)
class Claim:
    higher: Series
    lower: Series
    factor: float = 1.0

    @property
    def text(self) -> str:
        scaled = f"{self.factor:g} x " if self.factor != 1 else ""
        return f"{self.higher.metric}: {self.higher.name} > {scaled}{self.lower.name}"


@dataclasses.dataclass(frozen=True)
class Finding:
    key: str
    statement: str  # the paper's finding, in words
    studies: tuple[str, ...]
    claims: Callable[[Finals], list[Claim]]  # built from the labels present (swept variants have several)


def variant_labels(finals: Finals, study: str, variant: str, metric: str) -> list[str]:
    """Labels of a variant in a study: "passive_fixed" or "passive_fixed (fixed_interval=500)" etc."""
    return sorted({label for (s, label, m) in finals if s == study and m == metric
                   and (label == variant or label.startswith(variant + " ("))})


def _claims_a(finals):
    return [Claim(Series("base", "active", "score"), Series("base", agent, "score")) for agent in ("passive", "tandem")]


STEP_LOSSES = ("eval_wm_loss", "eval_td_loss")  # DreamerV3's world-model loss; a model-free family's TD loss


def step_loss(finals, study: str) -> str:
    """The eval step loss a study's agents report: the world model's, or the TD loss of model-free agents."""
    return next((m for m in STEP_LOSSES if any(key[0] == study and key[2] == m for key in finals)), STEP_LOSSES[0])


def _claims_b(finals):
    return [Claim(Series("base", agent, metric), Series("base", "active", metric))
            for metric in (step_loss(finals, "base"), "ood_ratio") for agent in ("passive", "tandem")]


def _claims_c(finals):
    loss = step_loss(finals, "splits")
    return [Claim(Series("splits", "passive", "score"), Series("splits", "passive_expert", "score")),
            Claim(Series("splits", "passive_expert", loss), Series("splits", "passive", loss))]


def _claims_d(finals):
    return [Claim(Series("base", agent, "score", gap_from="active"), Series("expl_data", agent, "score", gap_from="active"))
            for agent in ("passive", "tandem")]


def _claims_e(finals):
    claims = [Claim(Series("self_generated", label, "score"), Series("self_generated", "active", "score"), RECOVERY)
              for label in variant_labels(finals, "self_generated", "passive_auto", "score")]
    for auto in variant_labels(finals, "self_generated", "passive_auto", "self_generated_pct"):
        claims += [Claim(Series("self_generated", fixed, "self_generated_pct"),
                         Series("self_generated", auto, "self_generated_pct"))
                   for fixed in variant_labels(finals, "self_generated", "passive_fixed", "self_generated_pct")]
    return claims


FINDINGS = (
    Finding("a", "The Active's final score is above the Tandem's and the Passive's (Fig. 3)", ("base",), _claims_a),
    Finding("b", "The offline agents' (Passive, Tandem) eval world-model loss (model-free agents: TD loss) and OOD "
            "ratio are above the Active's (Fig. 3, Fig. S14)", ("base",), _claims_b),
    Finding("c", "The Passive on the expert half of the Active's buffer scores below the Passive on the whole "
            "buffer, with a higher eval world-model loss (model-free agents: TD loss) (Fig. 4)", ("splits",),
            _claims_c),
    Finding("d", "Exploration data (w_expl = 1) narrows the Passive's and the Tandem's gap to the Active whose data "
            "they train on (Fig. 6): the per-seed gap Active - agent is larger on task-oriented data",
            ("base", "expl_data"), _claims_d),
    Finding("e", "Adaptive interaction (passive_auto) recovers >= 90% of the Active's score with less added data "
            "than each fixed schedule (Fig. 8, Table S2)", ("self_generated",), _claims_e),
)
FINDING_KEYS = tuple(f.key for f in FINDINGS)


def evaluate_claim(claim: Claim, finals: Finals) -> dict:
    higher, lower = list(claim.higher.values(finals).values()), list(claim.lower.values(finals).values())
    interval = difference_interval(higher, lower, claim.factor)
    sides = {"higher_values": mean_interval(higher), "lower_values": mean_interval(lower)}
    margin = EQUIVALENCE_MARGIN * max(abs(sides["higher_values"]["mean"]),
                                      abs(claim.factor * sides["lower_values"]["mean"]))
    return {"claim": claim.text, "metric": claim.higher.metric, "higher": claim.higher.name,
            "lower": claim.lower.name, "factor": claim.factor, **sides,
            **interval, "margin": float(margin), "verdict": claim_verdict(interval, margin)}


def evaluate_finding(finding: Finding, finals: Finals) -> dict:
    """One task's claims and verdict; a finding whose studies or agents are missing is inconclusive with a note."""
    missing = [s for s in finding.studies if not any(key[0] == s for key in finals)]
    if missing:
        return {"verdict": INCONCLUSIVE, "note": f"not run: no study {', '.join(missing)}", "claims": []}
    try:
        claims = [evaluate_claim(claim, finals) for claim in finding.claims(finals)]
    except KeyError as error:
        return {"verdict": INCONCLUSIVE, "note": f"not measured: {error.args[0]}", "claims": []}
    if not claims:
        return {"verdict": INCONCLUSIVE, "note": "not measured: the study has none of the finding's agents",
                "claims": []}
    return {"verdict": combine([c["verdict"] for c in claims]), "claims": claims}


def agent_summaries(finals: Finals, metrics: Sequence[str], roles: Mapping[str, str] | None = None) -> dict:
    """{study: {label: {metric: mean and 95% interval}}} of every final value the findings could read; `roles`
    ({role: study name}) names the studies, so a study that plays several roles is listed once."""
    roles = dict(roles or {})
    out: dict = {}
    for (role, label, metric), values in sorted(finals.items(), key=lambda kv: tuple(map(str, kv[0]))):
        study = roles.get(role, role)
        if metric in metrics:
            out.setdefault(study, {}).setdefault(label, {})[metric] = mean_interval(list(values.values()))
    return out


METRICS = ("score", *STEP_LOSSES, "ood_ratio", "self_generated_pct")


def active_above_random(finals: Finals, random_score: float) -> dict:
    """The precondition the pilots checked: the Active's final score minus the random policy's (a fixed number,
    measured over 100 episodes), with its t-interval over seeds and the same verdict rule as a claim."""
    values = finals.get(("base", "active", "score"))
    if values is None:
        return {"verdict": INCONCLUSIVE, "note": "no Active score"}
    interval = mean_interval([v - random_score for v in values.values()])
    margin = EQUIVALENCE_MARGIN * max(abs(interval["mean"] + random_score), abs(random_score))
    return {"claim": "score: active [base] > random policy", "random_policy_score": random_score,
            "difference": interval["mean"], "ci_low": interval["ci_low"], "ci_high": interval["ci_high"],
            "n": interval["n"], "margin": float(margin), "verdict": claim_verdict(interval, margin)}


def build_evidence(task_finals: Mapping[str, Finals], *, context: Mapping | None = None,
                   random_scores: Mapping[str, float] | None = None, roles: Mapping[str, str] | None = None) -> dict:
    """evidence.json's content: every finding per task, combined across tasks, with the method stated (and,
    given the tasks' random-policy scores, whether each task's Active beat random play at all)."""
    findings = {}
    for finding in FINDINGS:
        per_task = {task: evaluate_finding(finding, finals) for task, finals in task_finals.items()}
        measured = [r["verdict"] for r in per_task.values() if r["claims"]]
        findings[finding.key] = {"statement": finding.statement, "studies": list(finding.studies),
                                 "tasks": list(per_task), "verdict": combine(measured), "per_task": per_task}
    return {
        "format": FORMAT, "version": VERSION, **dict(context or {}),
        "method": {
            "final_value": "each seed's value at its last eval point",
            "agent_interval": f"{CONFIDENCE:.0%} t-interval of the mean over seeds",
            "difference_interval": f"{CONFIDENCE:.0%} Welch-Satterthwaite t-interval of mean(higher) - "
                                   "factor x mean(lower)",
            "test": f"{TEST_NAME}: Welch's two-sided t-test (scipy.stats.ttest_ind, equal_var=False)",
            "equivalence_margin": EQUIVALENCE_MARGIN,
            "verdicts": {REPRODUCED: "interval above 0",
                         NOT_REPRODUCED: "interval's upper bound below the margin (margin = "
                                         f"{EQUIVALENCE_MARGIN:g} x the larger compared mean's magnitude)",
                         INCONCLUSIVE: "otherwise, or fewer than 2 seeds a side",
                         "finding": "all claims reproduced -> reproduced; any not reproduced -> not reproduced; "
                                    "else inconclusive (the same rule across tasks)"},
        },
        "roles": dict(roles or {}),
        "agents": {task: agent_summaries(finals, METRICS, roles) for task, finals in task_finals.items()},
        "active_above_random": {task: active_above_random(finals, random_scores[task])
                                for task, finals in task_finals.items() if task in (random_scores or {})},
        "findings": findings,
    }


def validate_evidence(document: Mapping) -> None:
    """Raise ValueError naming the first way `document` departs from evidence.json's schema."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ValueError(f"not an evidence document (format {FORMAT!r} version {VERSION})")
    findings = document.get("findings")
    if not isinstance(findings, Mapping) or sorted(findings) != sorted(FINDING_KEYS):
        raise ValueError(f"findings must be exactly {FINDING_KEYS}")
    for key, finding in findings.items():
        if finding.get("verdict") not in VERDICTS:
            raise ValueError(f"finding {key}: verdict {finding.get('verdict')!r} is not one of {VERDICTS}")
        if not finding.get("tasks") or set(finding["tasks"]) != set(finding.get("per_task", {})):
            raise ValueError(f"finding {key}: tasks and per_task disagree")
        for task, result in finding["per_task"].items():
            if result.get("verdict") not in VERDICTS:
                raise ValueError(f"finding {key} on {task}: bad verdict {result.get('verdict')!r}")
            for claim in result.get("claims", []):
                for field in ("claim", "difference", "ci_low", "ci_high", "p_value", "margin", "verdict",
                              "higher_values", "lower_values"):
                    if field not in claim:
                        raise ValueError(f"finding {key} on {task}: claim without {field!r}")
                for side in ("higher_values", "lower_values"):
                    if not {"mean", "ci_low", "ci_high", "n"} <= set(claim[side]):
                        raise ValueError(f"finding {key} on {task}: {side} lacks mean/ci_low/ci_high/n")
