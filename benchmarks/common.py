"""Shared benchmark plumbing: machine description, timing, and result files."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import statistics
import time
from typing import Callable

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    import jax

    devices = jax.devices()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "device": devices[0].device_kind,
        "device_count": len(devices),
    }


def device_label() -> str:
    import jax

    kind = jax.devices()[0].device_kind.lower().replace(" ", "-")
    return f"{jax.default_backend()}-{kind}-{os.cpu_count()}cores" if jax.default_backend() == "cpu" else kind


def time_repeats(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall time of `fn()` per repeat; `fn` must block until its work is done."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def save_result(name: str, payload: dict, out_dir: pathlib.Path | None = None, quick: bool = False) -> pathlib.Path:
    out_dir = pathlib.Path(out_dir or RESULTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    path = out_dir / f"{name}-{device_label()}{suffix}.json"
    record = {
        "benchmark": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "quick": quick,
        **payload,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)
    return path
