"""Env steps per second for each backend at several batch sizes.

    python -m benchmarks.env_throughput            # full: JAX batches 1..4096, host 1..16
    python -m benchmarks.env_throughput --quick    # < 2 minutes on a 2-core CPU

Steps are agent steps (after action repeat); `frames_per_s` multiplies by the
action repeat. JAX numbers time a jitted `lax.scan` of random-action steps over a
batched env (compile excluded, reported separately); host numbers time
`BatchedHostEnv.step` in Python.

The seed-vmap section runs the batched env the way a study does, inside a vmap over
seeds, twice: with the plain batch-level auto-reset (under vmap its cond becomes a
select, so every step also computes a reset) and with the reset decision reduced over
the named seed axis (`reset_axis_name`, what the engine uses), which keeps it a branch.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402
from benchmarks.common import median, save_result, time_repeats  # noqa: E402
from envs.random_policy import random_actions, random_actions_np  # noqa: E402

FULL = {
    "jax_tasks": ["minatar/breakout", "dmc/cheetah_run-proprio", "dmc/quadruped_run-proprio", "dmc/point_mass_maze-proprio"],
    "jax_batches": [1, 16, 256, 4096],
    "host_tasks": ["minatar/breakout", "dmc/cheetah_run-proprio", "dmc/cheetah_run-vision", "metaworld/pick-place"],
    "host_batches": [1, 4, 16],
    "scan_steps": 100,
    "host_steps": 100,
    "repeats": 3,
    "seed_vmap_tasks": ["dmc/cheetah_run-proprio", "minatar/breakout"],
    "seed_vmap_shape": [4, 16],  # seeds, envs per seed
}
QUICK = {
    "jax_tasks": ["minatar/breakout", "dmc/point_mass_maze-proprio"],
    "jax_batches": [1, 64],
    "host_tasks": ["minatar/breakout", "dmc/cheetah_run-proprio", "dmc/cheetah_run-vision"],
    "host_batches": [1, 4],
    "scan_steps": 20,
    "host_steps": 20,
    "repeats": 2,
    "seed_vmap_tasks": ["minatar/breakout"],
    "seed_vmap_shape": [2, 4],
}


SEED_AXIS = "seeds"


def bench_jax(task: str, batch: int, steps: int, repeats: int, seeds: int = 0, reduce_reset: bool = False) -> dict:
    """`seeds` > 0: `seeds` copies of the batched env under a vmap, as in a study."""
    env = envs.make(task, backend="jax", num_envs=batch, reset_axis_name=SEED_AXIS if reduce_reset else None)

    def run(state, key):
        def body(carry, k):
            return env.step(carry, random_actions(k, env.spec.action, (batch,))), None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state

    run, reset = (jax.vmap(run, axis_name=SEED_AXIS), jax.vmap(env.reset)) if seeds else (run, env.reset)
    run = jax.jit(run)
    split = (lambda key: jax.random.split(key, seeds)) if seeds else (lambda key: key)
    state = jax.jit(reset)(split(jax.random.PRNGKey(0)))
    start = time.perf_counter()
    state = jax.block_until_ready(run(state, split(jax.random.PRNGKey(1))))
    compile_s = time.perf_counter() - start
    keys = iter(jax.random.split(jax.random.PRNGKey(2), repeats))

    def once():
        nonlocal state
        state = jax.block_until_ready(run(state, split(next(keys))))

    times = time_repeats(once, repeats)
    total = batch * max(seeds, 1)
    steps_per_s = total * steps / median(times)
    row = {
        "task": task, "backend": "jax", "batch": batch, "steps_per_call": steps,
        "compile_and_first_call_s": compile_s, "times_s": times,
        "steps_per_s": steps_per_s, "frames_per_s": steps_per_s * env.spec.action_repeat,
    }
    if seeds:
        row.update(seeds=seeds, batch=total, reset="reduced over seeds (cond)" if reduce_reset else "plain (select)")
    return row


def bench_host(task: str, batch: int, steps: int, repeats: int) -> dict:
    env = envs.make(task, backend="host", num_envs=batch)
    rng = np.random.default_rng(0)
    env.reset(0)

    def once():
        for _ in range(steps):
            env.step(random_actions_np(rng, env.spec.action, batch))

    try:
        times = time_repeats(once, repeats)
    finally:
        env.close()
    steps_per_s = batch * steps / median(times)
    return {
        "task": task, "backend": "host", "batch": batch, "steps_per_call": steps, "times_s": times,
        "steps_per_s": steps_per_s, "frames_per_s": steps_per_s * env.spec.action_repeat,
    }


def print_table(rows: list[dict]) -> None:
    print(f"{'task':30} {'backend':7} {'batch':>6} {'steps/s':>12} {'frames/s':>12}  seed vmap")
    for r in rows:
        vmapped = f"  {r['seeds']} seeds, reset {r['reset']}" if "seeds" in r else ""
        print(f"{r['task']:30} {r['backend']:7} {r['batch']:>6} {r['steps_per_s']:>12,.0f} {r['frames_per_s']:>12,.0f}"
              + vmapped)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings that finish in under 2 minutes on CPU")
    parser.add_argument("--out-dir", default=None, help="where to write the JSON result (default benchmarks/results)")
    parser.add_argument("--jax-tasks", nargs="*", default=None, help="override the JAX-backend task list")
    parser.add_argument("--host-tasks", nargs="*", default=None, help="override the host-backend task list")
    parser.add_argument("--jax-batches", nargs="*", type=int, default=None, help="override the JAX batch sizes")
    parser.add_argument("--seed-vmap-tasks", nargs="*", default=None, help="override the seed-vmap section's tasks")
    parser.add_argument("--seed-vmap-shape", nargs=2, type=int, default=None, metavar=("SEEDS", "ENVS"),
                        help="override the seed-vmap section's seeds and envs per seed")
    parser.add_argument("--label", default="", help="suffix for the result file name (e.g. mjx)")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    for name in ("jax_tasks", "host_tasks", "jax_batches", "seed_vmap_tasks", "seed_vmap_shape"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    rows = []
    for task in settings["jax_tasks"]:
        for batch in settings["jax_batches"]:
            rows.append(bench_jax(task, batch, settings["scan_steps"], settings["repeats"]))
            print(f"  jax  {task} x{batch}: {rows[-1]['steps_per_s']:,.0f} steps/s", flush=True)
    seeds, per_seed = settings["seed_vmap_shape"]
    for task in settings["seed_vmap_tasks"]:
        for reduce_reset in (False, True):
            rows.append(bench_jax(task, per_seed, settings["scan_steps"], settings["repeats"], seeds, reduce_reset))
            print(f"  jax  {task} {seeds} seeds x{per_seed}, reset {rows[-1]['reset']}: "
                  f"{rows[-1]['steps_per_s']:,.0f} steps/s", flush=True)
    for task in settings["host_tasks"]:
        for batch in settings["host_batches"]:
            rows.append(bench_host(task, batch, settings["host_steps"], settings["repeats"]))
            print(f"  host {task} x{batch}: {rows[-1]['steps_per_s']:,.0f} steps/s", flush=True)
    print_table(rows)
    name = "env_throughput" + (f"-{args.label}" if args.label else "")
    path = save_result(name, {"settings": settings, "results": rows}, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), "results": rows}


if __name__ == "__main__":
    main()
