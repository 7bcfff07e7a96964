"""Offline OOD signals judged against the eval-based OOD ratio and the score gap, and the schedules compared.

The offline signals (engine/offline_signals.py) are measured without env steps; this module asks how
well each stands in for what the paper measures with evaluation rollouts. Over the eval points of one
task's study (every row with env_steps > 0: the step-0 evaluation of an untrained agent is excluded,
since its model has seen no data and its signals say nothing about a policy leaving the data), it
takes the Spearman rank correlation (scipy.stats.spearmanr, two-sided p) of each signal with

  vs_ood_ratio  the row's eval `ood_ratio`, over every curve's points (the reference's included);
  vs_score_gap  the reference curve's score at the same seed and env_steps minus the row's score,
                over the other curves' points (a point without a matching reference row is skipped);

overall and within each curve label (`per_agent`; `distinct_curves` first drops exact repeats of a
curve, e.g. an adaptive Passive that never armed), so a signal that separates agents but not the
stages of one run shows as high overall and low within. A correlation needs >= 3 points with
finite values of both quantities and neither side constant; otherwise rho and p are None and
`note` says why. The winner of a target is the signal with the largest signed rho (a higher signal
should mean more OOD and a larger gap); ties go to the earlier signal in `signals`.

`schedule_comparison` sets the adaptive schedules (the paper's `passive_auto`, armed by the eval OOD
ratio, and `passive_offline_auto`, armed by an offline signal) beside the plain Passive: each seed's
final score and self-generated data (tables.final_seed_values), and Welch's t-test of the final
scores against the baseline's (statistics.welch_test).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from offon_jit.analysis.aggregate import seed_values
from offon_jit.analysis.rows import curve_label, curve_labels, metric_title, metric_value, require_metric, validate_rows
from offon_jit.analysis.statistics import WelchTest, comparison_columns, format_test, welch_test
from offon_jit.analysis.style import curve_styles, display_names, new_figure, outside_legend, paper_style, set_title
from offon_jit.analysis.tables import TABLE_S2_METRIC, final_seed_values
from offon_jit.engine.offline_signals import SIGNALS

OOD_METRIC = "ood_ratio"
SCORE_METRIC = "score"
TARGETS = ("vs_ood_ratio", "vs_score_gap")
MIN_POINTS = 3  # fewer points give no usable rank correlation
LOG_SPAN = 10.0  # a positive axis spanning more than this factor is drawn on a log scale


def _check_rows(rows: Sequence[Mapping]) -> list[Mapping]:
    rows = validate_rows(rows)
    tasks = {row["task"] for row in rows if row.get("task") is not None}
    if len(tasks) > 1:
        raise ValueError(f"rows of one task expected (scores are compared per task), got tasks {sorted(tasks)}")
    return rows


def _check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(names, str) or not names or not all(isinstance(name, str) for name in names):
        raise ValueError(f"{what} must be a non-empty list of names, got {names!r}")
    return tuple(names)


def spearman(x: Sequence[float], y: Sequence[float], names: tuple[str, str] = ("x", "y")) -> dict:
    """{"rho", "p", "n", "note"}: scipy's Spearman rho and two-sided p, or None for both with a note
    (fewer than MIN_POINTS points, or a constant side, where the rank correlation is undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = int(x.size)
    if n < MIN_POINTS:
        return {"rho": None, "p": None, "n": n, "note": f"fewer than {MIN_POINTS} points (n = {n})"}
    constant = [name for name, values in zip(names, (x, y)) if np.ptp(values) == 0]
    if constant:
        return {"rho": None, "p": None, "n": n, "note": f"constant {' and '.join(constant)} over the {n} points"}
    result = stats.spearmanr(x, y)
    return {"rho": float(result.statistic), "p": float(result.pvalue), "n": n, "note": ""}


def signal_points(rows: Sequence[Mapping], signal: str, reference: str) -> dict[str, list[tuple[str, float, float]]]:
    """{target: [(label, signal value, target value)]} over the eval points (env_steps > 0) that have both."""
    reference_scores = seed_values(rows, SCORE_METRIC).get(reference, {})
    points: dict[str, list] = {target: [] for target in TARGETS}
    for row in rows:
        value = metric_value(row, signal)
        if row["env_steps"] <= 0 or value is None:
            continue
        label = curve_label(row)
        ood = metric_value(row, OOD_METRIC)
        if ood is not None:
            points["vs_ood_ratio"].append((label, value, ood))
        score = metric_value(row, SCORE_METRIC)
        reference_score = reference_scores.get(row["env_steps"], {}).get(row["seed"])
        if label != reference and score is not None and reference_score is not None:
            points["vs_score_gap"].append((label, value, reference_score - score))
    return points


def _correlation(points: Sequence[tuple], signal: str, target: str) -> dict:
    return spearman([p[1] for p in points], [p[2] for p in points], (signal, target.removeprefix("vs_")))


def signal_validation(rows: Sequence[Mapping], signals: Sequence[str] = SIGNALS, reference: str = "active") -> dict:
    """Spearman correlations of each offline signal with the eval OOD ratio and the score gap to `reference`.

    Only eval points with env_steps > 0 count (the untrained agent's step-0 evaluation is excluded).
    Returns {"reference", "signals": {signal: {"vs_ood_ratio", "vs_score_gap": {rho, p, n, note},
    "per_agent": {label: {"vs_ood_ratio", and "vs_score_gap" unless label is the reference}}}},
    "absent": requested signals no eval point has, "winner": {target: signal or None}}. See the module doc.
    """
    rows = _check_rows(rows)
    signals = _check_names(signals, "signals")
    if not isinstance(reference, str) or reference not in curve_labels(rows):
        raise ValueError(f"reference curve {reference!r} is not in the rows; curves: {curve_labels(rows)}")
    eval_rows = [row for row in rows if row["env_steps"] > 0]
    if not eval_rows:
        raise ValueError("no eval points after step 0 (every row has env_steps <= 0)")
    for metric in (OOD_METRIC, SCORE_METRIC):
        require_metric(eval_rows, metric, where="eval rows (env_steps > 0)")
    present = [s for s in signals if any(metric_value(row, s) is not None for row in eval_rows)]
    if not present:
        raise ValueError(f"no eval row (env_steps > 0) has any of the signals {list(signals)}")
    results = {}
    for signal in present:
        points = signal_points(rows, signal, reference)
        result = {target: _correlation(points[target], signal, target) for target in TARGETS}
        labels = dict.fromkeys(label for target in TARGETS for label, _, _ in points[target])
        result["per_agent"] = {
            label: {target: _correlation([p for p in points[target] if p[0] == label], signal, target)
                    for target in TARGETS if not (target == "vs_score_gap" and label == reference)}
            for label in labels
        }
        results[signal] = result
    winner = {}
    for target in TARGETS:
        defined = [(results[s][target]["rho"], -i, s) for i, s in enumerate(present) if results[s][target]["rho"] is not None]
        winner[target] = max(defined)[2] if defined else None
    return {"reference": reference, "signals": results, "absent": [s for s in signals if s not in present],
            "winner": winner}


def distinct_curves(rows: Sequence[Mapping], keys: Sequence[str] = (SCORE_METRIC, OOD_METRIC, "eval_wm_loss")) -> list:
    """The rows without curves that repeat an earlier curve exactly (same seeds, steps and `keys` values), such
    as an adaptive Passive that never armed and so trained as the plain Passive did: a repeated curve would
    count the same points twice in a correlation."""
    seen, kept = set(), set()
    for label in curve_labels(rows):
        points = tuple(sorted((row["seed"], row["env_steps"], *(row.get(k) for k in keys))
                              for row in rows if curve_label(row) == label))
        if points not in seen:
            seen.add(points)
            kept.add(label)
    return [row for row in rows if curve_label(row) in kept]


def schedule_comparison(rows: Sequence[Mapping], agents: Sequence[str] = ("passive_auto", "passive_offline_auto"),
                        baseline: str = "passive") -> dict:
    """Final score and self-generated data of every curve of `agents` (by the rows' agent field, so each
    swept threshold is its own curve) and of the `baseline` curve, with Welch's test against the baseline.

    A seed's final values are at its last eval point with the metric (tables.final_seed_values);
    self_generated_pct is 0 for a seed that never logs it (its agent adds no data).
    Returns {"baseline", "curves": [baseline first, then the agents' curves in first-seen order:
    {label, agent, num_seeds, seeds, final_env_steps, scores, score_mean, self_generated_pct,
    self_generated_pct_mean, and statistics.comparison_columns (test_note "baseline" for the baseline)}]}.
    """
    rows = _check_rows(rows)
    agents = _check_names(agents, "agents")
    scores = final_seed_values(rows, SCORE_METRIC)
    if baseline not in scores:
        raise ValueError(f"baseline curve {baseline!r} has no {SCORE_METRIC!r} in the rows; curves: {sorted(scores)}")
    added = final_seed_values(rows, TABLE_S2_METRIC)
    agent_of = {curve_label(row): str(row["agent"]) for row in rows}
    labels = [label for label in curve_labels(rows) if agent_of[label] in agents and label in scores and label != baseline]
    if not labels:
        raise ValueError(f"no curve of agents {list(agents)} with a {SCORE_METRIC!r}; agents in the rows: "
                         f"{sorted(set(agent_of.values()))}")
    baseline_scores = [value for _, (_, value) in sorted(scores[baseline].items())]
    curves = []
    for label in [baseline, *labels]:
        seeds = sorted(scores[label])
        finals = [scores[label][seed][1] for seed in seeds]
        pct = [added.get(label, {}).get(seed, (None, 0.0))[1] for seed in seeds]
        if label == baseline:
            test = comparison_columns(None, baseline, "baseline")
        else:
            test = comparison_columns(welch_test(finals, baseline_scores), baseline)
        curves.append({
            "label": label, "agent": agent_of[label], "num_seeds": len(seeds), "seeds": seeds,
            "final_env_steps": max(scores[label][seed][0] for seed in seeds),
            "scores": finals, "score_mean": float(np.mean(finals)),
            "self_generated_pct": pct, "self_generated_pct_mean": float(np.mean(pct)), **test,
        })
    return {"baseline": baseline, "curves": curves}


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def _stat_text(result: Mapping) -> str:
    if result["rho"] is None:
        return f"rho: none, n = {result['n']}"
    return f"rho = {result['rho']:.2f}, p = {_number(result['p'], 2)}, n = {result['n']}"


def _spans_decades(values: Sequence[float]) -> bool:
    values = np.asarray(values, float)
    return values.size > 0 and values.min() > 0 and values.max() / values.min() > LOG_SPAN


def plot_signal_validation(rows: Sequence[Mapping], validation: Mapping, title: str = ""):
    """One column per validated signal: the signal against the eval OOD ratio (top) and against the
    score gap to the reference (bottom) at every eval point, coloured per curve (the paper's names in the
    legend, below the panels), rho/p/n in each title."""
    rows = _check_rows(rows)
    signals, reference = list(validation["signals"]), validation["reference"]
    styles, names = curve_styles(rows), display_names(rows)
    target_titles = {"vs_ood_ratio": metric_title(OOD_METRIC) + " (eval)",
                     "vs_score_gap": f"score gap ({names.get(reference, reference)} - curve)"}
    with paper_style():
        figure = new_figure(max(2.6 * len(signals), 4.0), 5.0)
        axes = figure.subplots(len(TARGETS), len(signals), squeeze=False)
        for column, signal in enumerate(signals):
            points = signal_points(rows, signal, reference)
            for line, target in enumerate(TARGETS):
                ax = axes[line, column]
                for label, style in styles.items():
                    mine = [(x, y) for lab, x, y in points[target] if lab == label]
                    if mine:
                        x, y = zip(*mine)
                        ax.scatter(x, y, s=10, color=style.color, marker=style.marker or "o", alpha=0.8,
                                   linewidths=0, label=label)
                if _spans_decades([x for _, x, _ in points[target]]):
                    ax.set_xscale("log")
                ax.set_title(f"{signal}\n{_stat_text(validation['signals'][signal][target])}", fontsize="small")
                ax.set_xlabel(signal)
                if column == 0:
                    ax.set_ylabel(target_titles[target])
        handles = {}
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        outside_legend(figure, list(handles.values()), [names[label] for label in handles])
        if title:
            set_title(figure, title, fontsize="small")
    return figure


def markdown_report(validation: Mapping, comparison: Mapping) -> str:
    """The correlations with the winner, the per-curve rank correlations, and the schedule comparison."""
    reference, baseline = validation["reference"], comparison["baseline"]
    lines = [f"Spearman correlations over eval points after step 0 (score gap: {reference}'s score at the same "
             "seed and step minus the curve's).", "", "| signal | target | rho | p | n | note |", "|---|---|---|---|---|---|"]
    for signal, result in validation["signals"].items():
        for target in TARGETS:
            r = result[target]
            lines.append(f"| {signal} | {target} | {_number(r['rho'])} | {_number(r['p'])} | {r['n']} | {r['note']} |")
    for signal in validation.get("absent", []):
        lines.append(f"| {signal} | - | - | - | 0 | no eval point has this signal |")
    winners = ", ".join(f"{target}: {validation['winner'][target] or 'none'}" for target in TARGETS)
    lines += ["", f"Winner (largest rho): {winners}.", "",
              "| signal | curve | rho vs OOD ratio (n) | rho vs score gap (n) |", "|---|---|---|---|"]
    for signal, result in validation["signals"].items():
        for label, by_target in result["per_agent"].items():
            cells = [f"{_number(by_target[t]['rho'])} ({by_target[t]['n']})" if t in by_target else "-" for t in TARGETS]
            lines.append(f"| {signal} | {label} | {cells[0]} | {cells[1]} |")
    lines += ["", f"Final values per seed; Welch's t-test of final scores against {baseline}.", "",
              "| curve | seeds | final score mean | added data % mean | Welch vs baseline |", "|---|---|---|---|---|"]
    for curve in comparison["curves"]:
        if curve["label"] == baseline:
            test = "baseline"
        else:
            test = format_test(WelchTest(curve["num_seeds"], curve["n_reference"], curve["t_statistic"],
                                         curve["p_value"], curve["test_note"]))
        lines.append(f"| {curve['label']} | {curve['num_seeds']} | {curve['score_mean']:.2f} | "
                     f"{curve['self_generated_pct_mean']:.2f} | {test} |")
    return "\n".join(lines) + "\n"
