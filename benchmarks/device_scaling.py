"""Throughput of one study's seeds sharded over 1, 2, 4, ... devices.

    python -m benchmarks.device_scaling [--quick] [--device-counts 1,2,4] [--cpu-devices 4]

Times steady-state Active chunks (collect + train, compile excluded) of the Study's own
sharded program with a fixed number of seeds, placed on each device count in turn. On a
CPU-only machine `--cpu-devices N` (default 4) forces N host devices before JAX starts;
they share the machine's cores, so CPU figures show the sharding overhead rather than a
speed-up. Per-device throughput on real accelerators is the number that matters there.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # JAX fixes its CPU device count when it starts: force it before importing jax
    _count = sys.argv[sys.argv.index("--cpu-devices") + 1] if "--cpu-devices" in sys.argv else "4"
    os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={_count}")

import jax  # noqa: E402

from benchmarks import harness  # noqa: E402
from benchmarks.common import median, save_result  # noqa: E402

QUICK = {"task": "debug/point_reach", "preset": "tiny", "num_seeds": 2, "chunk_env_steps": 32, "batch_size": 4,
         "seq_len": 16, "repeats": 2}  # fmt: skip
FULL = {"task": "debug/point_reach", "preset": "tiny", "num_seeds": 8, "chunk_env_steps": 32, "batch_size": 8,
        "seq_len": 32, "repeats": 3}  # fmt: skip


def parse_args(argv):
    parser = harness.common_parser(__doc__)
    parser.add_argument("--task")
    parser.add_argument("--preset")
    parser.add_argument("--num-seeds", dest="num_seeds", type=int)
    parser.add_argument("--chunk-env-steps", dest="chunk_env_steps", type=int, help="env steps per timed chunk")
    parser.add_argument("--batch-size", dest="batch_size", type=int)
    parser.add_argument("--seq-len", dest="seq_len", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--device-counts", default="", help="comma-separated (default: 1, 2, 4, ... up to all devices)")
    parser.add_argument("--cpu-devices", type=int, default=4, help="forced host devices on CPU (only as a script)")
    return parser.parse_args(argv)


def default_device_counts(num_seeds: int) -> list[int]:
    counts, d = [], 1
    while d <= min(len(jax.devices()), num_seeds):
        if num_seeds % d == 0:
            counts.append(d)
        d *= 2
    return counts


def measure(config, devices: int, repeats: int) -> dict:
    study = harness.make_study(config, devices=devices)
    state = harness.program(study, "active").init(None)
    compiled, timings = harness.compile_timed(harness.jitted_chunk(study, "active"), state["active"], {})

    def step(active):
        active, _, out = compiled(active, {})
        return active

    _, times = harness.timed_calls(step, state["active"], repeats)
    seconds = median(times)
    env_steps = config.eval_interval * config.num_seeds
    updates = config.updates_per_chunk * config.num_seeds
    return {
        "devices": devices,
        "placement": study.placement.describe(),
        "compile_s": timings["compile_s"],
        "chunk_seconds": times,
        "median_chunk_s": seconds,
        "env_steps_per_s": env_steps / seconds,
        "updates_per_s": updates / seconds,
        "env_steps_per_s_per_device": env_steps / seconds / devices,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    s = harness.settings_from(args, QUICK, FULL)
    counts = [int(c) for c in args.device_counts.split(",") if c] or default_device_counts(s["num_seeds"])
    config = harness.chunk_config(s["task"], s["preset"], s["num_seeds"], chunk_env_steps=s["chunk_env_steps"],
                                  batch_size=s["batch_size"], seq_len=s["seq_len"], chunks=s["repeats"] + 1)
    rows = []
    for devices in counts:
        print(f"device_scaling: {s['num_seeds']} seeds on {devices} device(s) ...", file=sys.stderr, flush=True)
        rows.append(measure(config, devices, s["repeats"]))
    base = rows[0]["env_steps_per_s"]
    for row in rows:
        row["speedup_vs_first"] = row["env_steps_per_s"] / base
    print(f"{'devices':>8} {'env steps/s':>12} {'updates/s':>10} {'per device':>11} {'speed-up':>9} {'compile s':>10}")
    for r in rows:
        print(f"{r['devices']:>8} {r['env_steps_per_s']:>12.1f} {r['updates_per_s']:>10.1f} "
              f"{r['env_steps_per_s_per_device']:>11.1f} {r['speedup_vs_first']:>9.2f} {r['compile_s']:>10.1f}")
    payload = {"settings": s, "device_counts": counts, "results": rows,
               "note": "forced host devices share the CPU's cores" if jax.default_backend() == "cpu" else ""}
    path = save_result("device_scaling", payload, out_dir=args.out_dir, quick=args.quick)
    print(f"saved {path}", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
