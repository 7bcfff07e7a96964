"""Where a study's independent runs live: the run axis sharded over a device mesh.

Every leaf of a study's state has the runs (seeds) on its leading axis. The axis is
laid out on a one-dimensional `Mesh` named "runs" with `NamedSharding`, and every
per-run function is wrapped as jit(shard_map(vmap(fn))): each device vmaps over its
own block of runs, and shard_map guarantees no cross-device communication inside the
step, since runs are independent. With several processes (multi-host) the mesh spans
every process's devices; each process only reads and writes the runs it holds.

One device gives the plain jit(vmap(fn)) program, so results do not depend on the
layout beyond float reassociation inside XLA's per-device kernels.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from offon_jit.config import ConfigError

RUNS_AXIS = "runs"  # the mesh axis the runs are sharded over
SEEDS_AXIS = "seeds"  # the vmap axis over one device's runs (named so envs can reduce over it)


def choose_device_count(num_runs: int, requested: int, available: int, multiple_of: int = 1) -> int:
    """`requested` devices (0: the most that divide the runs evenly), validated against the runs.

    `multiple_of` is the process count: every process must contribute the same number of devices.
    """
    if requested < 0:
        raise ConfigError(f"devices must be >= 0 (0: all that divide the runs evenly), got {requested}")
    if requested > available:
        raise ConfigError(f"devices={requested} but only {available} JAX devices are visible")
    fits = [d for d in range(1, min(num_runs, available) + 1) if num_runs % d == 0 and d % multiple_of == 0]
    if requested == 0:
        if not fits:
            raise ConfigError(
                f"{num_runs} runs (seeds) cannot be split evenly over {multiple_of} processes; use a multiple of "
                f"{multiple_of} seeds"
            )
        return fits[-1]
    if requested not in fits:
        raise ConfigError(
            f"{num_runs} runs (seeds) do not divide over {requested} devices"
            + (f" in {multiple_of} processes" if multiple_of > 1 else "")
            + f": every device must hold the same number of runs; use devices in {fits} or a number of seeds "
            f"divisible by {requested}"
        )
    return requested


@dataclasses.dataclass(frozen=True)
class RunPlacement:
    mesh: Mesh
    num_runs: int

    @property
    def sharding(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec(RUNS_AXIS))

    @property
    def num_devices(self) -> int:
        return self.mesh.devices.size

    def map(self, fn: Callable) -> Callable:
        """jit(shard_map(vmap(fn))) over the run axis of every positional argument and output."""
        spec = PartitionSpec(RUNS_AXIS)
        # check_vma=False: the body has no collectives, so every value is per-device by construction;
        # the checker would otherwise demand pcast annotations on scan carries built from constants.
        return jax.jit(jax.shard_map(jax.vmap(fn, axis_name=SEEDS_AXIS), mesh=self.mesh, in_specs=spec, out_specs=spec,
                                     check_vma=False))

    @property
    def local_runs(self) -> np.ndarray:
        """Global indices of the runs whose data this process holds, ascending."""
        index_map = self.sharding.addressable_devices_indices_map((self.num_runs,))
        runs = {i for (block,) in index_map.values() for i in range(*block.indices(self.num_runs))}
        return np.array(sorted(runs), np.int64)

    def to_local(self, tree):
        """This process's runs as numpy arrays (leading axis = `local_runs`)."""

        def local(x):
            if not isinstance(x, jax.Array) or x.is_fully_addressable:
                return np.asarray(jax.device_get(x))
            shards = {}
            for shard in x.addressable_shards:
                start = shard.index[0].start or 0
                shards.setdefault(start, np.asarray(shard.data))
            return np.concatenate([shards[s] for s in sorted(shards)])

        return jax.tree_util.tree_map(local, tree)

    def from_local(self, tree):
        """Global run-sharded arrays from this process's runs (the inverse of `to_local`)."""
        local_count = len(self.local_runs)

        def place(x):
            x = np.asarray(x)
            if x.shape[0] != local_count:
                raise ValueError(f"local data has {x.shape[0]} runs on its leading axis, this process holds {local_count}")
            return jax.make_array_from_process_local_data(self.sharding, x, (self.num_runs, *x.shape[1:]))

        return jax.tree_util.tree_map(place, tree)

    def abstract(self, tree):
        """Shape/dtype structs carrying the run sharding (orbax restores into them)."""
        return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.sharding), tree)

    def describe(self) -> str:
        kinds = sorted({d.device_kind for d in self.mesh.devices.flat})
        return (f"{self.num_runs} runs over {self.num_devices} {'/'.join(kinds)} device(s) "
                f"in {jax.process_count()} process(es), {self.num_runs // self.num_devices} per device")


def pick_devices(all_devices: Sequence, num_runs: int, requested: int = 0) -> list:
    """The mesh's devices: the same number from every process, so each holds as many runs."""
    processes = sorted({d.process_index for d in all_devices})
    count = choose_device_count(num_runs, requested, len(all_devices), multiple_of=len(processes))
    per_process = count // len(processes)
    return [d for p in processes for d in [x for x in all_devices if x.process_index == p][:per_process]]


def make_placement(num_runs: int, devices: int = 0) -> RunPlacement:
    """Runs sharded over `devices` of the visible devices (every process's, under jax.distributed)."""
    return RunPlacement(Mesh(np.array(pick_devices(jax.devices(), num_runs, devices)), (RUNS_AXIS,)), num_runs)
