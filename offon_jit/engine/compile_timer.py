"""Seconds JAX spends compiling (tracing, lowering, XLA) inside a block, from JAX's own monitoring events.

The study times the first chunk of each phase with it, so "compiled in X s" counts compilation
only, not the chunk's training, and says how many programs came from the persistent cache.
"""

from __future__ import annotations

import contextlib
import dataclasses

from jax import monitoring

COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration", "/jax/compilation_cache/cache_retrieval_time_sec")
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


@dataclasses.dataclass
class CompileTime:
    seconds: float = 0.0
    cache_hits: int = 0


@contextlib.contextmanager
def timing_compilation():
    """Yields a CompileTime that sums the compile events recorded in this process while the block runs."""
    total = CompileTime()

    def on_duration(event: str, seconds: float, **_):
        if event in COMPILE_EVENTS:
            total.seconds += seconds

    def on_event(event: str, **_):
        if event == CACHE_HIT_EVENT:
            total.cache_hits += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)
    try:
        yield total
    finally:
        monitoring.unregister_event_duration_listener(on_duration)
        monitoring.unregister_event_listener(on_event)
