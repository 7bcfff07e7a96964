"""Several processes (hosts) running one study through JAX's own distributed runtime.

`initialize` starts `jax.distributed` from flags or environment variables before any
JAX computation; afterwards `jax.devices()` lists every process's devices and the run
mesh (placement.py) spans them. Coordination between processes happens only outside
the training step: a barrier before merging outputs, and a flag exchange so that a
diverged run stops every process instead of leaving the others waiting.

Environment variables (flags take precedence):
    OFFON_JIT_COORDINATOR     host:port of process 0's coordinator service
    OFFON_JIT_NUM_PROCESSES   total number of processes
    OFFON_JIT_PROCESS_ID      this process's index, 0 .. num_processes-1
    OFFON_JIT_DISTRIBUTED=auto  let JAX detect the cluster (SLURM, Open MPI, ...)
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import jax
import numpy as np

from offon_jit.config import ConfigError
from offon_jit.metrics_log import METRICS_JSONL, read_rows, row_label


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    coordinator: str = ""  # host:port; empty: single process (or auto detection)
    num_processes: int = 0
    process_id: int = -1
    auto: bool = False  # jax.distributed.initialize() with cluster auto-detection

    @classmethod
    def from_env(cls, environ=None, coordinator: str | None = None, num_processes: int | None = None,
                 process_id: int | None = None, auto: bool = False) -> "DistributedConfig":
        """Flags (those not None) over environment variables."""
        env = os.environ if environ is None else environ

        def pick(value, name, cast, default):
            if value is not None:
                return value
            raw = env.get(name, "")
            if raw == "":
                return default
            try:
                return cast(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a valid {cast.__name__}") from None

        config = cls(
            coordinator=pick(coordinator, "OFFON_JIT_COORDINATOR", str, ""),
            num_processes=pick(num_processes, "OFFON_JIT_NUM_PROCESSES", int, 0),
            process_id=pick(process_id, "OFFON_JIT_PROCESS_ID", int, -1),
            auto=auto or env.get("OFFON_JIT_DISTRIBUTED", "") == "auto",
        )
        config.validate()
        return config

    @property
    def enabled(self) -> bool:
        return self.auto or bool(self.coordinator)

    def validate(self) -> None:
        if self.auto and self.coordinator:
            raise ConfigError("choose either automatic cluster detection or an explicit coordinator, not both")
        if not self.coordinator:
            if (self.num_processes or self.process_id >= 0) and not self.auto:
                raise ConfigError("num_processes/process_id need a coordinator address (host:port)")
            return
        host, _, port = self.coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"coordinator must look like host:port, got {self.coordinator!r}")
        if self.num_processes < 1:
            raise ConfigError(f"a coordinator needs num_processes >= 1, got {self.num_processes}")
        if not 0 <= self.process_id < self.num_processes:
            raise ConfigError(f"process_id must be in [0, {self.num_processes}), got {self.process_id}")


def initialize(config: DistributedConfig) -> None:
    """Start JAX's distributed runtime; must run before any JAX computation."""
    if not config.enabled:
        return
    if config.auto:  # JAX reads the cluster's own variables; explicit counts still win
        jax.distributed.initialize(num_processes=config.num_processes or None,
                                   process_id=config.process_id if config.process_id >= 0 else None)
    else:
        jax.distributed.initialize(config.coordinator, config.num_processes, config.process_id)


def is_multi_process() -> bool:
    return jax.process_count() > 1


def barrier(name: str) -> None:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def processes_flagging(flag: bool) -> list[int]:
    """Indices of the processes that passed True (every process must call this)."""
    from jax.experimental import multihost_utils

    flags = np.asarray(multihost_utils.process_allgather(np.array([flag], np.int32))).reshape(-1)
    return [int(i) for i in np.flatnonzero(flags)]


def merged_rows(run_dir: pathlib.Path) -> list[dict]:
    """Every process's metric rows, ordered by eval point, agent and seed."""
    run_dir = pathlib.Path(run_dir)
    rows = []
    for index in range(jax.process_count()):
        folder = run_dir / f"process{index}"
        if not (folder / METRICS_JSONL).exists():
            raise FileNotFoundError(f"process {index} wrote no metrics into {folder}: did it fail?")
        rows += read_rows(folder)
    return sorted(rows, key=lambda r: (r["env_steps"], r["agent"], row_label(r), r["seed"]))
