"""Pieces shared by the training benchmarks: studies to time, AOT compilation, timing, memory.

The benchmarks time the Study's own jitted, seed-vmapped phase programs
(`study.program(phase)`: its `init`, its `jitted_chunk` (the Active chunk with its lock-step
followers, or an offline chunk) and the simulator's evaluator) one chunk at a time, so they
measure exactly what a study runs, and identical settings share compiled programs (and the
persistent compilation cache) with the engine's tests.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from typing import Callable

import jax

from offon_jit.config import RunConfig
from offon_jit.engine.phases import Phase
from offon_jit.engine.programs import PhaseProgram
from offon_jit.engine.study import Study
from offon_jit.run_command import parse_model_override

# Paper protocol (Chen et al. 2025, A.1): 4 envs, an update every 2nd env step, batch 16 x 64,
# 1M env steps per run, evaluation every 5K env steps over 4 episodes.
PAPER = {"num_envs": 4, "train_every": 2, "batch_size": 16, "seq_len": 64, "env_steps": 1_000_000,
         "eval_interval": 5_000, "eval_episodes": 4, "replay_capacity": 1_000_000}  # fmt: skip
NEVER_WRITTEN = "/nonexistent/benchmark-run-is-never-written"


def common_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings that finish in under 2 minutes on CPU")
    parser.add_argument("--out-dir", default=None, help="where to write the JSON result (default benchmarks/results)")
    parser.add_argument("--label", default="", help="suffix for the result file name (e.g. the task)")
    return parser


class BadInput(ValueError):
    """An argument a benchmark refuses before it measures or saves anything."""


@contextlib.contextmanager
def checking_input():
    """Marks the up-front checks of a benchmark's arguments: a ValueError raised inside (a
    ConfigError too: unknown task, preset or --model field) becomes BadInput, which `run_cli`
    reports in one line. Errors after these checks keep their traceback."""
    try:
        yield
    except ValueError as err:
        raise BadInput(str(err)) from None


def run_cli(main: Callable[[], object], name: str) -> None:
    """`python -m benchmarks.<name>`: bad input ends in one line on stderr and exit code 2."""
    try:
        main()
    except BadInput as err:
        print(f"benchmarks.{name}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def check_models(task: str, presets, overrides: dict) -> None:
    """The task exists and every preset builds a valid DreamerConfig with `overrides`."""
    import envs  # lazy: the harness itself needs no env registry
    from offon_jit.dreamer.config import DreamerConfig

    envs.get_task(task)
    for preset in presets:
        DreamerConfig.from_preset(preset, **overrides)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """`--model KEY=VALUE` (repeatable): DreamerConfig overrides, parsed as `offon-jit run --model`."""
    parser.add_argument("--model", action="append", default=[], type=parse_model_override, metavar="KEY=VALUE",
                        help="DreamerConfig field override (repeatable), e.g. precision=bf16 or remat=none")


def settings_from(args: argparse.Namespace, quick: dict, full: dict) -> dict:
    """The quick or full defaults, with every flag the user gave (not None) replacing its default."""
    settings = dict(quick if args.quick else full)
    for name in settings:
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
    return settings


def chunk_config(task: str, preset: str, num_seeds: int, *, chunk_env_steps: int, batch_size: int, seq_len: int,
                 chunks: int, prefill: int = 0, agents=("active",), **extra) -> RunConfig:
    """A RunConfig whose eval interval is one timed chunk and whose env_steps cover `chunks` chunks.

    With replay_capacity 0 the buffer holds every step the benchmark adds (it never wraps).
    prefill 0 means the smallest valid prefill: one sequence per parallel env.
    """
    return RunConfig(
        task=task, preset=preset, num_seeds=num_seeds, agents=tuple(agents), env_steps=chunk_env_steps * chunks,
        eval_interval=chunk_env_steps, batch_size=batch_size, seq_len=seq_len,
        prefill=prefill or PAPER["num_envs"] * seq_len, num_envs=PAPER["num_envs"],
        train_every=PAPER["train_every"], checkpoint_every=0, out_dir=NEVER_WRITTEN, **extra,
    )  # fmt: skip


def make_study(config: RunConfig, devices: int = 0, on_phase_end=None) -> Study:
    """The Study whose programs are timed (devices=1: every seed in one program on one device)."""
    return Study(config, progress=False, devices=devices, on_phase_end=on_phase_end)


def phase(study: Study, name: str) -> Phase:
    for candidate in study.phases:
        if candidate.name == name:
            return candidate
    raise ValueError(f"the study has no {name!r} phase (agents {study.config.agents})")


def program(study: Study, name: str) -> PhaseProgram:
    """The program of the study's phase `name` (built once per study, so its jitted functions are shared)."""
    return study.program(phase(study, name))


