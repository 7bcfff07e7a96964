"""Paper-style look shared by every figure: names and colours per agent, rc settings, legends, saving.

Names: `display_names` maps each curve to the paper's name of its agent (Fig. 1, Sec. 4.2, App. A.6-A.8:
"Active", "Passive", "Tandem", "Passive-same", "Passive-expert", "Tandem_sameWM", ...) plus the value of
its swept hyper-parameter in the paper's symbol ("Passive-fixed N=2K", "Passive-auto τ=1.35",
"Tandem-α α=0.1"), for run plots and experiment figures alike. Where a figure shows both Passive
initialisations the plain one is the paper's "Passive-diff" (Figs. S6, S10, S11, S16, S17).

Colours follow the paper: Active red, Passive blue, Tandem green. Within a family the plain agent
("active", "passive", "tandem") keeps the family colour, a solid line; every other curve of the family
takes the next entry of the family's palette (clearly different shades and hues of the family colour)
and the next line style, in legend order (variant, then hyper-parameter value). Each family has its own
marker, so every curve differs from every other in marker or line style and stays distinguishable in
greyscale. The same label looks the same in every panel and every figure built from the same rows.
Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, nothing to close), rendered
by the Agg canvas when saved; legends go outside the axes (`outside_legend`), so they never cover data.
"""

from __future__ import annotations

import contextlib
import math
import pathlib
import re
import textwrap
from typing import Iterable, Mapping, NamedTuple, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from offon_jit.analysis.rows import curve_label

FAMILIES = ("active", "passive", "tandem", "other")
FAMILY_COLORS = {"active": "#d62728", "passive": "#1f77b4", "tandem": "#2ca02c", "other": "#444444"}
# Per family: the plain agent's colour first, then shades and neighbouring hues of the family colour, every
# two of them at least 20 apart in CIELAB (clearly different to the eye; tests/analysis/test_figures.py).
FAMILY_PALETTES = {
    "active": ("#d62728", "#7f0000", "#ff7f0e", "#e7298a", "#a65628", "#fb9a99", "#fdae61"),
    "passive": ("#1f77b4", "#08306b", "#56b4e9", "#6a51a3", "#17becf", "#9ecae1", "#3f007d"),
    "tandem": ("#2ca02c", "#00441b", "#a6d96a", "#808000", "#01665e", "#66c2a4", "#3d5a0c"),
    "other": ("#444444", "#000000", "#aaaaaa", "#8c564b", "#bcbd22", "#d2b48c", "#b8860b"),
}
FAMILY_MARKERS = {"active": "o", "passive": "s", "tandem": "^", "other": "D"}
# Six styles against seven palette colours: a family's first 42 curves all differ in colour or line style.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
MARKER_EVERY = 0.2  # one marker per this fraction of the axes along a line: a few per curve, never cluttered
MARKER_SIZE = 3.5
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
    "passive_offline_auto",
    "tandem",
    "tandem_same_wm",
    "tandem_alpha",
)
# The paper's name of each agent variant; an agent not listed here is shown by its variant name.
DISPLAY_NAMES = {
    "active": "Active",
    "passive": "Passive",
    "tandem": "Tandem",
    "passive_same_init": "Passive-same",  # Fig. S10 caption
    "passive_expert": "Passive-expert",  # Fig. S8
    "passive_suboptimal": "Passive-suboptimal",
    "passive_mixed": "Passive-mixed",
    "passive_frozen_wm": "Passive_sameWM(frozen)",  # App. A.6
    "tandem_same_wm": "Tandem_sameWM",
    "tandem_alpha": "Tandem-α",  # Eq. S3's alpha
    "passive_fixed": "Passive-fixed",  # Sec. 4.2's fixed schedule, every N env steps
    "passive_auto": "Passive-auto",  # the paper's "Passive+Auto interact"
    "passive_offline_auto": "Passive-offline-auto",  # beyond the paper: armed by an offline signal
}
PASSIVE_DIFF = "Passive-diff"  # the plain Passive where the Passive-same is shown beside it
# The symbol the paper writes for each swept value (rows' "hparam" names and "expl_weight").
HPARAM_SYMBOLS = {
    "fixed_interval": "N",
    "ood_threshold": "τ",
    "offline_threshold": "τ",
    "alpha": "α",
    "expl_weight": "w_expl",
}
STEP_VALUED = ("fixed_interval",)  # written in env steps: 2000 -> "2K"
BASELINE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.0}
BAND_ALPHA = 0.2

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
    marker: str | None = None

    def line_kwargs(self) -> dict:
        """Keyword arguments of `Axes.plot` for this style (markers spaced along the line)."""
        kwargs = {"color": self.color, "linestyle": self.linestyle}
        if self.marker:
            kwargs.update(marker=self.marker, markersize=MARKER_SIZE, markevery=MARKER_EVERY)
        return kwargs


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


