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

from offon_jit.config import RunConfig
from offon_jit.engine.study import Study

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


class SimulatedKill(Exception):
    pass


def run_killed_then_resumed(config: RunConfig, devices: int, kill_at_chunk_call: int) -> Study:
    original = Study.run_chunk
    calls = {"n": 0}

    def run_chunk(self, phase, state, chunk):
        calls["n"] += 1
        if calls["n"] == kill_at_chunk_call:
            raise SimulatedKill()
        return original(self, phase, state, chunk)

    Study.run_chunk = run_chunk
    try:
        Study(config, progress=False, devices=devices).run()
    except SimulatedKill:
        pass
    finally:
        Study.run_chunk = original
    resumed = Study(config, progress=False, devices=devices)
    resumed.run(resume=True)
    return resumed


def main(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    single = Study(RunConfig(**STUDY, out_dir=str(out / "one_device")), progress=False, devices=1)
    single.run()
    # Calls 1-2 are the Active phase's chunks, 3 the Passive's first: kill there, resume from the checkpoint.
    sharded = run_killed_then_resumed(RunConfig(**STUDY, out_dir=str(out / "four_devices")), 4, kill_at_chunk_call=3)

    report = {"devices": [str(d) for d in jax.devices()], "placement": sharded.placement.describe(), "max_abs_diff": {}}
    for phase, agent in (("active", "active"), ("passive", "passive")):
        ref = single.final_states[phase][agent].agent.params
        got = sharded.final_states[phase][agent].agent.params
        diffs = jax.tree_util.tree_map(lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))), ref, got)
        report["max_abs_diff"][agent] = max(jax.tree_util.tree_leaves(diffs))
        leaf = jax.tree_util.tree_leaves(got)[0]
        report.setdefault("shards", {})[agent] = [
            {"device": str(s.device), "runs": [s.index[0].start, s.index[0].stop]} for s in leaf.addressable_shards
        ]
    (out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
