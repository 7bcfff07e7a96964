"""One device check: versions, seed scaling in bf16 and f32, memory per seed, study projection, env throughput.

    python -m benchmarks.device_check              # size S; <= 8 minutes on one H100/H200
    python -m benchmarks.device_check --quick      # tiny settings, CPU smoke run (the test suite runs it)
    python -m benchmarks.device_check --sections device updates memory --budget-s 300

Sections, run in this order (`--sections` picks some):

  device   backend, devices and their memory, package versions, `jax.print_environment_info`
           (with nvidia-smi's driver and CUDA versions where it exists).
  updates  the Study's jitted Active chunk (collect + train, as benchmarks/seed_scaling.py
           times it) at size S, batch 16 x 64: N vmapped seeds in one program against the
           1-seed program called once per seed ("sequential"), timed alternately, for
           N = 1, 3, 9, 18 in bf16 and 1, 9 in f32. The programs are compiled ahead of time
           from abstract states, several at once (`--compile-threads`), while the runs are
           initialised; rows run the seed counts both precisions share first.
  memory   from the updates programs, per precision: XLA memory_analysis per added seed and,
           where the backend keeps allocator statistics (GPU/TPU), the measured peak per
           added seed (from rows that raised the process's peak, so it is their own).
  study    steady-state Active+Tandem, Passive and evaluation chunks at size S, 16 x 64,
           3 seeds, bf16 (benchmarks/study_throughput.py's functions), projected to the paper
           protocol: hours for one task's 9 runs.
  env      agent steps/s of a Playground DMC task on MJX's `jax` and `warp` implementations
           and of gymnax MinAtar at batch 4096 (benchmarks/env_throughput.bench_jax), plus
           Warp under the study's seed vmap. A Warp row that cannot be selected here (CPU
           backend unless --warp-on-cpu, Warp absent) records why.

One JSON, `benchmarks/results/device_check-<device>[-quick].json`, is rewritten after every
section and every updates row, so a timeout or crash keeps what was measured. A section (or
row) that raises is recorded with the exception's type and message and the next one runs;
once `--budget-s` seconds have passed, the remaining sections and rows are recorded as skipped.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import importlib.metadata
import importlib.util
import os
import platform
import time
import traceback
from typing import Callable

import jax

from benchmarks import compile_memory, env_throughput, harness, seed_scaling, study_throughput
from benchmarks.common import save_result

SECTIONS = ("device", "updates", "memory", "study", "env")
PRECISIONS = ("bf16", "f32")
PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin", "jax-cuda12-pjrt", "flax",
            "optax", "orbax-checkpoint", "chex", "numpy", "mujoco", "mujoco-mjx", "playground", "dm-control", "gymnax",
            "warp-lang")  # fmt: skip
ENV_VARS = ("JAX_PLATFORMS", "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
            "XLA_PYTHON_CLIENT_ALLOCATOR", "CUDA_VISIBLE_DEVICES", "JAX_COMPILATION_CACHE_DIR",
            "MUJOCO_GL")  # fmt: skip
ERROR_MESSAGE_CHARS = 2000  # XLA's out-of-memory messages list every buffer; keep their head

FULL = {
    # updates and memory: the seed-scaling chunk at the paper's batch
    "task": "debug/point_reach", "preset": "s", "batch_size": 16, "seq_len": 64, "chunk_env_steps": 32,
    "prefill": 0, "episode_length": 0, "bf16_seeds": [1, 3, 9, 18], "f32_seeds": [1, 9], "repeats": 2, "warmup": 1,
    "compile_threads": 4,
    # study: steady-state chunks of the three agents, projected to the paper protocol
    "study_seeds": 3, "study_precision": "bf16", "study_chunk_env_steps": 128, "study_repeats": 2, "study_warmup": 1,
    "eval_episodes": 4,
    # env: batched random-action steps
    "mjx_task": "dmc/cheetah_run-proprio", "mjx_impls": ["jax", "warp"], "gymnax_task": "minatar/breakout",
    "env_batch": 4096, "env_steps_per_call": 100, "env_repeats": 3, "seed_vmap_shape": [4, 1024],
    "seed_vmap_impls": ["warp"], "warp_on_cpu": False,
}  # fmt: skip
# The smallest settings that run every section: what costs time on a CPU is compiling (about
# ten programs of 10-20 s each), so the quick mode compiles as few as each section needs.
QUICK = {
    "task": "debug/point_reach", "preset": "tiny", "batch_size": 4, "seq_len": 8, "chunk_env_steps": 16,
    "prefill": 0, "episode_length": 0, "bf16_seeds": [1, 2], "f32_seeds": [1], "repeats": 1, "warmup": 1,
    "compile_threads": 2,
    "study_seeds": 2, "study_precision": "f32", "study_chunk_env_steps": 16, "study_repeats": 1, "study_warmup": 1,
    "eval_episodes": 1,
    "mjx_task": "dmc/reacher_hard-proprio", "mjx_impls": ["jax", "warp"], "gymnax_task": "minatar/breakout",
    "env_batch": 64, "env_steps_per_call": 10, "env_repeats": 2, "seed_vmap_shape": [2, 4],
    "seed_vmap_impls": ["warp"], "warp_on_cpu": False,
}  # fmt: skip
TARGET = {"precision": "bf16", "seeds": 9, "min_speedup_over_one_seed": 5.0, "min_bf16_over_f32": 1.8}


# ---------------------------------------------------------------------------------------------
# Running sections: budget, error capture, partial results


@dataclasses.dataclass
class Budget:
    """Seconds allowed from construction; sections and rows check it before they start."""

    seconds: float
    clock: Callable[[], float] = time.perf_counter
    start: float = dataclasses.field(init=False)

    def __post_init__(self):
        self.start = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def exceeded(self) -> bool:
        return self.elapsed() > self.seconds

    def skipped(self) -> dict:
        reason = f"budget of {self.seconds:g} s exceeded ({self.elapsed():.0f} s elapsed)"
        return {"status": "skipped", "reason": reason}


@dataclasses.dataclass
class Context:
    """What a section gets: the settings, the budget, earlier sections' results, and `report`
    to store (and save) a partial result that survives an exception or timeout later on."""

    settings: dict
    budget: Budget
    results: dict
    report: Callable[[dict], None]


def error_record(error: BaseException) -> dict:
    message = str(error)
    return {"type": type(error).__name__, "message": message[:ERROR_MESSAGE_CHARS],
            "message_truncated": len(message) > ERROR_MESSAGE_CHARS,
            "traceback_tail": traceback.format_exception(error)[-3:]}  # fmt: skip


def run_sections(sections: list[tuple[str, Callable[[Context], dict]]], settings: dict, budget: Budget,
                 save: Callable[[dict], None]) -> dict:
    """Run `sections` in order into one results dict, calling `save(results)` after each change.

    Each result has `status` ("ok", "error" with `error`, or "skipped" with `reason` once the
    budget is spent) and `wall_s`; a section's partial results (`Context.report`) are kept
    when it raises.
    """
    results: dict = {}
    for name, section in sections:
        if budget.exceeded():
            results[name] = budget.skipped()
            harness.log(f"[{name}] skipped: {results[name]['reason']}")
            save(results)
            continue
        harness.log(f"[{name}] starting at {budget.elapsed():.0f} s")
        start = time.perf_counter()

        def report(partial: dict, name=name, start=start) -> None:
            results[name] = {**partial, "status": "running", "wall_s": time.perf_counter() - start}
            save(results)

        try:
            outcome = {**section(Context(settings, budget, results, report)), "status": "ok"}
        except Exception as error:  # noqa: BLE001 - recorded, and the next section still runs
            partial = {k: v for k, v in results.get(name, {}).items() if k not in ("status", "wall_s")}
            outcome = {**partial, "status": "error", "error": error_record(error)}
            harness.log(f"[{name}] failed: {type(error).__name__}: {str(error)[:300]}")
        results[name] = {**outcome, "wall_s": time.perf_counter() - start}
        harness.log(f"[{name}] {results[name]['status']} in {results[name]['wall_s']:.1f} s")
        save(results)
        gc.collect()  # a section's arrays and programs go before the next one allocates
        jax.clear_caches()
    return results


# ---------------------------------------------------------------------------------------------
# device


def package_versions(names=PACKAGES) -> dict:
    """Installed distribution versions; None for a package that is not installed."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def host_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def device_section(ctx: Context) -> dict:
    devices = jax.devices()
    first = devices[0]
    info = {
        "backend": jax.default_backend(),
        "device_kind": first.device_kind,
        "device_count": len(devices),
        "platform_version": first.client.platform_version,
        "devices": [{"id": d.id, "kind": d.device_kind, "compute_capability": getattr(d, "compute_capability", None)}
                    for d in devices],  # fmt: skip
        "device_memory": harness.device_memory_stats(),  # allocator of device 0; None on CPU
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "host_memory_bytes": host_memory_bytes(),
        "packages": package_versions(),
        "environment": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        "jax_environment_info": jax.print_environment_info(return_string=True),
        "compilation_cache": harness.compilation_cache_dir(),
    }
    limit = (info["device_memory"] or {}).get("bytes_limit")
    harness.log(f"[device] {info['backend']}: {info['device_count']} x {info['device_kind']} "
                f"({info['platform_version']}), memory limit {harness.fmt_bytes(limit)}; "
                f"python {info['python']}")  # fmt: skip
    harness.log("[device] " + ", ".join(f"{k} {v or 'absent'}" for k, v in info["packages"].items()))
    return info


