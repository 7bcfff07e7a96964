"""Run outputs for metrics: JSONL (source of truth), CSV (same rows), TensorBoard events.

One row per eval point, per run and seed: {"agent", "label", "seed", "env_steps", ...metrics}.
A run is identified by its curve label (`row_label`: the variant plus any swept value, so
one agent may have several runs per seed) and its seed; TensorBoard tags are
`<metric>/<label>/seed<N>`. Plots are regenerated from metrics.jsonl alone
(`offon-jit plot RUN_DIR`).
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import re

from offon_jit.atomic import atomic_file, atomic_write

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
KEY_COLUMNS = ("agent", "seed", "env_steps")


def row_label(row) -> str:
    """The curve (run) a row belongs to: its "label", else its "agent" (rows written before labels)."""
    label = row.get("label")
    return str(label) if label not in (None, "") else str(row["agent"])


def tensorboard_tag(row, metric: str) -> str:
    """`<metric>/<label>/seed<N>`: one chart per metric, one series per run and seed.

    The label's characters TensorBoard does not allow in a tag (spaces, brackets, '=', ','
    and '/') become single underscores: "passive_auto (ood_threshold=1.2)" reads
    passive_auto_ood_threshold_1.2.
    """
    label = re.sub(r"[^-\w.]+", "_", row_label(row)).strip("_")
    return f"{metric}/{label}/seed{row['seed']}"


def _clean(value):
    value = float(value) if not isinstance(value, (str, int)) else value
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a missing value is explicit
    return value


class MetricsWriter:
    def __init__(self, run_dir: pathlib.Path, tensorboard: bool = True):
        self.run_dir = pathlib.Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def write(self, rows: list[dict]) -> None:
        rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
        with open(self.run_dir / METRICS_JSONL, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        write_csv(self.run_dir, read_rows(self.run_dir))
        if self._tb is not None:
            for row in rows:
                for key, value in row.items():
                    if key not in KEY_COLUMNS and isinstance(value, (int, float)):
                        self._tb.add_scalar(tensorboard_tag(row, key), value, row["env_steps"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_rows(run_dir: pathlib.Path) -> list[dict]:
    path = pathlib.Path(run_dir) / METRICS_JSONL
    if not path.exists():
        raise FileNotFoundError(f"no {METRICS_JSONL} in {run_dir}: is this a run directory?")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: corrupt metrics line ({err})") from None
    return rows


def truncate_rows(run_dir: pathlib.Path, max_env_steps: int, agents: set[str], later_agents: set[str]) -> None:
    """Drop rows a resumed run will write again: `agents` rows after `max_env_steps`, all `later_agents` rows."""
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


def write_csv(run_dir: pathlib.Path, rows: list[dict]) -> None:
    columns = list(KEY_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_file(pathlib.Path(run_dir) / METRICS_CSV, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
