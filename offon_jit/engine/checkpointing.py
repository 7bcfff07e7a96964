"""A phase's checkpoints: the small run state through orbax, the replay rows as increments.

Within a phase a buffer only grows, so each checkpoint writes the rows every run added since
the previous one (offon_jit/replay/shards.py) and orbax saves the run state with empty buffer
data: bytes written per checkpoint do not grow with the buffer. An offline agent's first rows
are its phase inputs (the Active's saved buffer, split or enlarged per variant), rebuilt at
restore instead of copied, so only the rows it appends itself (bursts) are written.
A checkpoint that does not restore (corrupt state, a missing or corrupt increment) is reported
and the previous kept one is tried.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np

from offon_jit.checkpoint import CheckpointError, CheckpointStore
from offon_jit.config import ConfigError
from offon_jit.engine.programs import PhaseProgram
from offon_jit.replay import buffer as replay
from offon_jit.replay import shards


def _with_buffers(state: dict) -> list[str]:
    return [agent for agent, run in state.items() if run.buffer is not None]


def strip_buffer_data(state: dict) -> dict:
    return {agent: run.replace(buffer=run.buffer.replace(data={})) if run.buffer is not None else run
            for agent, run in state.items()}


def checkpoint_step(config, phase_index: int, chunk: int) -> int:
    return phase_index * (config.num_chunks + 1) + chunk


def _base_rows(program: PhaseProgram, buffer, schedule) -> int | None:
    """Rows of an offline agent's buffer that came with its phase inputs (not written as increments)."""
    if program.phase.is_active:
        return None
    added = int(schedule.added) // buffer.num_envs if schedule is not None else 0
    return int(buffer.num_added) - added


def save(study, store: CheckpointStore, program: PhaseProgram, state: dict, phase_index: int, chunk: int) -> None:
    phase, placement = program.phase, program.placement
    step = checkpoint_step(study.config, phase_index, chunk)
    compress = study.models.spec.is_image  # rendered frames shrink about 5x under zlib; proprio rows do not
    for agent in _with_buffers(state):
        buffer = state[agent].buffer
        counters, schedule = placement.to_local((buffer.replace(data={}), state[agent].schedule))
        addressable = all(x.is_fully_addressable for x in jax.tree_util.tree_leaves(buffer.data))
        # Only the new rows leave the device; several processes each copy their own runs first.
        source = buffer if addressable else placement.to_local(buffer)
        for i, run_index in enumerate(placement.local_runs):
            one_counters, one_schedule = jax.tree_util.tree_map(lambda x: x[i], (counters, schedule))
            base_rows = _base_rows(program, one_counters, one_schedule)
            base = None if base_rows is None else {"source": "phase inputs", "num_added": base_rows}
            shards.save_increment(study.layout.replay_increments(phase.name, agent, int(run_index)), source, step,
                                  base=base, compress=compress, run=int(run_index) if addressable else i)
    meta = {"phase": phase_index, "chunk": chunk, "config": json.loads(study.config.to_json())}
    store.save(step, strip_buffer_data(state), meta)
    # Increments no kept checkpoint needs go, earlier phases' included (their data is in buffers/).
    kept = set(store.all_steps())
    for earlier in study.phases[:phase_index + 1]:
        for agent in earlier.agents:
            for run_index in study.placement_for(len(earlier.runs)).local_runs:
                directory = study.layout.replay_increments(earlier.name, agent, int(run_index))
                if directory.exists():
                    try:
                        shards.prune(directory, kept)
                    except shards.ShardError as error:  # an unreadable old manifest must not stop training
                        print(f"warning: not pruning {directory}: {error}", file=sys.stderr)


def restore_latest(study, store: CheckpointStore):
    """(phase index, chunk, state) of the newest checkpoint that restores, trying older ones after a failure."""
    steps = sorted(store.all_steps(), reverse=True)
    if not steps:
        raise ConfigError(f"--resume: no checkpoint in {store.directory}")
    problems = []
    for position, step in enumerate(steps):
        try:
            restored = _restore(study, store, step)
        except (CheckpointError, shards.ShardError) as error:
            problems.append(str(error))
            if position + 1 < len(steps):
                print(f"warning: {error}; trying the previous checkpoint, {store.directory / str(steps[position + 1])}",
                      file=sys.stderr)
            continue
        store.delete_after(step)  # the unusable newer ones are written again as the run continues
        return restored
    raise CheckpointError("no checkpoint restores: " + " | ".join(problems))


def _restore(study, store: CheckpointStore, step: int):
    meta = store.read_meta(step)
    phase_index, chunk = meta["phase"], meta["chunk"]
    phase = study.phases[phase_index]
    program = study.program(phase)
    placement = program.placement
    inputs = study.phase_inputs(phase)
    like = placement.abstract(strip_buffer_data(program.abstract_state(inputs)))
    state, _ = store.restore(step, like)
    for agent in _with_buffers(state):
        counters = placement.to_local(state[agent].buffer)
        if phase.is_active:
            empty = replay.init_buffer(study.models.schema, study.config.capacity, study.config.num_envs)
            bases = [jax.tree_util.tree_map(np.asarray, empty)] * len(placement.local_runs)
        else:
            initial = placement.to_local(inputs[0])
            bases = [jax.tree_util.tree_map(lambda x: x[i], initial) for i in range(len(placement.local_runs))]
        rebuilt = []
        for i, run_index in enumerate(placement.local_runs):
            directory = study.layout.replay_increments(phase.name, agent, int(run_index))
            buffer = shards.restore(directory, step, bases[i])
            if int(buffer.num_added) != int(counters.num_added[i]):
                raise shards.ShardError(f"{directory}: increments hold {int(buffer.num_added)} rows per stream, "
                                        f"the checkpoint's run state {int(counters.num_added[i])}")
            rebuilt.append(buffer.data)
        data = placement.from_local(jax.tree_util.tree_map(lambda *xs: np.stack(xs), *rebuilt))
        state[agent] = state[agent].replace(buffer=state[agent].buffer.replace(data=data))
    return phase_index, chunk, state
