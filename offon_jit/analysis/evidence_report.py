"""evidence.json drawn and tabulated: a forest plot of every claim's interval, and a markdown summary."""

from __future__ import annotations

import textwrap
from typing import Mapping

import numpy as np

from offon_jit.analysis.evidence import EQUIVALENCE_MARGIN, NOT_REPRODUCED, REPRODUCED
from offon_jit.analysis.style import new_figure, paper_style

VERDICT_COLORS = {REPRODUCED: "tab:green", NOT_REPRODUCED: "tab:red"}  # inconclusive: grey


def claim_rows(document: Mapping) -> list[dict]:
    """One flat row per (finding, task, claim)."""
    rows = []
    for key, finding in document["findings"].items():
        for task, result in finding["per_task"].items():
            for claim in result["claims"]:
                rows.append({"finding": key, "task": task, **claim})
    return rows


def relative(claim: Mapping, value: float | None) -> float | None:
    """A difference as a fraction of the larger compared mean's magnitude (the margin's unit)."""
    if value is None:
        return None
    scale = claim["margin"] / EQUIVALENCE_MARGIN
    return value / scale if scale > 0 else 0.0


def claim_label(row: Mapping, with_task: bool) -> str:
    """A forest-plot row's label: the finding and claim, and the task when the document has several."""
    return f"({row['finding']}) {row['task'] + ': ' if with_task else ''}{row['claim']}"


def plot_evidence(document: Mapping, title: str = ""):
    """Each claim's difference and 95% interval relative to the larger mean, with 0 and the margin marked."""
    rows = claim_rows(document)
    with paper_style():
        figure = new_figure(7.5, 0.8 + 0.32 * max(1, len(rows)))
        ax = figure.subplots()
        for y, row in enumerate(reversed(rows)):
            color = VERDICT_COLORS.get(row["verdict"], "tab:gray")
            d, lo, hi = (relative(row, row[k]) for k in ("difference", "ci_low", "ci_high"))
            if lo is not None:
                ax.plot([lo, hi], [y, y], color=color, linewidth=2)
            ax.plot([d], [y], "o", color=color, markersize=4)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.axvline(EQUIVALENCE_MARGIN, color="black", linewidth=0.8, linestyle="--")
        several_tasks = len({r["task"] for r in rows}) > 1
        ax.set_yticks(np.arange(len(rows)), [claim_label(r, several_tasks) for r in reversed(rows)], fontsize="x-small")
        ax.set_xlabel("difference / larger mean (95% interval); dashed: the margin")
        if title:
            ax.set_title(textwrap.fill(title, 100), fontsize="small", loc="right")
    return figure


def _number(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def markdown_summary(document: Mapping) -> str:
    """Findings with verdicts, then every claim's means, difference, interval and p-value."""
    lines = ["| finding | statement | verdict |", "|---|---|---|"]
    for key, finding in document["findings"].items():
        notes = "; ".join(dict.fromkeys(r["note"] for r in finding["per_task"].values() if r.get("note")))  # once each
        lines.append(f"| {key} | {finding['statement']} | {finding['verdict']}{f' ({notes})' if notes else ''} |")
    for task, check in document.get("active_above_random", {}).items():
        lines += ["", f"Precondition on {task}: Active final score - random policy's ({_number(check.get('random_policy_score'))})"
                  f" = {_number(check.get('difference'))} [{_number(check.get('ci_low'))}, {_number(check.get('ci_high'))}]"
                  f": {check['verdict']}"]
    lines += ["", "| finding | task | claim | higher mean [95% CI] | lower mean [95% CI] | difference [95% CI] | "
              "p | verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in claim_rows(document):
        sides = [f"{_number(s['mean'])} [{_number(s['ci_low'])}, {_number(s['ci_high'])}]"
                 for s in (row["higher_values"], row["lower_values"])]
        lines.append(f"| {row['finding']} | {row['task']} | {row['claim']} | {sides[0]} | {sides[1]} | "
                     f"{_number(row['difference'])} [{_number(row['ci_low'])}, {_number(row['ci_high'])}] | "
                     f"{_number(row['p_value'])} | {row['verdict']} |")
    return "\n".join(lines) + "\n"