# ---------------------------------------------------------------------------------------------
# updates: seed scaling per precision (seed_scaling's timing of the Study's Active chunk)


def precision_studies(settings: dict, overrides: tuple) -> dict:
    """One Active-only study per precision, each sized for the largest seed count of any precision."""
    seeds = max(max(settings[f"{p}_seeds"]) for p in PRECISIONS if settings[f"{p}_seeds"])
    studies = {}
    for precision in PRECISIONS:
        if not settings[f"{precision}_seeds"]:
            continue
        config = harness.chunk_config(
            settings["task"], settings["preset"], seeds, chunk_env_steps=settings["chunk_env_steps"],
            batch_size=settings["batch_size"], seq_len=settings["seq_len"],
            chunks=settings["repeats"] + settings["warmup"], prefill=settings["prefill"],
            episode_length=settings["episode_length"], model_overrides=(*overrides, ("precision", precision)),
        )  # fmt: skip
        studies[precision] = harness.make_study(config, devices=1)
    return studies


def abstract_runs(study):
    """Shapes (with the study's run sharding) of the Active runs, to compile without allocating."""
    sharding = compile_memory.run_sharding(study)
    runs = harness.program(study, "active").abstract_state(None)["active"]
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), runs)


def abstract_seeds(runs, seeds: int):
    """The first `seeds` seeds of an abstract seed-vmapped pytree."""
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct((seeds, *x.shape[1:]), x.dtype, sharding=x.sharding), runs
    )


