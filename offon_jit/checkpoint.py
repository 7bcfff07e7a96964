"""Periodic, atomic checkpoints of a run-state pytree with orbax.

orbax writes each step into a temporary directory and renames it when complete,
so a run killed mid-save leaves the previous checkpoint intact. We keep the two
most recent. A checkpoint holds the run-state pytree and a JSON sidecar (the
config and the host-side progress needed to continue, e.g. which phase is running).
The study saves its state without replay data: engine/checkpointing.py writes the
replay rows as increments beside it.
"""

from __future__ import annotations

import gc
import logging
import pathlib
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    pass


def _brief(error: Exception, limit: int = 300) -> str:
    """One line of an orbax/tensorstore error: its type and message, without the multi-KB store spec."""
    text = str(error).split(" [tensorstore_spec")[0].splitlines()[0] if str(error) else ""
    text = text if len(text) <= limit else text[:limit] + " ..."
    return f"{type(error).__name__}: {text}"


def _collect_abandoned_tasks() -> None:
    """A failed orbax restore abandons its other asyncio reads; when collected, asyncio logs each one's
    (already reported) error as "Task exception was never retrieved" with a multi-KB store spec.
    Collect them now, with that logger quiet."""
    logger = logging.getLogger("asyncio")
    disabled, logger.disabled = logger.disabled, True
    try:
        gc.collect()
    finally:
        logger.disabled = disabled


def _drop_closed_loop_noise(previous):
    """After a corrupt checkpoint fails to restore, tensorstore's pending callbacks reach orbax's asyncio loop
    once it is closed, and Python prints each as an unraisable 'Event loop is closed' traceback. They carry
    nothing (the failure itself is reported); every other unraisable exception still reaches `previous`."""
    def hook(unraisable):
        value = unraisable.exc_value
        if not (isinstance(value, RuntimeError) and str(value) == "Event loop is closed"):
            previous(unraisable)

    hook.drops_closed_loop_noise = True
    return hook


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
        if not getattr(sys.unraisablehook, "drops_closed_loop_noise", False):
            sys.unraisablehook = _drop_closed_loop_noise(sys.unraisablehook)
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
        problem = None
        try:
            return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as err:  # orbax raises several types for a corrupt or truncated sidecar
            problem = f"checkpoint {self.directory / str(step)}: unreadable metadata ({_brief(err)})"
        _collect_abandoned_tasks()
        raise CheckpointError(problem)

    def restore(self, step: int, like):
        """Restore the state saved at `step` into the structure (and shardings) of `like`."""
        target = without_empty(jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like))
        args = ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore())
        problem = None
        try:
            restored = self._manager.restore(step, args=args)
            return with_empty(restored["state"], like), restored["meta"]
        except Exception as err:  # orbax raises a variety of types for corrupt/mismatched trees
            problem = (f"checkpoint {self.directory / str(step)} cannot be restored into this run's state "
                       f"(corrupt, or saved with a different config): {_brief(err)}")
        _collect_abandoned_tasks()  # the error (and its traceback's references) is gone here
        raise CheckpointError(problem)

    def close(self) -> None:
        self._manager.close()
