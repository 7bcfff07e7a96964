"""Plots from saved metrics: metric vs env steps per curve label, mean and spread over seeds.

A run's quick-look plots; the paper-style figures of experiments/ use offon_jit.analysis."""

from __future__ import annotations

import pathlib
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from offon_jit.metrics_log import read_rows, row_label  # noqa: E402

AGENT_COLORS = {"active": "tab:red", "passive": "tab:blue", "tandem": "tab:green"}
DEFAULT_PLOTS = {"score": "Episode score", "eval_wm_loss": "World-model loss on eval episodes", "ood_ratio": "OOD ratio",
                 "value_error": "Value error V(s0) - MC return", "self_generated_pct": "Self-generated data (%)"}


def curves(rows: list[dict], metric: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """label -> (env_steps, mean over seeds, std over seeds) for rows that have `metric`."""
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.get(metric) is not None:
            table[row_label(row)][row["env_steps"]].append(row[metric])
    out = {}
    for agent, by_step in table.items():
        steps = np.array(sorted(by_step))
        values = [np.asarray(by_step[s], float) for s in steps]
        out[agent] = (steps, np.array([v.mean() for v in values]), np.array([v.std() for v in values]))
    return out


def plot_metric(rows: list[dict], metric: str, title: str, path: pathlib.Path) -> pathlib.Path | None:
    data = curves(rows, metric)
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, (steps, mean, std) in sorted(data.items()):
        color = AGENT_COLORS.get(label)  # base agents keep their colours, variants take the cycle's
        ax.plot(steps, mean, label=label.capitalize(), color=color)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2, color=color)
    ax.set_xlabel("env steps")
    ax.set_ylabel(title)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_run(run_dir: pathlib.Path, plots: dict[str, str] = DEFAULT_PLOTS) -> list[pathlib.Path]:
    run_dir = pathlib.Path(run_dir)
    rows = read_rows(run_dir)
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    written = [plot_metric(rows, m, t, out_dir / f"{m}.png") for m, t in plots.items()]
    return [p for p in written if p is not None]
