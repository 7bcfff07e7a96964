"""Runs in a subprocess with forced CPU devices (JAX fixes its device count at start-up).

    python tests/engine/sharded_study.py OUT_DIR

With 4 CPU devices: the same 8-seed study unsharded (1 device) and sharded (4 devices),
the sharded one killed after its third chunk and resumed from the orbax checkpoint.
Writes OUT_DIR/report.json with where the sharded arrays live and the largest
parameter differences; the test asserts on it and on the run directories.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import numpy as np
import pytest

from flax import serialization

from offon_jit.config import RunConfig
from offon_jit.layout import RunLayout
from offon_jit.engine.study import Study
from tests.engine.kills import SimulatedKill, kill_at

# Shared with test_sharding.py (the two-process run uses the same study).
STUDY = dict(
    task="debug/point_reach",
    agents=("active", "passive"),  # a lock-step Tandem shares the Active's sharded program
    num_seeds=8,
    env_steps=32,
    eval_interval=16,
    prefill=32,
    batch_size=2,
    seq_len=8,
    eval_episodes=1,
    episode_length=16,
)


def run_killed_then_resumed(config: RunConfig, devices: int, kill_at_chunk_call: int, finals: dict) -> Study:
    with pytest.MonkeyPatch.context() as patch:
        kill_at(patch, Study, "run_chunk", kill_at_chunk_call)
        try:
            Study(config, progress=False, devices=devices).run()
        except SimulatedKill:
            pass
    resumed = Study(config, progress=False, devices=devices, on_phase_end=keep_in(finals))
    resumed.run(resume=True)
    return resumed


def keep_in(finals: dict):
    return lambda phase, state: finals.__setitem__(phase.name, state)


def main(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    single_finals, sharded_finals = {}, {}
    Study(RunConfig(**STUDY, out_dir=str(out / "one_device")), progress=False, devices=1,
          on_phase_end=keep_in(single_finals)).run()
    # Calls 1-2 are the Active phase's chunks, 3-4 the Passive's: kill in the Passive's second chunk and
    # resume from the checkpoint after its first (its buffer rebuilt from the Active's saved one).
    sharded = run_killed_then_resumed(RunConfig(**STUDY, out_dir=str(out / "four_devices")), 4, kill_at_chunk_call=4,
                                      finals=sharded_finals)

    report = {"devices": [str(d) for d in jax.devices()], "placement": sharded.placement.describe(), "max_abs_diff": {}}
    # The Active phase finished before the kill: compare its saved final agents; the Passive in memory.
    active = [RunLayout(out / name).agent(f"active_seed{s}") for name in ("one_device", "four_devices")
              for s in range(STUDY["num_seeds"])]
    ref, got = (_stack([serialization.msgpack_restore(p.read_bytes()) for p in paths])
                for paths in (active[:STUDY["num_seeds"]], active[STUDY["num_seeds"]:]))
    report["max_abs_diff"]["active"] = _max_abs_diff(ref, got)
    ref, got = single_finals["passive"]["passive"].agent.params, sharded_finals["passive"]["passive"].agent.params
    report["max_abs_diff"]["passive"] = _max_abs_diff(ref, got)
    leaf = jax.tree_util.tree_leaves(got)[0]
    report["shards"] = {"passive": [{"device": str(s.device), "runs": [s.index[0].start, s.index[0].stop]}
                                    for s in leaf.addressable_shards]}
    (out / "report.json").write_text(json.dumps(report, indent=2))


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *trees)


def _max_abs_diff(ref, got) -> float:
    diffs = jax.tree_util.tree_map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), ref, got)
    return max(jax.tree_util.tree_leaves(diffs))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
