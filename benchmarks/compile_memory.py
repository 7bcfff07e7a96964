"""Compile time of the chunk programs per preset, and device memory per seed.

    python -m benchmarks.compile_memory            # presets tiny, xs, s; 1, 2, 4 seeds; 1M-step buffers
    python -m benchmarks.compile_memory --quick    # tiny; 1 and 2 seeds; small buffers

For each preset and seed count, the Study's jitted Active chunk (collect + train) and
offline chunk (Passive updates) are lowered and compiled ahead of time from abstract
arguments (nothing is allocated), each step timed. Memory comes from two sources:

* `memory_analysis`: XLA's buffer assignment of the compiled program (argument, output,
  alias and temp bytes; peak_estimate = argument + output - alias + temp). Every backend
  reports it, so it is the CPU figure. It is the program's plan, not a measurement.
* `device_peak`: the allocator's peak_bytes_in_use after initialising the state and running
  one chunk, where the backend keeps allocator statistics (GPU/TPU; not CPU). The peak is
  the process's so far; configurations run in increasing size so it belongs to the
  current one when it grew.

Per-seed bytes are the increments between the smallest and largest seed count. The state
breakdown (parameters + optimiser state, replay buffer) is exact from the array shapes;
the default replay capacity is the paper's 1M steps.
"""

from __future__ import annotations

import gc

import jax
from jax.sharding import NamedSharding, PartitionSpec

from benchmarks import harness
from benchmarks.common import save_result

QUICK = {"task": "debug/point_reach", "presets": ["tiny"], "seeds": [1, 2], "batch_size": 4, "seq_len": 16,
         "chunk_env_steps": 16, "prefill": 0, "episode_length": 0, "capacity": 0, "device_peak": True, "model": []}  # fmt: skip
FULL = {"task": "debug/point_reach", "presets": ["tiny", "xs", "s"], "seeds": [1, 2, 4], "batch_size": 16,
        "seq_len": 64, "chunk_env_steps": 64, "prefill": 0, "episode_length": 0,
        "capacity": harness.PAPER["replay_capacity"], "device_peak": True, "model": []}  # fmt: skip


