"""Run outputs for metrics: JSONL (source of truth), CSV (same rows), TensorBoard events.

One row per eval point, per agent and seed: {"agent", "seed", "env_steps", ...metrics}.
Plots are regenerated from metrics.jsonl alone (`offon-jit plot RUN_DIR`).
"""

from __future__ import annotations

import csv
import json
import math
import pathlib

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
KEY_COLUMNS = ("agent", "seed", "env_steps")


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
                prefix = f"{row['agent']}/seed{row['seed']}"
                for key, value in row.items():
                    if key not in KEY_COLUMNS and isinstance(value, (int, float)):
                        self._tb.add_scalar(f"{prefix}/{key}", value, row["env_steps"])
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
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)
    write_csv(run_dir, rows)


def write_csv(run_dir: pathlib.Path, rows: list[dict]) -> None:
    columns = list(KEY_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    tmp = pathlib.Path(run_dir) / (METRICS_CSV + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(pathlib.Path(run_dir) / METRICS_CSV)
