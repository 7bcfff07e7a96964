"""Env steps per second for each backend at several batch sizes.

    python -m benchmarks.env_throughput            # full: JAX batches 1..4096, host 1..16, vision 1..256
    python -m benchmarks.env_throughput --quick    # a few minutes on a 2-core CPU

Steps are agent steps (after action repeat); `frames_per_s` multiplies by the
action repeat. JAX numbers time a jitted `lax.scan` of random-action steps over a
batched env (compile excluded, reported separately); host numbers time
`BatchedHostEnv.step` in Python.

The seed-vmap section runs the batched env the way a study does, inside a vmap over
seeds, twice: with the plain batch-level auto-reset (under vmap its cond becomes a
select, so every step also computes a reset) and with the reset decision reduced over
the named seed axis (`reset_axis_name`, what the engine uses), which keeps it a branch.

The vision section times each `dmc/*-vision` task on both backends at the same batch sizes:
`jax` (MJX physics drawn by the JAX ray caster, envs/pixels) against `host` (dm_control,
rendered by MuJoCo's OpenGL renderer under MUJOCO_GL, EGL by default), and saves the ratio
jax/host per task and batch. dm_control renders its envs one after another, so host calls at
large batches take few steps (`vision_host_steps`: at most `vision_host_env_steps` agent steps
per call, never under 3); each row says how many it took. At batch 256 a vision run can outgrow
a 24 GB CPU machine (the OOM killer once ended a JAX ray-caster run at 23 GB; dm_control's 256
quadruped envs swap), so vision rows are saved one at a time, smaller batches first, and
`--vision-backends jax` leaves the host rows out. The system load average before and
after the run is saved too: these 2-core machines are shared.

`dmc/quadruped_run-vision` at batch 256 hangs on CPU (jaxlib 0.10.2: every XLA thread waits, no CPU
used; batch 128 runs, and physics or rendering alone at 256 run) unless XLA's concurrency-optimized
scheduler is off, so run that row as

    XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false \
        python -m benchmarks.env_throughput --vision-tasks dmc/quadruped_run-vision --vision-batches 256 ...

The JSON records XLA_FLAGS.
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

VISION_BACKENDS = ("jax", "host")

FULL = {
    "jax_tasks": ["minatar/breakout", "dmc/cheetah_run-proprio", "dmc/quadruped_run-proprio", "dmc/point_mass_maze-proprio"],
    "jax_batches": [1, 16, 256, 4096],
    "host_tasks": ["minatar/breakout", "dmc/cheetah_run-proprio", "metaworld/pick-place"],
    "host_batches": [1, 4, 16],
    "scan_steps": 100,
    "host_steps": 100,
    "repeats": 3,
    "seed_vmap_tasks": ["dmc/cheetah_run-proprio", "minatar/breakout"],
    "seed_vmap_shape": [4, 16],  # seeds, envs per seed
    "vision_tasks": ["dmc/cheetah_run-vision", "dmc/quadruped_run-vision"],
    "vision_batches": [1, 16, 256],
    "vision_jax_steps": 20,  # per jitted call: 256 x 20 frames already take seconds on the CPU
    "vision_host_steps": 20,
    "vision_host_env_steps": 160,  # agent steps per host call at most (batch 16: 10 steps, 256: 3)
    "vision_target": {"batch": 16, "min_ratio": 20.0},  # the issue's: jax >= 20x host at batch 16 on CPU
}
QUICK = {
    "jax_tasks": ["minatar/breakout", "dmc/point_mass_maze-proprio"],
    "jax_batches": [1, 64],
    "host_tasks": ["minatar/breakout", "dmc/cheetah_run-proprio"],
    "host_batches": [1, 4],
    "scan_steps": 20,
    "host_steps": 20,
    "repeats": 2,
    "seed_vmap_tasks": ["minatar/breakout"],
    "seed_vmap_shape": [2, 4],
    "vision_tasks": ["dmc/cheetah_run-vision"],
    "vision_batches": [1, 4],
    "vision_jax_steps": 10,
    "vision_host_steps": 10,
    "vision_host_env_steps": 20,
    "vision_target": {"batch": 16, "min_ratio": 20.0},
}
MIN_HOST_VISION_STEPS = 3


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


def host_gl_renderer() -> str:
    """The OpenGL renderer dm_control gets here (e.g. Mesa's llvmpipe under EGL on a CPU machine)."""
    from dm_control import _render
    from OpenGL import GL

    context = _render.Renderer(max_width=64, max_height=64)
    try:
        with context.make_current() as current:
            name = current.call(GL.glGetString, GL.GL_RENDERER).decode()
    finally:
        context.free()
    return f"dm_control MuJoCo OpenGL, MUJOCO_GL={os.environ.get('MUJOCO_GL')}, GL_RENDERER {name}"


def host_vision_steps(batch: int, settings: dict) -> int:
    return max(MIN_HOST_VISION_STEPS, min(settings["vision_host_steps"], settings["vision_host_env_steps"] // batch))


def bench_vision(task: str, batch: int, backend: str, settings: dict, gl_renderer: str) -> dict:
    """The task's row on one backend at one batch size, naming its physics and renderer."""
    from envs.pixels.dmc_vision import RENDERER

    if backend == "jax":
        row = bench_jax(task, batch, settings["vision_jax_steps"], settings["repeats"])
        row.update(section="vision", physics="MJX (Playground's port)", renderer=RENDERER)
        return row
    steps = host_vision_steps(batch, settings)
    row = bench_host(task, batch, steps, settings["repeats"])
    row.update(section="vision", physics="MuJoCo (dm_control)", renderer=gl_renderer)
    if steps < settings["vision_host_steps"]:
        row["note"] = f"only {steps} agent steps per call at batch {batch} (dm_control renders its envs one after another)"
    return row


def vision_ratios(rows: list[dict], target: dict) -> list[dict]:
    """jax/host agent steps/s per (task, batch) of the vision section, with the issue's target checked."""
    cells = {(r["task"], r["backend"], r["batch"]): r["steps_per_s"] for r in rows if r.get("section") == "vision"}
    out = []
    for task, backend, batch in cells:
        if backend == "jax" and (task, "host", batch) in cells:
            ratio = cells[(task, "jax", batch)] / cells[(task, "host", batch)]
            entry = {"task": task, "batch": batch, "jax_steps_per_s": cells[(task, "jax", batch)],
                     "host_steps_per_s": cells[(task, "host", batch)], "jax_over_host": ratio}
            if batch == target["batch"]:
                entry["target_min_ratio"] = target["min_ratio"]
                entry["target_met"] = ratio >= target["min_ratio"]
            out.append(entry)
    return out


BUSY_LOAD = 1.0  # a 1-minute load average at least this high before the run: other jobs shared the cores


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_busy(load_before: list[float]) -> bool:
    return load_before[0] >= BUSY_LOAD


def print_table(rows: list[dict]) -> None:
    print(f"{'task':30} {'backend':7} {'batch':>6} {'steps/s':>12} {'frames/s':>12}  seed vmap")
    for r in rows:
        vmapped = f"  {r['seeds']} seeds, reset {r['reset']}" if "seeds" in r else ""
        print(f"{r['task']:30} {r['backend']:7} {r['batch']:>6} {r['steps_per_s']:>12,.0f} {r['frames_per_s']:>12,.0f}"
              + vmapped)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings that finish in a few minutes on CPU")
    parser.add_argument("--out-dir", default=None, help="where to write the JSON result (default benchmarks/results)")
    parser.add_argument("--jax-tasks", nargs="*", default=None, help="override the JAX-backend task list")
    parser.add_argument("--host-tasks", nargs="*", default=None, help="override the host-backend task list")
    parser.add_argument("--jax-batches", nargs="*", type=int, default=None, help="override the JAX batch sizes")
    parser.add_argument("--seed-vmap-tasks", nargs="*", default=None, help="override the seed-vmap section's tasks")
    parser.add_argument("--seed-vmap-shape", nargs=2, type=int, default=None, metavar=("SEEDS", "ENVS"),
                        help="override the seed-vmap section's seeds and envs per seed")
    parser.add_argument("--vision-tasks", nargs="*", default=None, help="override the vision section's tasks")
    parser.add_argument("--vision-batches", nargs="*", type=int, default=None,
                        help="override the vision section's batch sizes")
    parser.add_argument("--vision-backends", nargs="+", choices=VISION_BACKENDS, default=list(VISION_BACKENDS),
                        help="the vision section's backends (host at batch 256 on quadruped needs more than 24 GB)")
    parser.add_argument("--label", default="", help="suffix for the result file name (e.g. mjx)")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    for name in ("jax_tasks", "host_tasks", "jax_batches", "seed_vmap_tasks", "seed_vmap_shape", "vision_tasks",
                 "vision_batches"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    settings["vision_backends"] = args.vision_backends
    load_before = load_average()
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
    name = "env_throughput" + (f"-{args.label}" if args.label else "")
    xla_flags = os.environ.get("XLA_FLAGS", "")  # recorded: a flag avoids the quadruped batch-256 hang (docstring)
    gl_renderer = host_gl_renderer() if settings["vision_tasks"] and "host" in args.vision_backends else None
    # Small batches first, saved after each row: the rows before survive a batch-256 run that the OOM killer ends.
    for batch in settings["vision_batches"]:
        for task in settings["vision_tasks"]:
            for backend in args.vision_backends:
                rows.append(bench_vision(task, batch, backend, settings, gl_renderer))
                print(f"  vision {task} x{batch} {backend}: {rows[-1]['steps_per_s']:,.0f} steps/s", flush=True)
                partial = {"settings": settings, "results": rows, "load_average": {"before": load_before},
                           "vision_ratios": vision_ratios(rows, settings["vision_target"]),
                           "xla_flags": xla_flags,
                           "partial": "written after each vision row: the run stopped before it finished"}
                save_result(name, partial, args.out_dir, quick=args.quick)
    ratios = vision_ratios(rows, settings["vision_target"])
    load = {"before": load_before, "after": load_average(), "cpu_count": os.cpu_count(),
            "busy": machine_busy(load_before),
            "note": "os.getloadavg() (1, 5, 15 min); 'after' includes this benchmark's own load; busy: other "
                    f"jobs held at least {BUSY_LOAD:g} core(s) on average in the minute before the run"}
    print_table(rows)
    for r in ratios:
        target = f"  (target >= {r['target_min_ratio']:g}x: {'met' if r['target_met'] else 'NOT met'})" \
            if "target_met" in r else ""
        print(f"vision {r['task']} x{r['batch']}: jax/host {r['jax_over_host']:.1f}x{target}")
    print(f"load average before {load['before']}, after {load['after']}{' (busy machine)' if load['busy'] else ''}")
    payload = {"settings": settings, "results": rows, "vision_ratios": ratios, "load_average": load,
               "xla_flags": xla_flags}
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), "results": rows, "vision_ratios": ratios}


if __name__ == "__main__":
    main()