def abstract_states(study):
    """Shapes of the Active and Passive runs the chunk programs take, without allocating them.

    Each leaf carries the sharding the study's own arrays have, so the lowered programs are
    exactly the ones a study compiles (and share its compilation-cache entries).
    """
    sharding = run_sharding(study)
    active = harness.program(study, "active").abstract_state(None)["active"]
    passive_phase = harness.phase(study, "passive")
    passive = study.program(passive_phase).abstract_state(study.phase_inputs(passive_phase, active.buffer))

    def place(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

    return jax.tree_util.tree_map(place, active), jax.tree_util.tree_map(place, passive["passive"])


def run_sharding(study):
    """The sharding of the study's run arrays: split over the run axis, which on a one-device
    mesh JAX reports as replicated (PartitionSpec()), as the jitted init's outputs carry it."""
    placement = study.placement
    if placement.num_devices == 1:
        return NamedSharding(placement.mesh, PartitionSpec())
    return placement.sharding


def state_breakdown(active, seeds: int) -> dict:
    """Bytes per seed of what an Active run holds (exact, from shapes)."""
    agent = active.agent
    return {
        "params_bytes": harness.tree_bytes(agent.params) // seeds,
        "optimizer_bytes": harness.tree_bytes(agent.opt_states) // seeds,
        "replay_buffer_bytes": harness.tree_bytes(active.buffer) // seeds,
        "run_total_bytes": harness.tree_bytes(active) // seeds,
    }


def measured_device_peak(study, compiled_active, compiled_offline) -> dict | None:
    """Allocator statistics around a real init + one chunk of each kind (None on CPU)."""
    before = harness.device_memory_stats()
    if before is None:
        return None
    active = harness.program(study, "active").init(None)["active"]
    active = jax.block_until_ready(compiled_active(active, {})[0])
    after_active = harness.device_memory_stats()
    passive = study.initial_state(harness.phase(study, "passive"), active.buffer)["passive"]
    jax.block_until_ready(compiled_offline(passive)[0])
    after_offline = harness.device_memory_stats()
    del active, passive
    gc.collect()
    return {"before": before, "after_active_chunk": after_active, "after_offline_chunk": after_offline}


def bench(settings: dict, preset: str, seeds: int) -> dict:
    config = harness.chunk_config(
        settings["task"], preset, seeds, chunk_env_steps=settings["chunk_env_steps"], batch_size=settings["batch_size"],
        seq_len=settings["seq_len"], chunks=2, prefill=settings["prefill"], agents=("active", "passive"),
        episode_length=settings["episode_length"], replay_capacity=settings["capacity"],
        model_overrides=tuple(settings["model"]),
    )  # fmt: skip
    study = harness.make_study(config, devices=1)
    active, passive = abstract_states(study)
    compiled_active, active_times = harness.compile_timed(harness.jitted_chunk(study, "active"), active, {})
    compiled_offline, offline_times = harness.compile_timed(harness.jitted_chunk(study, "passive"), passive)
    row = {
        "preset": preset,
        "seeds": seeds,
        "replay_capacity": config.capacity,
        "active_chunk": {**active_times, "memory_analysis": harness.memory_analysis(compiled_active)},
        "offline_chunk": {**offline_times, "memory_analysis": harness.memory_analysis(compiled_offline)},
        "state_per_seed": state_breakdown(active, seeds),
        "device_peak": measured_device_peak(study, compiled_active, compiled_offline) if settings["device_peak"] else None,
    }
    harness.log(
        f"[{preset}] {seeds} seeds: Active chunk lower {active_times['lower_s']:.1f} s + compile "
        f"{active_times['compile_s']:.1f} s; offline chunk lower {offline_times['lower_s']:.1f} s + compile "
        f"{offline_times['compile_s']:.1f} s"
    )
    return row


def per_seed(rows: list[dict], program: str) -> dict | None:
    """Increment per added seed of each memory figure, between the smallest and largest seed count."""
    low, high = rows[0], rows[-1]
    if high["seeds"] == low["seeds"] or low[program]["memory_analysis"] is None:
        return None
    span = high["seeds"] - low["seeds"]
    out = {}
    for key in ("argument_bytes", "output_bytes", "temp_bytes", "peak_estimate_bytes"):
        out[key] = (high[program]["memory_analysis"][key] - low[program]["memory_analysis"][key]) / span
    if low["device_peak"] and high["device_peak"]:
        after = "after_active_chunk" if program == "active_chunk" else "after_offline_chunk"
        out["device_peak_bytes"] = (
            high["device_peak"][after]["peak_bytes_in_use"] - low["device_peak"][after]["peak_bytes_in_use"]
        ) / span
    return out


def print_table(presets: list[dict]) -> None:
    fmt = harness.fmt_bytes
    print(f"{'preset':6} {'seeds':>5} {'active compile s':>16} {'offline compile s':>17} {'active peak est':>15} "
          f"{'offline peak est':>16} {'params+opt/seed':>15} {'buffer/seed':>12} {'device peak':>12}")  # fmt: skip
    for preset in presets:
        for r in preset["rows"]:
            a, o, s = r["active_chunk"], r["offline_chunk"], r["state_per_seed"]
            peak = r["device_peak"]["after_offline_chunk"]["peak_bytes_in_use"] if r["device_peak"] else None
            a_mem = (a["memory_analysis"] or {}).get("peak_estimate_bytes")
            o_mem = (o["memory_analysis"] or {}).get("peak_estimate_bytes")
            print(f"{r['preset']:6} {r['seeds']:>5} {a['lower_s'] + a['compile_s']:>16.1f} "
                  f"{o['lower_s'] + o['compile_s']:>17.1f} {fmt(a_mem):>15} {fmt(o_mem):>16} "
                  f"{fmt(s['params_bytes'] + s['optimizer_bytes']):>15} {fmt(s['replay_buffer_bytes']):>12} "
                  f"{fmt(peak):>12}")  # fmt: skip
        for program in ("active_chunk", "offline_chunk"):
            inc = preset["per_seed"][program]
            if inc:
                print(f"  {program} per added seed: peak estimate {fmt(inc['peak_estimate_bytes'])} "
                      f"(temp {fmt(inc['temp_bytes'])}, arguments {fmt(inc['argument_bytes'])})"
                      + (f", device peak {fmt(inc['device_peak_bytes'])}" if "device_peak_bytes" in inc else ""))  # fmt: skip


def main(argv=None) -> dict:
    parser = harness.common_parser(__doc__)
    parser.add_argument("--task", default=None, help="a JAX-native task (default debug/point_reach)")
    parser.add_argument("--presets", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="seed counts (per-seed = increments)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--chunk-env-steps", type=int, default=None, help="env steps per seed in one chunk")
    parser.add_argument("--prefill", type=int, default=None, help="0: 4 x seq_len")
    parser.add_argument("--episode-length", type=int, default=None, help="0: the suite's default")
    parser.add_argument("--capacity", type=int, default=None, help="replay capacity per seed (0: just the chunks)")
    parser.add_argument("--no-device-peak", dest="device_peak", action="store_const", const=False, default=None,
                        help="do not allocate and run (GPU peak measurement)")
    harness.add_model_argument(parser)
    args = parser.parse_args(argv)
    settings = harness.settings_from(args, QUICK, FULL)
    with harness.checking_input():
        harness.check_models(settings["task"], settings["presets"], dict(settings["model"]))
    seed_counts = sorted(set(settings["seeds"]))
    presets = []
    for preset in settings["presets"]:
        rows = [bench(settings, preset, seeds) for seeds in seed_counts]
        presets.append({"preset": preset, "rows": rows,
                        "per_seed": {p: per_seed(rows, p) for p in ("active_chunk", "offline_chunk")}})  # fmt: skip
    print_table(presets)
    measured = any(r["device_peak"] for p in presets for r in p["rows"])
    memory_source = ("device allocator peak and XLA memory_analysis" if measured
                     else "XLA memory_analysis only (no allocator statistics on this backend)")  # fmt: skip
    name = "compile_memory" + (f"-{args.label}" if args.label else "")
    payload = {"task": settings["task"], "settings": settings, "memory_source": memory_source,
               "compilation_cache": harness.compilation_cache_dir(), "presets": presets}  # fmt: skip
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), "presets": presets}


if __name__ == "__main__":
    harness.run_cli(main, "compile_memory")