# A run label: variant, optional "(name=value, ...)" of its swept values, optional "[study]" (experiments/spec.py).
LABEL_PATTERN = re.compile(r"^(?P<agent>[^\s()\[\]]+)(?: \((?P<values>[^()]*)\))?(?: \[(?P<study>[^\[\]]*)\])?$")


class CurveInfo(NamedTuple):
    agent: str
    values: tuple[tuple[str, object], ...]  # (name, value) of its hyper-parameter and swept w_expl
    study: str | None
    custom: str | None = None  # a label that is not a run label: shown as it is


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def curve_info(label: str, row: Mapping | None = None) -> CurveInfo:
    """Agent, swept values and study of a curve, from its label and (if given) one of its rows: a row's
    "hparam"/"hparam_value" name the value even when the label omits it (one value run). A label that is
    not a run label of the row's agent (e.g. given by hand) is kept as the curve's name; its agent is then
    the row's."""
    row = row or {}
    values = {}
    if row.get("hparam_value") is not None:
        values[str(row.get("hparam") or "value")] = row["hparam_value"]
    match = LABEL_PATTERN.match(str(label))
    parts = [part.partition("=") for part in filter(None, ((match and match["values"]) or "").split(", "))]
    foreign = match is not None and row.get("agent") not in (None, match["agent"])  # not this row's run label
    if match is None or foreign or not all(name and equals and value for name, equals, value in parts):
        return CurveInfo(str(row.get("agent", label)), tuple(values.items()), None, str(label))
    for name, _, value in parts:
        values.setdefault(name, _number(value))
    return CurveInfo(match["agent"], tuple(values.items()), match["study"])


def format_value(name: str, value) -> str:
    """A swept value as a figure writes it: env-step values with K/M suffixes, numbers in %g."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_steps(value) if name in STEP_VALUED else f"{value:g}"
    return str(value)


def display_name(info: CurveInfo, passive_diff: bool = False) -> str:
    """The paper's name of a curve: "Passive-fixed N=2K", "Active w_expl=0.5", "Passive [expl_data]"."""
    if info.custom is not None:
        return info.custom
    name = DISPLAY_NAMES.get(info.agent, info.agent)
    if passive_diff and info.agent == "passive":
        name = PASSIVE_DIFF
    values = ", ".join(f"{HPARAM_SYMBOLS.get(key, key)}={format_value(key, value)}" for key, value in info.values)
    return name + (f" {values}" if values else "") + (f" [{info.study}]" if info.study else "")


def label_name(label: str) -> str:
    """The paper's name of a curve known only by its label (e.g. a trace's key): "passive_auto" -> "Passive-auto"."""
    return display_name(curve_info(label))


def curve_infos(rows: Iterable[Mapping]) -> dict[str, CurveInfo]:
    """{label: CurveInfo} of every curve in `rows`, in first-seen order."""
    infos: dict[str, CurveInfo] = {}
    for row in rows:
        label = curve_label(row)
        if label not in infos:
            infos[label] = curve_info(label, row)
    return infos


def display_names(rows: Iterable[Mapping]) -> dict[str, str]:
    """{label: the paper's name} for every curve in `rows` (see the module doc); labels that would share a
    name keep their run label beside it, so two curves never read the same."""
    infos = curve_infos(rows)
    agents = {info.agent for info in infos.values()}
    diff = {"passive", "passive_same_init"} <= agents
    names = {label: display_name(info, diff) for label, info in infos.items()}
    repeated = {name for name in names.values() if list(names.values()).count(name) > 1}
    return {label: f"{name} ({label})" if name in repeated else name for label, name in names.items()}


def curve_styles(rows: Iterable[Mapping]) -> dict[str, CurveStyle]:
    """{label: CurveStyle} for every curve in `rows`, in legend order (family, variant, hparam value)."""
    infos = curve_infos(rows)

    def key(label):
        info = infos[label]
        return (FAMILIES.index(agent_family(info.agent)), info.study or "", _agent_rank(info.agent),
                tuple(_sort_value(value) for _, value in info.values), label)

    ordered = sorted(infos, key=key)
    styles = {}
    for family in FAMILIES:
        labels = [label for label in ordered if agent_family(infos[label].agent) == family]
        plain = [label for label in labels if label == family]  # the plain agent of the family's own study
        others = [label for label in labels if label != family]
        palette = FAMILY_PALETTES[family]
        for index, label in [(0, label) for label in plain] + list(enumerate(others, 1)):
            styles[label] = CurveStyle(palette[index % len(palette)], LINESTYLES[index % len(LINESTYLES)],
                                       FAMILY_MARKERS[family])
    return {label: styles[label] for label in ordered}


