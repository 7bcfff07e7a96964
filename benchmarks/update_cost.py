"""FLOPs and memory of one DreamerV3 update, per preset, from XLA's analyses (nothing runs).

    python -m benchmarks.update_cost                          # presets tiny, xs, s; batch 16 x 64
    python -m benchmarks.update_cost --quick                  # tiny; batch 4 x 16
    python -m benchmarks.update_cost --model precision=bf16 --model remat=none --label bf16-noremat

The seed-vmapped `agent.train_step` is lowered and compiled ahead of time from abstract
arguments for 1 and 2 seeds. Reported per preset:

* `flops_per_update`: FLOPs of one seed's update counted on the traced program with every
  scan body times its length (benchmarks/flop_count.py: matmuls as 2 x multiply-adds, plus
  one per element of elementwise arithmetic). XLA's own cost_analysis is recorded too
  (`xla_flops_per_update`), but it counts each loop body once, so it undercounts the
  world model's 64-step filter and the 15-step imagination;
* memory_analysis of each program (argument, output, alias, temp bytes; peak estimate =
  argument + output - alias + temp) and the increment per added seed, which is what
  decides how many seeds fit on one device.

`--model KEY=VALUE` sets DreamerConfig fields (precision, remat, ...), so one script
compares configurations; comparisons across code versions run the same command on each.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import envs
from benchmarks import harness
from benchmarks.common import save_result
from benchmarks.flop_count import count_flops
from offon_jit.dreamer import agent as agent_lib

QUICK = {"task": "debug/point_reach", "presets": ["tiny"], "batch_size": 4, "seq_len": 16, "seeds": [1, 2]}
FULL = {"task": "debug/point_reach", "presets": ["tiny", "xs", "s"], "batch_size": 16, "seq_len": 64, "seeds": [1, 2]}


def abstract_batch(spec, seeds: int, batch_size: int, seq_len: int) -> dict:
    """ShapeDtypeStructs of a seed-vmapped replay batch of `spec` (uint8 images, float32 vectors)."""
    lead = (seeds, batch_size, seq_len)
    obs_dtype = jnp.uint8 if spec.is_image else jnp.float32
    return {
        "obs": jax.ShapeDtypeStruct(lead + spec.obs_shape, obs_dtype),
        "action": jax.ShapeDtypeStruct(lead + (spec.action.dim,), jnp.float32),
        "reward": jax.ShapeDtypeStruct(lead, jnp.float32),
        "is_first": jax.ShapeDtypeStruct(lead, jnp.bool_),
        "is_terminal": jax.ShapeDtypeStruct(lead, jnp.bool_),
    }


def abstract_update_args(spec, config, seeds: int, batch_size: int, seq_len: int) -> tuple:
    """(agent states, batches, keys) of `seeds` seeds as ShapeDtypeStructs (nothing allocated)."""
    keys = jax.ShapeDtypeStruct((seeds, 2), jnp.uint32)
    state = jax.eval_shape(jax.vmap(lambda k: agent_lib.init_agent(k, spec, config)), keys)
    return state, abstract_batch(spec, seeds, batch_size, seq_len), keys


def update_flops(spec, config, batch_size: int, seq_len: int) -> dict:
    """FLOPs of one seed's update, scans counted with their lengths (benchmarks/flop_count.py)."""
    return count_flops(jax.vmap(agent_lib.train_step), *abstract_update_args(spec, config, 1, batch_size, seq_len))


def update_cost(task: str, preset: str, overrides: dict, batch_size: int, seq_len: int, seed_counts) -> dict:
    """FLOPs per update and memory per seed of one preset (see the module docstring)."""
    spec = envs.get_task(task).spec
    config = agent_lib.DreamerConfig.from_preset(preset, **overrides)
    flops = update_flops(spec, config, batch_size, seq_len)
    rows = []
    for seeds in sorted(set(seed_counts)):
        args = abstract_update_args(spec, config, seeds, batch_size, seq_len)
        compiled, times = harness.compile_timed(jax.jit(jax.vmap(agent_lib.train_step)), *args)
        cost = harness.cost_analysis(compiled)
        rows.append({"seeds": seeds, **times, "cost": cost, "memory_analysis": harness.memory_analysis(compiled),
                     "xla_flops_per_update": cost.get("flops", 0.0) / seeds})  # fmt: skip
        harness.log(f"[{preset}] {seeds} seed(s): compile {times['compile_s']:.1f} s")
    low, high = rows[0], rows[-1]
    per_seed = None
    if high["seeds"] > low["seeds"] and low["memory_analysis"] and high["memory_analysis"]:
        span = high["seeds"] - low["seeds"]
        per_seed = {key: (high["memory_analysis"][key] - low["memory_analysis"][key]) / span
                    for key in ("argument_bytes", "temp_bytes", "peak_estimate_bytes")}  # fmt: skip
    harness.log(f"[{preset}] {flops['flops'] / 1e9:,.1f} GFLOP per update ({flops['matmul_flops'] / 1e9:,.1f} in matmuls)")
    return {"preset": preset, "precision": config.precision, "remat": config.remat, **flops,
            "flops_per_update": flops["flops"], "xla_flops_per_update": low["xla_flops_per_update"], "rows": rows,
            "memory_per_added_seed": per_seed}  # fmt: skip


def print_table(presets: list[dict]) -> None:
    print(f"{'preset':6} {'precision':9} {'remat':8} {'GFLOP/update':>12} {'temp/added seed':>16} {'peak est/added seed':>20}")
    for p in presets:
        per_seed = p["memory_per_added_seed"] or {}
        print(f"{p['preset']:6} {p['precision']:9} {p['remat']:8} {p['flops_per_update'] / 1e9:>12,.2f} "
              f"{harness.fmt_bytes(per_seed.get('temp_bytes')):>16} "
              f"{harness.fmt_bytes(per_seed.get('peak_estimate_bytes')):>20}")  # fmt: skip


def main(argv=None) -> dict:
    parser = harness.common_parser(__doc__)
    parser.add_argument("--task", default=None, help="task whose observation and action shapes to use")
    parser.add_argument("--presets", nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="seed counts (per-seed = increments)")
    harness.add_model_argument(parser)
    args = parser.parse_args(argv)
    settings = harness.settings_from(args, QUICK, FULL)
    overrides = dict(args.model)
    with harness.checking_input():
        harness.check_models(settings["task"], settings["presets"], overrides)
    presets = [update_cost(settings["task"], preset, overrides, settings["batch_size"], settings["seq_len"],
                           settings["seeds"]) for preset in settings["presets"]]  # fmt: skip
    print_table(presets)
    name = "update_cost" + (f"-{args.label}" if args.label else "")
    path = save_result(name, {"task": settings["task"], "settings": settings, "model_overrides": overrides,
                              "presets": presets}, args.out_dir, quick=args.quick)  # fmt: skip
    print(f"saved {path}")
    return {"path": str(path), "presets": presets}


if __name__ == "__main__":
    harness.run_cli(main, "update_cost")