def jitted_chunk(study: Study, name: str):
    """The phase's chunk as one jit(shard_map(vmap)) program, to lower or call: (active, followers) ->
    (active, followers, outputs) for the Active phase, (run[, logged_indices]) -> (run, metrics) else."""
    chunk = program(study, name).jitted_chunk
    if chunk is None:
        raise ValueError(f"{study.config.task} steps host simulators: its {name!r} chunk is no single jitted program")
    return chunk


def evaluator(study: Study, name: str):
    """`evaluate(agents, buffer, keys, chunk) -> metrics`: one agent's evaluation over the phase's runs,
    as `PhaseProgram.evaluate` runs it for each agent of the phase."""
    return program(study, name).evaluate_agent


def compile_timed(jitted, *args) -> tuple[object, dict]:
    """Ahead-of-time lower + compile of a jitted function, each timed; returns (compiled, timings).

    Arguments may be arrays or jax.ShapeDtypeStruct trees (nothing is allocated to compile).
    """
    if not hasattr(jitted, "lower"):
        raise TypeError(f"{jitted!r} is not a jax.jit function: cannot lower it ahead of time")
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    done = time.perf_counter()
    return compiled, {"lower_s": lowered_at - start, "compile_s": done - lowered_at}


def timed_calls(step, state, repeats: int, warmup: int = 1) -> tuple[object, list[float]]:
    """`state = step(state)` `warmup` times untimed, then `repeats` times, each timed to completion."""
    for _ in range(warmup):
        state = jax.block_until_ready(step(state))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state = jax.block_until_ready(step(state))
        times.append(time.perf_counter() - start)
    return state, times


def timed_interleaved(steps: dict, states: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Like `timed_calls` for several steps at once, alternating them call by call.

    Alternating spreads any change in machine load (other processes on a shared CPU)
    evenly over the steps being compared, so their ratio is fairer than back-to-back runs.
    """
    times = {name: [] for name in steps}
    for index in range(warmup + repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            states[name] = jax.block_until_ready(step(states[name]))
            if index >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def seed_slice(tree, start: int, stop: int):
    """Seeds [start, stop) of a seed-vmapped pytree (the leading seed axis is kept)."""
    return jax.tree_util.tree_map(lambda x: x[start:stop], tree)


def tree_bytes(tree) -> int:
    """Bytes of every array (or ShapeDtypeStruct) leaf of a pytree."""
    return int(sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree)))


def memory_analysis(compiled) -> dict | None:
    """XLA's static buffer assignment of a compiled program (bytes), where the backend reports it.

    `peak_estimate_bytes` = argument + output - alias + temp: the device memory the program's
    inputs, outputs and scratch need while it runs. It is XLA's plan, not a measured peak.
    """
    try:
        stats = compiled.memory_analysis()
    except (NotImplementedError, RuntimeError, AttributeError):
        return None
    if stats is None:
        return None
    fields = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes", "temp_size_in_bytes",
              "generated_code_size_in_bytes")  # fmt: skip
    out = {name.replace("_size_in_bytes", "_bytes"): int(getattr(stats, name)) for name in fields}
    out["peak_estimate_bytes"] = out["argument_bytes"] + out["output_bytes"] - out["alias_bytes"] + out["temp_bytes"]
    return out


def device_memory_stats() -> dict | None:
    """Allocator statistics of device 0 (GPU/TPU); None where the backend keeps none (CPU)."""
    stats = jax.devices()[0].memory_stats()
    if not stats:
        return None
    keep = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit", "largest_alloc_size")
    return {k: int(stats[k]) for k in keep if k in stats}


def cost_analysis(compiled) -> dict:
    """XLA's FLOP / transcendental / bytes-accessed estimates for a compiled program ({} where absent)."""
    try:
        cost = compiled.cost_analysis()
    except (NotImplementedError, RuntimeError, AttributeError):
        return {}
    if isinstance(cost, list):  # older JAX: one dict per program
        cost = cost[0] if cost else {}
    return {k: float(cost[k]) for k in ("flops", "transcendentals", "bytes accessed") if k in (cost or {})}


def compilation_cache_dir() -> str | None:
    """The persistent compilation cache in use, if any (compile times are then possibly cache loads)."""
    return jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR") or None


def fmt_rate(value: float | None) -> str:
    """A rate with about three significant digits (0.213, 21.3, 2,134)."""
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f"{value:,.{digits}f}"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def log(message: str) -> None:
    print(message, flush=True)
