"""Run outputs for metrics: metrics.jsonl, the source of truth, and what mirrors it.

One row per eval point, per run and seed: {"agent", "label", "seed", "env_steps", ...metrics}.
A run is identified by its curve label (`row_label`: the variant plus any swept value, so
one agent may have several runs per seed) and its seed. Mirrors of metrics.jsonl:

- metrics.csv: the same rows; columns KEY_COLUMNS, then every other column in the order it
  first appears in metrics.jsonl. Rows are appended; a row that brings a new column rewrites
  the file once with the wider header, so the CSV always equals `write_csv(read_rows(...))`.
- tensorboard/<label>/seed<N>/: one TensorBoard run per curve and seed, tags = metric names
  (offon_jit/tensorboard_log.py).
- Weights & Biases, only when asked (offon_jit/wandb_log.py).

Exactly once, whatever kills the process: `write` returns only after its rows are in every
file, and a resume (truncate_rows, then MetricsWriter(..., rebuild=True)) makes every mirror
equal to metrics.jsonl (it drops an unfinished last line a kill left, rewrites the CSV and
rebuilds the TensorBoard tree from scratch) before appending. So a resumed run ends with exactly
the rows of an uninterrupted one, and a kill during the rebuild is repaired by the next resume.
Plots are regenerated from metrics.jsonl alone (`offon-jit plot RUN_DIR`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
import shutil
import sys

from offon_jit.atomic import atomic_file, atomic_write

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
KEY_COLUMNS = ("agent", "seed", "env_steps")
STEP_COLUMN = "env_steps"  # every mirror's x axis
# What names a run rather than measures it: hyperparameters in TensorBoard and W&B, never a curve.
RUN_COLUMNS = ("agent", "label", "seed", "expl_weight", "hparam", "hparam_value")
# Wall-clock columns (engine/study.py): the only ones that differ between two runs of the same config.
TIMING_COLUMNS = ("wall_time_s", "env_steps_per_s")


def row_label(row) -> str:
    """The curve (run) a row belongs to: its "label", else its "agent" (rows written before labels)."""
    label = row.get("label")
    return str(label) if label not in (None, "") else str(row["agent"])


def row_scalars(row: dict) -> dict[str, float]:
    """The row's measurements: every number that is neither the step nor part of the run's name."""
    return {key: float(value) for key, value in row.items()
            if key != STEP_COLUMN and key not in RUN_COLUMNS
            and isinstance(value, (int, float)) and math.isfinite(value)}


def run_hparams(row: dict, config: dict | None) -> dict:
    """The run's name (RUN_COLUMNS present in the row, label resolved) and the config's scalar fields.

    A config field whose name the row also uses (the config's base `seed`) is kept as config.<name>.
    """
    identity = {key: row[key] for key in RUN_COLUMNS if row.get(key) is not None}
    identity["label"] = row_label(row)
    fields = {(f"config.{key}" if key in identity else key): value for key, value in (config or {}).items()
              if isinstance(value, (str, int, float, bool))}
    return {**identity, **fields}


def _clean(value):
    value = float(value) if not isinstance(value, (str, int)) and value is not None else value
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a missing value is explicit
    return value


class MetricsWriter:
    """Appends rows to metrics.jsonl and its mirrors; see the module docstring for the guarantees.

    config: the run's config (config.json's content): TensorBoard shows it as text and its scalar
    fields as hyperparameters. wandb: W&B settings (project, entity, mode, group, tags, notes, dir)
    to log there too, or None (wandb is then never imported). rebuild: open a run that already has
    metrics (a resume): make every mirror equal to metrics.jsonl first. Without it the run must
    have none, so a new run never touches another run's files.
    """

    def __init__(self, run_dir: pathlib.Path, config: dict | None = None, tensorboard: bool = True,
                 wandb: dict | None = None, rebuild: bool = False):
        self.run_dir = pathlib.Path(run_dir)
        self._config = config
        jsonl = self.run_dir / METRICS_JSONL
        if not rebuild and jsonl.exists() and jsonl.stat().st_size:
            raise ValueError(f"{jsonl} already holds metrics: only a resume (rebuild=True) may continue them")
        self._sinks = []
        if wandb is not None:  # before any file changes: a missing wandb stops us here
            from offon_jit.wandb_log import WandbLog

            self._sinks.append(WandbLog(wandb, default_group=self.run_dir.resolve().name))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        rows = _repair_jsonl(jsonl) if rebuild else None
        self._csv_columns = write_csv(self.run_dir, rows) if rows is not None else None
        if tensorboard:
            from offon_jit.tensorboard_log import TensorBoardLog

            tree = self.run_dir / TENSORBOARD_DIR
            if rebuild and tree.exists():  # rebuilt from metrics.jsonl: nothing lost, nothing twice
                shutil.rmtree(tree)
            self._sinks.insert(0, TensorBoardLog(tree, config))
        self._send(rows or [])

    def write(self, rows: list[dict]) -> None:
        rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
        with open(self.run_dir / METRICS_JSONL, "a") as f:
            f.write("".join(json.dumps(row) + "\n" for row in rows))
            f.flush()
            os.fsync(f.fileno())  # a kept checkpoint never points past rows a crash lost
        self._append_csv(rows)
        self._send(rows)

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()
        self._sinks = []

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _append_csv(self, rows: list[dict]) -> None:
        columns = csv_columns(rows, self._csv_columns or KEY_COLUMNS)
        if columns != self._csv_columns:  # a new column (or the first rows): the whole file, wider
            self._csv_columns = write_csv(self.run_dir, read_rows(self.run_dir))
            return
        with open(self.run_dir / METRICS_CSV, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=columns).writerows(rows)

    def _send(self, rows: list[dict]) -> None:
        for row in rows:
            label, seed, step = row_label(row), int(row["seed"]), int(row[STEP_COLUMN])
            scalars, hparams = row_scalars(row), run_hparams(row, self._config)
            for sink in self._sinks:
                sink.add(label, seed, step, scalars, hparams)
        for sink in self._sinks:
            sink.flush()


def read_rows(run_dir: pathlib.Path) -> list[dict]:
    """metrics.jsonl's rows; a last line without its newline (a write a kill cut short) is left out."""
    path = pathlib.Path(run_dir) / METRICS_JSONL
    if not path.exists():
        raise FileNotFoundError(f"no {METRICS_JSONL} in {run_dir}: is this a run directory?")
    return _parse(path, _complete_lines(path.read_text()))