def row_plan(settings: dict) -> list[tuple[str, int]]:
    """(precision, seeds) in the order they are timed: seed counts every precision measures
    first (the bf16/f32 ratios and the seed-scaling target), then the others, ascending."""
    counts = {p: sorted(set(settings[f"{p}_seeds"]) | {1}) for p in PRECISIONS if settings[f"{p}_seeds"]}
    shared = set.intersection(*(set(c) for c in counts.values()))
    plan = [(p, n) for n in sorted(shared) for p in counts]
    plan += [(p, n) for n in sorted(set().union(*counts.values()) - shared) for p in counts if n in counts[p]]
    return plan


def time_row(compiled, single, runs, seeds: int, settings: dict, updates: int, env_steps: int) -> dict:
    """seed_scaling's measurement: N vmapped seeds against the 1-seed program N times, interleaved."""

    def one_after_another(states):
        return [jax.block_until_ready(single(state, {})[0]) for state in states]

    times = harness.timed_interleaved(
        {"vmapped": lambda r: compiled(r, {})[0], "sequential": one_after_another},
        {"vmapped": harness.seed_slice(runs, 0, seeds),
         "sequential": [harness.seed_slice(runs, i, i + 1) for i in range(seeds)]},
        settings["repeats"], settings["warmup"],
    )  # fmt: skip
    row = {
        "vmapped": seed_scaling.throughput(times["vmapped"], seeds, updates, env_steps),
        "sequential": seed_scaling.throughput(times["sequential"], seeds, updates, env_steps),
    }
    row["ratio_vmapped_over_sequential"] = row["vmapped"]["updates_per_s"] / row["sequential"]["updates_per_s"]
    return row


def allocator_row(before: dict | None) -> dict | None:
    """Allocator statistics after a row; `set_new_peak` tells whether the process peak is this row's own."""
    after = harness.device_memory_stats()
    if after is None or before is None:
        return None
    return {"before": before, "after": after,
            "set_new_peak": after.get("peak_bytes_in_use", 0) > before.get("peak_bytes_in_use", 0)}  # fmt: skip


