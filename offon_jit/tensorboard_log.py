"""TensorBoard event files: one run directory per curve label and seed, one tag per metric.

    tensorboard/<label>/seed<N>/events.out.tfevents.*     tags: score, eval_wm_loss, ...

TensorBoard names a run by its directory, so its run selector overlays Active, Passive and
Tandem (and every seed) on each metric's chart. Each run directory also holds the run's
hyperparameters (the hparams plugin's session start: its row identity plus the scalar
config fields; TensorBoard infers the metric columns, the final value of every scalar tag,
`score` among them) and the config as text.

Events are written synchronously (tensorboardX's `EventsWriter`, not its `SummaryWriter`,
whose background queue can still hold events after `flush()`: a kill -9 then loses them).
After `flush()` returns, every event added is in the file.
"""

from __future__ import annotations

import json
import pathlib
import re
import time

from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.summary import hparams as hparams_summaries
from tensorboardX.summary import scalar as scalar_summary
from tensorboardX.summary import text as text_summary


def run_directory_name(label: str, seed: int) -> str:
    """`<label>/seed<N>` with every run of characters other than letters, digits, '-', '_', '.'
    in the label made one underscore: "passive_auto (ood_threshold=1.2)" -> passive_auto_ood_threshold_1.2."""
    return re.sub(r"[^-\w.]+", "_", label).strip("_") + f"/seed{seed}"


class TensorBoardLog:
    def __init__(self, root: pathlib.Path, config: dict | None = None):
        self.root = pathlib.Path(root)
        self._config_text = None if config is None else _as_markdown_code(json.dumps(config, indent=2))
        self._runs: dict[str, tuple[str, EventsWriter]] = {}  # directory name -> (label, writer)
        self._unflushed: set[str] = set()

    def add(self, label: str, seed: int, step: int, scalars: dict[str, float], hparams: dict) -> None:
        """One event at `step` holding every scalar; a run's first event also writes its hparams and config."""
        writer = self._writer(label, seed, hparams)
        summary = Summary(value=[v for tag, x in scalars.items() for v in scalar_summary(tag, x).value])
        writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))
        self._unflushed.add(run_directory_name(label, seed))

    def flush(self) -> None:
        for name in sorted(self._unflushed):
            self._runs[name][1].flush()
        self._unflushed.clear()

    def close(self) -> None:
        self.flush()
        for _, writer in self._runs.values():
            writer.close()
        self._runs.clear()

    def _writer(self, label: str, seed: int, hparams: dict) -> EventsWriter:
        name = run_directory_name(label, seed)
        if name in self._runs:
            owner, writer = self._runs[name]
            if owner != label:  # two curves in one directory would draw one zigzag line
                raise ValueError(f"TensorBoard: curve labels {owner!r} and {label!r} both map to "
                                 f"run directory {name!r}; labels must differ in letters or digits")
            return writer
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        writer = EventsWriter(str(directory / "events"))
        _, session_start, _ = hparams_summaries(hparams, {})
        writer.write_event(Event(wall_time=time.time(), step=0, summary=session_start))
        if self._config_text is not None:
            writer.write_event(Event(wall_time=time.time(), step=0, summary=text_summary("config", self._config_text)))
        self._runs[name] = (label, writer)
        return writer


def _as_markdown_code(text: str) -> str:
    """TensorBoard renders text as Markdown: indent it so the JSON shows verbatim, as a code block."""
    return "\n".join("    " + line for line in text.splitlines())
