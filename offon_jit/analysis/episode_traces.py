"""One final test episode step by step (Fig. S3) and decoded vs true frames (Fig. S4).

A trace is the record of one agent's episode (e.g. a traces/*.npz file the engine
writes): {"reward", "wm_loss": (T,) floats, "valid": (T,) bool (False after the episode
ended), optional "policy_input_loss": (T,) (agents with a policy-input autoencoder),
optional "position": (T, 2) maze (x, y), optional "obs" and "decoded": (T, ...)}. Frames
for Fig. S4 exist when obs and decoded are both (T, H, W, C) uint8 (vision tasks); vector
obs/decoded (proprio tasks) are allowed and not drawn. Traces come as {curve label:
trace}; invalid steps are not drawn.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from offon_jit.analysis.style import curve_styles, label_name, new_figure, paper_style, set_title

TRACE_QUANTITIES = ("reward", "wm_loss", "policy_input_loss")
QUANTITY_TITLES = {"reward": "Reward", "wm_loss": "World model loss", "policy_input_loss": "Policy input loss"}
HIGHLIGHT_COLOR = "gold"


REQUIRED_KEYS = ("reward", "wm_loss", "valid")


def has_frames(trace: Mapping) -> bool:
    """True if the (validated) trace carries image frames: obs and decoded of shape (T, H, W, C)."""
    return "obs" in trace and "decoded" in trace and np.ndim(trace["obs"]) == 4


def validate_trace(label: str, trace: Mapping) -> dict[str, np.ndarray]:
    """Check one trace's keys, shapes and dtypes; returns it as a dict of numpy arrays."""
    if not isinstance(trace, Mapping):
        raise ValueError(f"trace {label!r}: expected a dict of arrays, got {type(trace).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in trace]
    if missing:
        raise KeyError(f"trace {label!r}: missing {missing}")
    out = {key: np.asarray(trace[key]) for key in trace}
    length = out["valid"].shape[0] if out["valid"].ndim == 1 else None
    if out["valid"].dtype != bool or length is None:
        raise ValueError(f"trace {label!r}: valid must be a 1-d bool array, got {out['valid'].dtype} {out['valid'].shape}")
    for key in TRACE_QUANTITIES:
        if key not in out:
            continue
        if out[key].shape != (length,) or out[key].dtype.kind not in "iuf":
            raise ValueError(
                f"trace {label!r}: {key} must be a numeric array of shape ({length},) like valid, "
                f"got {out[key].dtype} {out[key].shape}"
            )
        out[key] = out[key].astype(np.float64)
    if not out["valid"].any():
        raise ValueError(f"trace {label!r}: no valid step")
    if "position" in out and out["position"].shape != (length, 2):
        raise ValueError(f"trace {label!r}: position must have shape ({length}, 2), got {out['position'].shape}")
    for key in ("obs", "decoded"):
        if key in out and (out[key].ndim < 2 or out[key].shape[0] != length):
            raise ValueError(f"trace {label!r}: {key} must have shape ({length}, ...), got {out[key].shape}")
    if "obs" in out and "decoded" in out and 4 in (out["obs"].ndim, out["decoded"].ndim):
        for key in ("obs", "decoded"):
            if out[key].ndim != 4 or out[key].dtype != np.uint8:
                raise ValueError(f"trace {label!r}: {key} frames must be uint8 (T, H, W, C), got {out[key].dtype} {out[key].shape}")
        if out["obs"].shape != out["decoded"].shape:
            raise ValueError(f"trace {label!r}: obs {out['obs'].shape} and decoded {out['decoded'].shape} differ in shape")
    return out


def validate_traces(traces: Mapping[str, Mapping]) -> dict[str, dict[str, np.ndarray]]:
    if not isinstance(traces, Mapping) or not traces:
        raise ValueError("traces must be a non-empty dict curve label -> trace")
    return {str(label): validate_trace(str(label), trace) for label, trace in traces.items()}


def trace_table(traces: Mapping[str, Mapping]) -> list[dict]:
    """Long table: one dict per (label, step) with valid, reward, wm_loss (policy_input_loss, x, y if present)."""
    table = []
    for label, trace in validate_traces(traces).items():
        for step in range(trace["valid"].shape[0]):
            row = {"label": label, "step": step, "valid": bool(trace["valid"][step])}
            row.update({key: float(trace[key][step]) for key in TRACE_QUANTITIES if key in trace})
            if "position" in trace:
                row["x"], row["y"] = (float(v) for v in trace["position"][step])
            table.append(row)
    return table


def max_loss_step(trace: Mapping, label: str = "trace") -> int:
    """The valid step with the largest world-model loss (Fig. S4's default frame)."""
    trace = validate_trace(label, trace)
    loss = np.where(trace["valid"], trace["wm_loss"], -np.inf)
    return int(np.argmax(loss))


def _checked_highlights(highlights, traces) -> dict[str, list[tuple[int, int]]]:
    if highlights is None:
        return {}
    if not isinstance(highlights, Mapping):
        raise ValueError("highlights must be a dict label -> [(start, stop), ...]")
    out = {}
    for label, spans in highlights.items():
        if label not in traces:
            raise KeyError(f"highlights for unknown trace {label!r}; traces: {list(traces)}")
        length = traces[label]["valid"].shape[0]
        checked = []
        for span in spans:
            start, stop = span
            if not 0 <= start < stop <= length:
                raise ValueError(f"highlight {span!r} of {label!r} must satisfy 0 <= start < stop <= {length}")
            checked.append((start, stop))
        out[label] = checked
    return out


def plot_episode_traces(
    traces: Mapping[str, Mapping],
    quantities: Sequence[str] | None = None,
    *,
    highlights: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    title: str | None = None,
    panel_size: tuple[float, float] = (2.8, 1.5),
) -> Figure:
    """Fig. S3: one column per agent, one row per quantity vs step; y shared along each row.

    Default quantities: reward, wm_loss and policy_input_loss, those every trace has.

    `highlights` {label: [(start, stop)]} shades abnormal step ranges of a column.
    """
    traces = validate_traces(traces)
    if quantities is None:
        quantities = [q for q in TRACE_QUANTITIES if all(q in trace for trace in traces.values())]
    if isinstance(quantities, str) or not quantities:
        raise ValueError(f"quantities must be a non-empty list out of {TRACE_QUANTITIES}, got {quantities!r}")
    unknown = [q for q in quantities if q not in TRACE_QUANTITIES]
    if unknown:
        raise KeyError(f"unknown trace quantities {unknown}; known: {list(TRACE_QUANTITIES)}")
    lacking = [label for label, trace in traces.items() if any(q not in trace for q in quantities)]
    if lacking:
        raise KeyError(f"traces {lacking} lack some of the quantities {list(quantities)}")
    spans = _checked_highlights(highlights, traces)
    styles = curve_styles({"agent": label.split(" ", 1)[0]} | {"label": label} for label in traces)
    with paper_style():
        fig = new_figure(panel_size[0] * len(traces), panel_size[1] * len(quantities))
        axes = np.asarray(fig.subplots(len(quantities), len(traces), squeeze=False, sharex="col", sharey="row"))
        for j, (label, trace) in enumerate(traces.items()):
            steps = np.arange(trace["valid"].shape[0])
            for i, quantity in enumerate(quantities):
                ax = axes[i, j]
                values = np.where(trace["valid"], trace[quantity], np.nan)
                ax.plot(steps, values, color=styles[label].color, linestyle=styles[label].linestyle, linewidth=0.9)
                for start, stop in spans.get(label, []):
                    ax.axvspan(start, stop, color=HIGHLIGHT_COLOR, alpha=0.3, linewidth=0)
                if i == 0:
                    ax.set_title(label_name(label))
                if j == 0:
                    ax.set_ylabel(QUANTITY_TITLES[quantity])
                if i == len(quantities) - 1:
                    ax.set_xlabel("Step")
        if title:
            set_title(fig, title)
    return fig


def _checked_steps(steps, traces) -> dict[str, list[int]]:
    with_frames = [label for label, trace in traces.items() if has_frames(trace)]
    if not with_frames:
        raise ValueError("no trace has obs and decoded frames (vision tasks only)")
    if steps is None:
        return {label: [max_loss_step(traces[label], label)] for label in with_frames}
    if not isinstance(steps, Mapping) or not steps:
        raise ValueError("steps must be a non-empty dict label -> list of step indices")
    out = {}
    for label, chosen in steps.items():
        if label not in traces:
            raise KeyError(f"steps for unknown trace {label!r}; traces: {list(traces)}")
        if label not in with_frames:
            raise ValueError(f"trace {label!r} has no obs/decoded frames")
        length = traces[label]["valid"].shape[0]
        chosen = [chosen] if isinstance(chosen, (int, np.integer)) else list(chosen)
        if not chosen or not all(isinstance(s, (int, np.integer)) and 0 <= s < length for s in chosen):
            raise ValueError(f"steps of {label!r} must be ints in [0, {length}), got {chosen!r}")
        out[label] = [int(s) for s in chosen]
    return out


def _image(frame: np.ndarray) -> tuple[np.ndarray, str | None]:
    """What imshow can draw: RGB as is, one channel as grey, other counts (MinAtar's object
    channels, 4 for breakout: not RGBA) as their max in grey."""
    channels = frame.shape[-1]
    if channels == 3:
        return frame, None
    return (frame[..., 0] if channels == 1 else frame.max(axis=-1)), "gray"


def plot_decoded_vs_true(
    traces: Mapping[str, Mapping],
    steps: Mapping[str, Sequence[int] | int] | None = None,
    *,
    panel_size: float = 1.8,
) -> Figure:
    """Fig. S4: for each chosen (label, step), the true frame next to the world model's decoding.

    Default steps: each vision trace's step of maximal world-model loss.
    """
    traces = validate_traces(traces)
    chosen = _checked_steps(steps, traces)
    entries = [(label, step) for label, label_steps in chosen.items() for step in label_steps]
    with paper_style():
        fig = new_figure(2 * panel_size, panel_size * len(entries) + 0.3)
        axes = np.asarray(fig.subplots(len(entries), 2, squeeze=False))
        for i, (label, step) in enumerate(entries):
            trace = traces[label]
            for j, key in enumerate(("obs", "decoded")):
                image, cmap = _image(trace[key][step])
                axes[i, j].imshow(image, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
                axes[i, j].grid(False)
                if i == 0:
                    axes[i, j].set_title("Ground truth" if key == "obs" else "Decoded")
            axes[i, 0].set_ylabel(f"{label_name(label)}\nstep {step}\nWM loss {trace['wm_loss'][step]:.3g}")
    return fig
