"""Periodic, atomic checkpoints of a run-state pytree with orbax.

orbax writes each step into a temporary directory and renames it when complete,
so a run killed mid-save leaves the previous checkpoint intact. We keep the two
most recent. A checkpoint holds the run-state pytree and a JSON sidecar (the
config and the host-side progress needed to continue, e.g. which phase is running).
The study saves its state without replay data: engine/checkpointing.py writes the
replay rows as increments beside it.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    pass


def _is_empty(leaf) -> bool:
    return getattr(leaf, "size", None) == 0 and hasattr(leaf, "shape")


def without_empty(tree):
    """`tree` with its zero-size arrays (which orbax refuses to write, e.g. an MJX state's `act` when the
    model has no actuator activations) replaced by None: they carry no data, the restore target rebuilds them."""
    return jax.tree_util.tree_map(lambda x: None if _is_empty(x) else x, tree)


def with_empty(restored, like):
    """Put back the zero-size arrays `without_empty` dropped, shaped, typed and placed as in `like`."""
    def refill(target, value):
        if not _is_empty(target):
            return value
        zeros = np.zeros(target.shape, target.dtype)
        sharding = getattr(target, "sharding", None)
        return jax.device_put(zeros, sharding) if sharding is not None else jax.numpy.asarray(zeros)

    return jax.tree_util.tree_map(refill, like, restored)


class CheckpointStore:
    def __init__(self, directory: pathlib.Path, max_to_keep: int = 2):
        self.directory = pathlib.Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state, meta: dict) -> None:
        args = ocp.args.Composite(state=ocp.args.StandardSave(without_empty(state)), meta=ocp.args.JsonSave(meta))
        self._manager.save(step, args=args, force=True)
        self._manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def delete_after(self, step: int) -> None:
        """Drop the checkpoints after `step` (a resume from an older one rewrites them)."""
        for later in [s for s in self.all_steps() if s > step]:
            self._manager.delete(later)

    def read_meta(self, step: int) -> dict:
        try:
            return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as err:  # orbax raises several types for a corrupt or truncated sidecar
            raise CheckpointError(f"checkpoint {self.directory / str(step)}: unreadable metadata "
                                  f"({type(err).__name__}: {err})") from err

    def restore(self, step: int, like):
        """Restore the state saved at `step` into the structure (and shardings) of `like`."""
        target = without_empty(jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like))
        args = ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore())
        try:
            restored = self._manager.restore(step, args=args)
        except Exception as err:  # orbax raises a variety of types for corrupt/mismatched trees
            raise CheckpointError(
                f"checkpoint {self.directory / str(step)} cannot be restored into this run's state "
                f"(corrupt, or saved with a different config): {type(err).__name__}: {err}"
            ) from err
        return with_empty(restored["state"], like), restored["meta"]

    def close(self) -> None:
        self._manager.close()