def _complete_lines(text: str) -> str:
    return text[:text.rfind("\n") + 1]


def _parse(path: pathlib.Path, text: str) -> list[dict]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: corrupt metrics line ({err})") from None
    return rows


def _repair_jsonl(path: pathlib.Path) -> list[dict] | None:
    """The file's rows (None if there is no file), first cutting an unfinished last line off it."""
    if not path.exists():
        return None
    text = path.read_text()
    complete = _complete_lines(text)
    if complete != text:
        print(f"warning: {path}: dropped an unfinished last line (the run was killed while writing it)",
              file=sys.stderr)
        atomic_write(path, complete)
    return _parse(path, complete)


def truncate_rows(run_dir: pathlib.Path, max_env_steps: int, agents: set[str], later_agents: set[str]) -> None:
    """Drop rows a resumed run will write again: `agents` rows after `max_env_steps`, all `later_agents` rows.

    metrics.jsonl and metrics.csv change here; TensorBoard (and W&B) follow when the resumed
    run opens its MetricsWriter with rebuild=True, which rebuilds them from metrics.jsonl.
    """
    path = pathlib.Path(run_dir) / METRICS_JSONL
    if not path.exists():
        return

    def keep(row):
        if row["agent"] in later_agents:
            return False
        return row["agent"] not in agents or row["env_steps"] <= max_env_steps

    write_rows(run_dir, [r for r in read_rows(run_dir) if keep(r)])


def write_rows(run_dir: pathlib.Path, rows: list[dict]) -> None:
    """Replace the run's metrics (JSONL and CSV) with `rows`, atomically per file."""
    path = pathlib.Path(run_dir) / METRICS_JSONL
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))
    write_csv(run_dir, rows)


def csv_columns(rows: list[dict], columns=KEY_COLUMNS) -> list[str]:
    """`columns`, then every other key of `rows` in the order it first appears."""
    columns, seen = list(columns), set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                columns.append(key)
                seen.add(key)
    return columns


def write_csv(run_dir: pathlib.Path, rows: list[dict]) -> list[str]:
    """metrics.csv from `rows` (atomically); returns its columns."""
    columns = csv_columns(rows)
    with atomic_file(pathlib.Path(run_dir) / METRICS_CSV, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return columns