def seed_count_text(seed_counts: Iterable[int]) -> str:
    """"n=3 seeds", "n=1 seed", or a range "n=1-3 seeds" where curves have different numbers of seeds."""
    counts = sorted({int(n) for n in seed_counts})
    if not counts:
        raise ValueError("no seed counts")
    span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"n={span} seed" + ("" if counts == [1] else "s")


def band_label(seed_counts: Iterable[int], band: str = "±1 std") -> str | None:
    """What the shaded band is: "shaded: ±1 std over n=3 seeds" (a range where curves differ), None where no
    curve has two seeds (no band is drawn then)."""
    counts = sorted({int(n) for n in seed_counts})
    if not counts or counts[-1] < 2:
        return None
    return f"shaded: {band} over {seed_count_text(counts)}"


def band_handle() -> Patch:
    """A legend patch for the shaded band (grey: it stands for every curve's band)."""
    return Patch(facecolor="0.5", alpha=BAND_ALPHA * 1.5, linewidth=0)


def outside_legend(figure: Figure, handles: Sequence, texts: Sequence[str], *, fontsize=None):
    """A figure legend below every axes, in as many balanced columns as the figure's width holds;
    constrained layout makes room for it, so it never covers data."""
    if not handles:
        return None
    size = matplotlib.rcParams["legend.fontsize"] if fontsize is None else fontsize
    em = FontProperties(size=size).get_size_in_points() / 72  # inches
    entry = em * (4.8 + 0.5 * max(len(text) for text in texts))  # handle, spacing and the widest text
    columns = max(1, min(len(texts), int(figure.get_figwidth() // entry)))
    rows = math.ceil(len(texts) / columns)
    columns = math.ceil(len(texts) / rows)  # balanced rows
    figure.set_figheight(figure.get_figheight() + em * (1.5 * rows + 1.0))  # the panels keep their size
    return figure.legend(handles, texts, loc="outside lower center", ncol=columns, frameon=False, fontsize=fontsize)


MIN_FIGURE_WIDTH = 4.0  # inches: room for a two-column legend under a single panel


def set_title(figure: Figure, title: str, fontsize="medium") -> None:
    """The figure's title, each line wrapped to the figure's width (characters about 0.55 em wide)."""
    em = FontProperties(size=fontsize).get_size_in_points() / 72  # inches
    width = max(40, int(figure.get_figwidth() / (0.55 * em)))
    text = "\n".join(textwrap.fill(line, width, break_on_hyphens=False) for line in str(title).splitlines())
    figure.set_figheight(figure.get_figheight() + em * 1.3 * (text.count("\n") + 1))  # the panels keep their size
    figure.suptitle(text, fontsize=fontsize)


def figure_texts(figure: Figure) -> dict[str, list[str] | str]:
    """Every text a reader sees on `figure`: suptitle, legend entries, axes titles and labels, panel notes."""
    axes = [ax for ax in figure.axes if ax.axison]
    return {
        "title": figure.get_suptitle(),
        "legend": [t.get_text() for legend in figure.legends for t in legend.get_texts()]
        + [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()],
        "legend_titles": [legend.get_title().get_text() for legend in figure.legends if legend.get_title().get_text()],
        "axes_titles": [ax.get_title() for ax in axes],
        "xlabels": [ax.get_xlabel() for ax in axes],
        "ylabels": [ax.get_ylabel() for ax in axes],
        "notes": [t.get_text() for ax in figure.axes for t in ax.texts]
        + [t.get_text() for t in figure.texts if t.get_text() != figure.get_suptitle()],
    }


def paper_style():
    """Context manager applying the paper's rc settings while a figure is built."""
    return matplotlib.rc_context(PAPER_RC)


def new_figure(width: float, height: float) -> Figure:
    """A Figure with constrained layout (call inside `paper_style()`)."""
    return Figure(figsize=(width, height), layout="constrained")


def format_steps(value, _position=None) -> str:
    """Env steps as the paper writes them: 500, 2K, 1.5M."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}K"
    return f"{value:g}"


STEPS_FORMATTER = FuncFormatter(format_steps)


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
