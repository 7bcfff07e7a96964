"""What a study tells its user while it runs: one progress bar per phase and one-line messages.

A phase's bar counts its chunks (eval intervals) with the env steps per second of all its runs,
tqdm's ETA for the phase, and the latest mean score per curve. Messages (compiling, resuming)
are written above the bar so it is not broken.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm import tqdm

from offon_jit.metrics_log import row_label


class Progress:
    def __init__(self, enabled: bool = True, messages: bool = True):
        self.enabled = enabled
        self.messages = messages
        self._bar = None
        self._scores: dict[str, float] = {}

    def start_phase(self, name: str, total_chunks: int, done_chunks: int, env_steps_per_chunk: int) -> None:
        self.close()
        self._name, self._steps_per_chunk = name, env_steps_per_chunk
        self._bar = tqdm(total=total_chunks, initial=done_chunks, unit="chunk", desc=f"{name} phase",
                         disable=not self.enabled, file=sys.stderr, dynamic_ncols=True)
        self._last = time.perf_counter()

    def restart_clock(self) -> None:
        """Rates count from here (after a phase's compilation, which is reported on its own)."""
        self._last = time.perf_counter()

    def update(self, rows: list[dict]) -> None:
        now = time.perf_counter()
        rate = self._steps_per_chunk / max(now - self._last, 1e-9)
        self._last = now
        for label in {row_label(r) for r in rows}:  # one score per curve: swept values stay apart
            self._scores[label] = float(np.mean([r["score"] for r in rows if row_label(r) == label]))
        scores = " ".join(f"{a}={s:.2f}" for a, s in sorted(self._scores.items()))
        self._bar.set_postfix_str(f"{rate:,.0f} env steps/s (all runs) | score {scores}")
        self._bar.update(1)

    def message(self, text: str) -> None:
        if not self.messages:
            return
        if self._bar is not None and self.enabled:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
