"""Progress bar between chunks: env steps/s, ETA, latest mean score per agent."""

from __future__ import annotations

import sys
import time

import numpy as np

from offon_jit.metrics_log import row_label
from tqdm import tqdm


class Progress:
    def __init__(self, total_chunks: int, env_steps_per_chunk: int, enabled: bool = True):
        self._bar = tqdm(total=total_chunks, unit="chunk", disable=not enabled, file=sys.stderr, dynamic_ncols=True)
        self._steps_per_chunk = env_steps_per_chunk
        self._last = time.perf_counter()
        self._scores: dict[str, float] = {}

    def skip(self, chunks: int) -> None:
        self._bar.update(chunks)

    def update(self, phase: str, rows: list[dict]) -> None:
        now = time.perf_counter()
        rate = self._steps_per_chunk / max(now - self._last, 1e-9)
        self._last = now
        for label in {row_label(r) for r in rows}:  # one score per curve: swept values stay apart
            self._scores[label] = float(np.mean([r["score"] for r in rows if row_label(r) == label]))
        scores = " ".join(f"{a}={s:.2f}" for a, s in sorted(self._scores.items()))
        self._bar.set_postfix_str(f"{phase} | {rate:,.0f} env steps/s (all seeds) | score {scores}")
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()
