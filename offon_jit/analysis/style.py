"""Paper-style look shared by every figure: colours per agent family, rc settings, saving.

Colours follow the paper: Active red, Passive blue, Tandem green. Within a family the
plain agent ("active", "passive", "tandem") keeps the family colour and a solid line;
every other curve of the family gets a shade of the family's colour map (ordered by
agent variant, then hyper-parameter value) and a line style per agent variant, so the
same label looks the same in every panel and every figure built from the same rows.
Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, nothing to
close), rendered by the Agg canvas when saved.
"""

from __future__ import annotations

import contextlib
import pathlib
from typing import Iterable, Mapping, NamedTuple

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from offon_jit.analysis.rows import curve_label

FAMILIES = ("active", "passive", "tandem", "other")
FAMILY_COLORS = {"active": "#d62728", "passive": "#1f77b4", "tandem": "#2ca02c", "other": "#555555"}
FAMILY_COLORMAPS = {"active": "Reds", "passive": "Blues", "tandem": "Greens", "other": "Greys"}
# Variants in the order the paper introduces them; unknown agents sort after, alphabetically.
AGENT_ORDER = (
    "active",
    "passive",
    "passive_same_init",
    "passive_expert",
    "passive_suboptimal",
    "passive_mixed",
    "passive_frozen_wm",
    "passive_fixed",
    "passive_auto",
    "tandem",
    "tandem_same_wm",
    "tandem_alpha",
)
VARIANT_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))
SHADE_RANGE = (0.9, 0.4)  # darkest to lightest position in the family colour map
BASELINE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.0}

PAPER_RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "savefig.bbox": "tight",
}


class CurveStyle(NamedTuple):
    color: str | tuple
    linestyle: str | tuple


def agent_family(agent: str) -> str:
    """"active" / "passive" / "tandem" from an agent variant name, else "other"."""
    head = str(agent).split("_", 1)[0]
    return head if head in FAMILIES[:-1] else "other"


def _agent_rank(agent: str) -> tuple:
    return (AGENT_ORDER.index(agent), "") if agent in AGENT_ORDER else (len(AGENT_ORDER), agent)


def _sort_value(value) -> tuple:
    # hparam values may be numbers or strings; numbers first, in numeric order.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, "" if value is None else str(value))


def curve_styles(rows: Iterable[Mapping]) -> dict[str, CurveStyle]:
    """{label: CurveStyle} for every curve in `rows`, in legend order (family, variant, hparam value)."""
    info: dict[str, tuple[str, object]] = {}
    for row in rows:
        info.setdefault(curve_label(row), (str(row["agent"]), row.get("hparam_value")))
    ordered = sorted(
        info,
        key=lambda label: (
            FAMILIES.index(agent_family(info[label][0])),
            _agent_rank(info[label][0]),
            _sort_value(info[label][1]),
            label,
        ),
    )
    styles = {}
    for family in FAMILIES:
        labels = [label for label in ordered if agent_family(info[label][0]) == family]
        agents = sorted({info[label][0] for label in labels}, key=_agent_rank)
        shaded = [label for label in labels if not (label == family and info[label][0] == family)] if len(labels) > 1 else []
        colormap = matplotlib.colormaps[FAMILY_COLORMAPS[family]]
        for label in labels:
            linestyle = VARIANT_LINESTYLES[agents.index(info[label][0]) % len(VARIANT_LINESTYLES)]
            if label in shaded:
                position = SHADE_RANGE[0] if len(shaded) == 1 else (
                    SHADE_RANGE[0] + (SHADE_RANGE[1] - SHADE_RANGE[0]) * shaded.index(label) / (len(shaded) - 1)
                )
                color = matplotlib.colors.to_hex(colormap(position))
            else:
                color = FAMILY_COLORS[family]
            styles[label] = CurveStyle(color, linestyle)
    return {label: styles[label] for label in ordered}


def paper_style():
    """Context manager applying the paper's rc settings while a figure is built."""
    return matplotlib.rc_context(PAPER_RC)


def new_figure(width: float, height: float) -> Figure:
    """A Figure with constrained layout (call inside `paper_style()`)."""
    return Figure(figsize=(width, height), layout="constrained")


def _format_steps(value, _position) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}K"
    return f"{value:g}"


STEPS_FORMATTER = FuncFormatter(_format_steps)


def save_figure(figure: Figure, path: str | pathlib.Path, dpi: int = 150) -> pathlib.Path:
    """Write `figure` to `path` (format from the suffix, e.g. .png); returns the path."""
    if not isinstance(figure, Figure):
        raise ValueError(f"save_figure needs a matplotlib Figure, got {type(figure).__name__}")
    path = pathlib.Path(path)
    if not path.suffix:
        raise ValueError(f"figure path {path} needs a suffix naming the format, e.g. .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(paper_style())
        figure.savefig(path, dpi=dpi)
    return path