def updates_section(ctx: Context) -> dict:
    settings, overrides = ctx.settings, ctx.settings["model_overrides"]
    studies = precision_studies(settings, overrides)
    first = next(iter(studies.values()))
    updates, env_steps = first.config.updates_per_chunk, first.config.eval_interval
    plan = row_plan(settings)
    abstract = {p: abstract_runs(study) for p, study in studies.items()}
    result = {"task": settings["task"], "preset": settings["preset"], "batch_size": settings["batch_size"],
              "seq_len": settings["seq_len"], "updates_per_chunk_per_seed": updates,
              "env_steps_per_chunk_per_seed": env_steps, "model_overrides": [list(kv) for kv in overrides],
              "plan": [list(step) for step in plan], "rows": [], "state_per_seed": {}}  # fmt: skip

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, settings["compile_threads"]))
    compile_started = time.perf_counter()
    # Compile in the background (XLA compiles release the GIL) while the runs are initialised.
    # Per-program compile times overlap each other; compile_and_init_wall_s covers them all.
    futures = {(p, n): pool.submit(harness.compile_timed, harness.jitted_chunk(studies[p], "active"),
                                   abstract_seeds(abstract[p], n), {}) for p, n in plan}  # fmt: skip
    try:
        runs = initial_runs(studies, abstract, result)
        for precision, study_runs in runs.items():
            result["state_per_seed"][precision] = compile_memory.state_breakdown(study_runs, first.config.num_seeds)
        # Timing starts once every compile is done: a compile running beside a timed call (on a
        # GPU, its autotuning) would slow that call down.
        concurrent.futures.wait(futures.values())
        result["compile_and_init_wall_s"] = time.perf_counter() - compile_started
        harness.log(f"[updates] {len(futures)} programs compiled ({settings['compile_threads']} at once) and runs "
                    f"initialised in {result['compile_and_init_wall_s']:.1f} s")  # fmt: skip
        ctx.report(result)
        for precision, seeds in plan:
            if ctx.budget.exceeded():
                result["rows"].append({"precision": precision, "seeds": seeds, **ctx.budget.skipped()})
                continue
            result["rows"].append(update_row(futures, precision, seeds, runs[precision], settings, updates, env_steps))
            ctx.report(result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    add_speedups(result["rows"])
    result["bf16_over_f32"] = precision_ratios(result["rows"])
    result["target"] = target_check(result["rows"], result["bf16_over_f32"])
    return result


def same_leaves(a, b) -> bool:
    """Whether two abstract pytrees have the same leaves (paths, shapes, dtypes); their static
    metadata (the agent's DreamerConfig) may differ."""
    leaves_a, leaves_b = (jax.tree_util.tree_flatten_with_path(t)[0] for t in (a, b))
    return len(leaves_a) == len(leaves_b) and all(
        pa == pb and x.shape == y.shape and x.dtype == y.dtype for (pa, x), (pb, y) in zip(leaves_a, leaves_b)
    )


def initial_runs(studies: dict, abstract: dict, result: dict) -> dict:
    """The runs each precision times. Precision changes compute, not the state's arrays, so a
    precision whose state has the same leaves as one initialised already takes those arrays
    under its own tree structure (which carries the precision in the agent's static config)."""
    runs, done = {}, []
    for precision, study in studies.items():
        same = next((p for p in done if same_leaves(abstract[p], abstract[precision])), None)
        if same is not None:
            structure = jax.tree_util.tree_structure(abstract[precision])
            runs[precision] = jax.tree_util.tree_unflatten(structure, jax.tree_util.tree_leaves(runs[same]))
            result.setdefault("runs_shared", {})[precision] = same
            continue
        start = time.perf_counter()
        runs[precision] = jax.block_until_ready(study.initial_state(harness.phase(study, "active"))["active"])
        result.setdefault("init_and_prefill_s", {})[precision] = time.perf_counter() - start
        harness.log(f"[updates] {study.config.num_seeds} seeds initialised and prefilled ({precision}) "
                    f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
        done.append(precision)
    return runs


def update_row(futures: dict, precision: str, seeds: int, runs, settings: dict, updates: int, env_steps: int) -> dict:
    """One timed row; an exception (compile or run, e.g. out of memory) is recorded in the row."""
    row = {"precision": precision, "seeds": seeds}
    try:
        compiled, compile_times = futures[(precision, seeds)].result()
        single, _ = futures[(precision, 1)].result()
        before = harness.device_memory_stats()
        row.update(compile=compile_times, memory_analysis=harness.memory_analysis(compiled),
                   **time_row(compiled, single, runs, seeds, settings, updates, env_steps),
                   allocator=allocator_row(before), status="ok")  # fmt: skip
    except Exception as error:  # noqa: BLE001 - recorded; the next row still runs
        row.update(status="error", error=error_record(error))
        harness.log(f"[updates] {precision} {seeds} seeds failed: {type(error).__name__}: {str(error)[:300]}")
        return row
    rate = harness.fmt_rate
    harness.log(
        f"[updates] {precision} {seeds:>2} seeds: vmapped {rate(row['vmapped']['updates_per_s'])} updates/s "
        f"({rate(row['vmapped']['updates_per_s_per_seed'])} per seed), sequential "
        f"{rate(row['sequential']['updates_per_s'])} (x{row['ratio_vmapped_over_sequential']:.2f}); "
        f"lower + compile {compile_times['lower_s'] + compile_times['compile_s']:.1f} s"
    )
    return row


def ok_rows(rows: list[dict], precision: str | None = None) -> list[dict]:
    return [r for r in rows if r.get("status") == "ok" and precision in (None, r["precision"])]


def add_speedups(rows: list[dict]) -> None:
    """Each row's vmapped updates/s over its precision's 1-seed row (None without one)."""
    for row in ok_rows(rows):
        one = next((r for r in ok_rows(rows, row["precision"]) if r["seeds"] == 1), None)
        rate = row["vmapped"]["updates_per_s"]
        row["speedup_over_one_seed"] = rate / one["vmapped"]["updates_per_s"] if one else None


def precision_ratios(rows: list[dict]) -> list[dict]:
    """bf16 over f32 vmapped updates/s at every seed count both measured."""
    f32 = {r["seeds"]: r for r in ok_rows(rows, "f32")}
    return [{"seeds": r["seeds"], "ratio": r["vmapped"]["updates_per_s"] / f32[r["seeds"]]["vmapped"]["updates_per_s"]}
            for r in ok_rows(rows, "bf16") if r["seeds"] in f32]  # fmt: skip


def target_check(rows: list[dict], ratios: list[dict]) -> dict:
    """The project's GPU targets, reported (never asserted): 9 vmapped bf16 seeds >= 5x one seed
    (the interleaved vmapped/sequential ratio, as seed_scaling reports it) and bf16 >= 1.8x f32."""
    row = next((r for r in ok_rows(rows, TARGET["precision"]) if r["seeds"] == TARGET["seeds"]), None)
    measured = row["ratio_vmapped_over_sequential"] if row else None
    best_ratio = max((r["ratio"] for r in ratios), default=None)
    return {
        **TARGET,
        "applies": jax.default_backend() == "gpu",
        "measured_speedup": measured,
        "measured_speedup_vs_one_seed_row": row["speedup_over_one_seed"] if row else None,
        "speedup_met": None if measured is None else measured >= TARGET["min_speedup_over_one_seed"],
        "best_bf16_over_f32": best_ratio,
        "bf16_met": None if best_ratio is None else best_ratio >= TARGET["min_bf16_over_f32"],
    }


# ---------------------------------------------------------------------------------------------
# memory: per added seed, from the updates section's programs


def per_added_seed(low: dict, high: dict, values: Callable[[dict], dict]) -> dict:
    span = high["seeds"] - low["seeds"]
    a, b = values(low), values(high)
    return {"from_seeds": [low["seeds"], high["seeds"]], **{k: (b[k] - a[k]) / span for k in a}}


def memory_section(ctx: Context) -> dict:
    updates = ctx.results.get("updates") or {}
    rows = updates.get("rows") or []
    if not ok_rows(rows):
        raise RuntimeError(f"the updates section measured no row (status {updates.get('status', 'not run')})")
    xla_keys = ("argument_bytes", "output_bytes", "temp_bytes", "peak_estimate_bytes")
    out = {"per_precision": {}, "state_per_seed": updates.get("state_per_seed")}
    for precision in PRECISIONS:
        mine = sorted((r for r in ok_rows(rows, precision) if r["memory_analysis"]), key=lambda r: r["seeds"])
        if not mine:
            continue
        entry = {"rows": [{"seeds": r["seeds"], **{k: r["memory_analysis"][k] for k in xla_keys}} for r in mine]}
        if len(mine) > 1:
            entry["xla_per_added_seed"] = per_added_seed(mine[0], mine[-1], lambda r: {
                k: r["memory_analysis"][k] for k in xla_keys})  # fmt: skip
        peaks = [r for r in mine if r["allocator"] and r["allocator"]["set_new_peak"]]
        if len(peaks) > 1:
            entry["allocator_per_added_seed"] = per_added_seed(peaks[0], peaks[-1], lambda r: {
                "peak_bytes_in_use": r["allocator"]["after"]["peak_bytes_in_use"]})  # fmt: skip
        out["per_precision"][precision] = entry
    measured = any("allocator_per_added_seed" in e for e in out["per_precision"].values())
    out["source"] = ("XLA memory_analysis and the allocator's measured peak" if measured else "XLA memory_analysis "
                     "only (no allocator statistics on this backend, or no row raised the peak)")  # fmt: skip
    for precision, entry in out["per_precision"].items():
        inc = entry.get("xla_per_added_seed")
        if inc:
            harness.log(f"[memory] {precision}: {harness.fmt_bytes(inc['peak_estimate_bytes'])} per added seed "
                        f"(XLA peak estimate; temp {harness.fmt_bytes(inc['temp_bytes'])})")  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# study: study_throughput's steady state and projection


def study_settings(settings: dict) -> dict:
    """study_throughput's settings for a fresh projection study (no end-to-end study runs here,
    so the study's own fields are None and its programs are never reused)."""
    return {
        "task": settings["task"], "preset": None, "batch_size": None, "seq_len": None, "eval_interval": None,
        "seeds": settings["study_seeds"], "projection_seeds": settings["study_seeds"],
        "projection_preset": settings["preset"], "projection_batch_size": settings["batch_size"],
        "projection_seq_len": settings["seq_len"], "projection_chunk_env_steps": settings["study_chunk_env_steps"],
        "repeats": settings["study_repeats"], "warmup": settings["study_warmup"],
        "eval_episodes": settings["eval_episodes"], "episode_length": settings["episode_length"],
    }  # fmt: skip


def study_section(ctx: Context) -> dict:
    settings = ctx.settings
    overrides = (*settings["model_overrides"], ("precision", settings["study_precision"]))
    measured = study_throughput.steady_state(study_settings(settings), None, {}, model_overrides=overrides)
    paper_episode_length = study_throughput.FULL["paper_episode_length"]
    projection = study_throughput.project(measured, paper_episode_length, jax.default_backend())
    harness.log(f"[study] {measured['seeds']} seeds at {measured['preset']} ({settings['study_precision']}): "
                f"{harness.fmt_rate(projection['updates_per_s_all_agents_and_seeds'])} updates/s (all agents); "
                f"paper protocol projected {projection['projected_hours']:,.2f} h")  # fmt: skip
    return {"precision": settings["study_precision"], "steady_state": measured, "projection": projection}


# ---------------------------------------------------------------------------------------------
# env: env_throughput.bench_jax per implementation


@contextlib.contextmanager
def mjx_implementation(impl: str):
    """Select the MJX implementation the Playground DMC envs are built with (the envs' own switch)."""
    from envs.dmc_playground import physics

    old = os.environ.get(physics.IMPL_ENV_VAR)
    os.environ[physics.IMPL_ENV_VAR] = impl
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(physics.IMPL_ENV_VAR, None)
        else:
            os.environ[physics.IMPL_ENV_VAR] = old


def warp_unavailable(settings: dict) -> str | None:
    """Why Warp is not tried here, or None."""
    if jax.default_backend() == "cpu" and not settings["warp_on_cpu"]:
        return ("CPU backend: Warp is measured on a GPU (its CPU kernels take tens of seconds to build cold; "
                "--warp-on-cpu tries them)")  # fmt: skip
    if importlib.util.find_spec("warp") is None:
        return "warp-lang is not installed"
    return None


def env_row(name: str, task: str, impl: str | None, batch: int, settings: dict, seeds: int = 0) -> dict:
    """One bench_jax measurement; `seeds` > 0 runs `seeds` copies of the batch under the
    study's seed vmap (reset reduced over seeds). Failures are recorded, not raised."""
    row = {"name": name, "task": task, "impl": impl, "batch_per_seed": batch, "seeds": seeds}
    if impl == "warp" and (reason := warp_unavailable(settings)):
        return {**row, "status": "unavailable", "reason": reason}
    selected = mjx_implementation(impl) if impl else contextlib.nullcontext()
    try:
        with selected:
            measured = env_throughput.bench_jax(task, batch, settings["env_steps_per_call"], settings["env_repeats"],
                                                seeds=seeds, reduce_reset=bool(seeds))  # fmt: skip
    except Exception as error:  # noqa: BLE001 - e.g. Warp not selectable, or failing under vmap
        harness.log(f"[env] {name} failed: {type(error).__name__}: {str(error)[:300]}")
        return {**row, "status": "error", "error": error_record(error)}
    harness.log(f"[env] {name}: {measured['steps_per_s']:,.0f} agent steps/s "
                f"(compile and first call {measured['compile_and_first_call_s']:.1f} s)")  # fmt: skip
    return {**row, **measured, "status": "ok"}


def env_section(ctx: Context) -> dict:
    settings = ctx.settings
    batch = settings["env_batch"]
    plan = [(f"gymnax {settings['gymnax_task']} x{batch}", settings["gymnax_task"], None, batch, 0)]
    plan += [(f"mjx-{impl} {settings['mjx_task']} x{batch}", settings["mjx_task"], impl, batch, 0)
             for impl in settings["mjx_impls"]]  # fmt: skip
    seeds, per_seed = settings["seed_vmap_shape"]
    plan += [(f"mjx-{impl} {settings['mjx_task']} {seeds} seeds x{per_seed} (seed vmap)", settings["mjx_task"], impl,
              per_seed, seeds) for impl in settings["seed_vmap_impls"]]  # fmt: skip
    result = {"rows": []}
    for name, task, impl, per_seed_batch, row_seeds in plan:
        if ctx.budget.exceeded():
            result["rows"].append({"name": name, **ctx.budget.skipped()})
            continue
        result["rows"].append(env_row(name, task, impl, per_seed_batch, settings, row_seeds))
        ctx.report(result)
    return result


SECTION_FUNCTIONS = {"device": device_section, "updates": updates_section, "memory": memory_section,
                     "study": study_section, "env": env_section}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# summary and command line


def print_summary(results: dict) -> None:
    rate = harness.fmt_rate
    print("\nsection   status   wall s")
    for name, section in results.items():
        detail = section.get("reason") or (section.get("error") or {}).get("type", "")
        print(f"{name:9} {section['status']:8} {section.get('wall_s', 0):>6.1f}  {detail}")
    updates = results.get("updates") or {}
    if ok_rows(updates.get("rows") or []):
        print(f"\nupdates/s at {updates['preset']}, batch {updates['batch_size']} x {updates['seq_len']}")
        print(f"{'precision':9} {'seeds':>5} {'vmapped':>10} {'per seed':>9} {'sequential':>10} {'vmap/seq':>8} "
              f"{'vs 1 seed':>9} {'XLA peak':>10}")  # fmt: skip
        for r in ok_rows(updates["rows"]):
            peak = (r["memory_analysis"] or {}).get("peak_estimate_bytes")
            speedup = r.get("speedup_over_one_seed")
            print(f"{r['precision']:9} {r['seeds']:>5} {rate(r['vmapped']['updates_per_s']):>10} "
                  f"{rate(r['vmapped']['updates_per_s_per_seed']):>9} {rate(r['sequential']['updates_per_s']):>10} "
                  f"{r['ratio_vmapped_over_sequential']:>8.2f} {'-' if speedup is None else f'{speedup:.2f}':>9} "
                  f"{harness.fmt_bytes(peak):>10}")  # fmt: skip
        for ratio in updates.get("bf16_over_f32") or []:
            print(f"bf16 / f32 at {ratio['seeds']} seeds: {ratio['ratio']:.2f}x")
    memory = (results.get("memory") or {}).get("per_precision") or {}
    for precision, entry in memory.items():
        for key, label in (("xla_per_added_seed", "XLA peak estimate"), ("allocator_per_added_seed", "measured peak")):
            if key in entry:
                value = entry[key].get("peak_estimate_bytes", entry[key].get("peak_bytes_in_use"))
                print(f"memory per added seed ({precision}, {label}): {harness.fmt_bytes(value)}")
    projection = (results.get("study") or {}).get("projection")
    if projection:
        print(f"paper protocol for one task (9 runs): {projection['projected_hours']:,.2f} h projected "
              f"({results['study']['precision']}); target <= {projection['target_hours_h100']} h "
              f"on one H100/H200")  # fmt: skip
    for row in (results.get("env") or {}).get("rows") or []:
        if row["status"] == "ok":
            shown = f"{rate(row['steps_per_s'])} agent steps/s"
        else:
            shown = f"{row['status']}: {row.get('reason') or row.get('error', {}).get('type')}"
        print(f"env {row['name']}: {shown}")


def parse_args(argv):
    parser = harness.common_parser(__doc__)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=None, help="sections to run (default all)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="skip remaining sections and rows after this")
    parser.add_argument("--task", default=None, help="JAX-native training task of the updates and study sections")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--chunk-env-steps", type=int, default=None, help="env steps per seed in one timed call")
    parser.add_argument("--prefill", type=int, default=None, help="0: 4 x seq_len")
    parser.add_argument("--episode-length", type=int, default=None, help="0: the suite's default")
    parser.add_argument("--bf16-seeds", nargs="*", type=int, default=None, help="vmapped seed counts in bf16")
    parser.add_argument("--f32-seeds", nargs="*", type=int, default=None, help="vmapped seed counts in f32")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--compile-threads", type=int, default=None, help="programs compiled at once")
    parser.add_argument("--study-seeds", type=int, default=None)
    parser.add_argument("--study-precision", choices=PRECISIONS, default=None)
    parser.add_argument("--study-chunk-env-steps", type=int, default=None)
    parser.add_argument("--study-repeats", type=int, default=None)
    parser.add_argument("--study-warmup", type=int, default=None)
    parser.add_argument("--eval-episodes", type=int, default=None)
    parser.add_argument("--mjx-task", default=None, help="a Playground DMC task (dmc/<task>-proprio)")
    parser.add_argument("--mjx-impls", nargs="*", choices=("jax", "warp"), default=None)
    parser.add_argument("--gymnax-task", default=None)
    parser.add_argument("--env-batch", type=int, default=None)
    parser.add_argument("--env-steps-per-call", type=int, default=None)
    parser.add_argument("--env-repeats", type=int, default=None)
    parser.add_argument("--seed-vmap-shape", nargs=2, type=int, default=None, metavar=("SEEDS", "ENVS"))
    parser.add_argument("--seed-vmap-impls", nargs="*", choices=("jax", "warp"), default=None)
    parser.add_argument("--warp-on-cpu", action="store_const", const=True, default=None,
                        help="try Warp's CPU kernels when the backend is the CPU")
    harness.add_model_argument(parser)
    args = parser.parse_args(argv)
    settings = harness.settings_from(args, QUICK, FULL)
    settings["model_overrides"] = tuple(args.model)
    with harness.checking_input():
        validate(settings)
        if "memory" in (args.sections or ()) and "updates" not in args.sections:
            raise ValueError("--sections memory needs the updates section (memory comes from its programs)")
    return args, settings


def validate(settings: dict) -> None:
    if any(key == "precision" for key, _ in settings["model_overrides"]):
        raise ValueError("--model precision=... is not allowed: --bf16-seeds/--f32-seeds and --study-precision set it")
    if not (settings["bf16_seeds"] or settings["f32_seeds"]):
        raise ValueError("--bf16-seeds and --f32-seeds are both empty: the updates section has nothing to time")
    for name in ("bf16_seeds", "f32_seeds"):
        if any(n < 1 for n in settings[name]):
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {settings[name]}")
    positive = ("repeats", "study_repeats", "study_seeds", "env_batch", "env_steps_per_call", "env_repeats",
                "compile_threads", "study_chunk_env_steps", "chunk_env_steps")  # fmt: skip
    for name in positive:
        if settings[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {settings[name]}")
    if settings["warmup"] < 0 or settings["study_warmup"] < 0:
        raise ValueError("--warmup and --study-warmup must be >= 0")
    if min(settings["seed_vmap_shape"]) < 1:
        raise ValueError(f"--seed-vmap-shape must be positive, got {settings['seed_vmap_shape']}")
    # Task, preset, batch and --model overrides, checked as the sections' studies will check them.
    harness.chunk_config(settings["task"], settings["preset"], 1, chunk_env_steps=settings["chunk_env_steps"],
                         batch_size=settings["batch_size"], seq_len=settings["seq_len"], chunks=1,
                         prefill=settings["prefill"], episode_length=settings["episode_length"],
                         model_overrides=settings["model_overrides"])  # fmt: skip


def main(argv=None) -> dict:
    args, settings = parse_args(argv)
    chosen = [s for s in SECTIONS if s in (args.sections or SECTIONS)]
    budget = Budget(args.budget_s)
    name = "device_check" + (f"-{args.label}" if args.label else "")
    saved = {}

    def save(results: dict) -> None:
        payload = {"settings": {**settings, "model_overrides": [list(kv) for kv in settings["model_overrides"]]},
                   "sections_requested": chosen, "budget_s": args.budget_s, "elapsed_s": budget.elapsed(),
                   "compilation_cache": harness.compilation_cache_dir(), "sections": results}  # fmt: skip
        saved["path"] = save_result(name, payload, args.out_dir, quick=args.quick)

    results = run_sections([(s, SECTION_FUNCTIONS[s]) for s in chosen], settings, budget, save)
    print_summary(results)
    print(f"saved {saved['path']} ({budget.elapsed():.0f} s)")
    return {"path": str(saved["path"]), "sections": results}


if __name__ == "__main__":
    harness.run_cli(main, "device_check")
