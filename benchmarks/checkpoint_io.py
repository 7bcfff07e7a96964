"""Checkpoint I/O: whole-state orbax saves (before) against small orbax saves + incremental replay shards (after).

    python -m benchmarks.checkpoint_io            # rendered cheetah frames; buffers of 5K..40K stored steps
    python -m benchmarks.checkpoint_io --quick    # noise frames; 1K..4K stored steps

One run's state holds a dummy agent (`--agent-mb` of float32) and a replay buffer with the
replay schema of `--task` (dmc/cheetah_run-vision: 64x64x3 uint8 obs, 6 actions), 4 streams.
Each checkpoint adds one eval interval of rows (`--interval` env steps per seed, the paper's
5K). For every buffer size S (stored steps, all streams together, the buffer full):

* before: `CheckpointStore.save` of {agent, buffer} (what the study did: the full buffer);
* after: `CheckpointStore.save` of {agent, buffer with data={}} plus `shards.save_increment`
  of the rows of the last interval, raw (`.npys`) and zlib-1 (`.npys.zlib`). The earlier rows
  are declared as a base (`base={"num_added": ...}`) instead of being written first: a shard's
  cost depends only on its own rows.

Also measured: a buffer of the largest capacity holding one interval (the study preallocates
the capacity: does orbax pay for the empty slots?), a real chain of increments at the largest
size restored and compared bitwise, and the shard formats on one interval of frames and of
noise. Observations are real renders of `--task` (`--obs frames`: `--frames-per-env` steps of
random actions per stream, cycled; consecutive slots hold distinct frames, and a cycle spans
more than zstd's and zlib's match windows) or uniform noise (`--obs noise`, incompressible).

The projection applies the measurements to the paper's vision protocol: 3 seeds x 1M env
steps, a checkpoint every 5K env steps (200), replay capacity 1M, the size-S run state per
seed (from compile_memory's result when present). Orbax compresses (zstd) and skips empty
slots, so before-bytes grow with the fill; its time grows with the capacity it scans.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

import envs
from benchmarks import harness
from benchmarks.common import RESULTS_DIR, save_result
from offon_jit import replay
from offon_jit.checkpoint import CheckpointStore
from offon_jit.engine.transitions import replay_schema
from offon_jit.replay import shards

QUICK = {"task": "dmc/cheetah_run-vision", "obs": "noise", "frames_per_env": 32, "num_envs": 4, "interval": 1000,
         "sizes": [1000, 2000, 4000], "repeats": 1, "agent_mb": 4.0}  # fmt: skip
FULL = {"task": "dmc/cheetah_run-vision", "obs": "frames", "frames_per_env": 128, "num_envs": 4, "interval": 5000,
        "sizes": [5000, 10000, 20000, 40000], "repeats": 3, "agent_mb": 16.0}  # fmt: skip
PAPER = {"seeds": 3, "env_steps": harness.PAPER["env_steps"], "eval_interval": harness.PAPER["eval_interval"],
         "replay_capacity": harness.PAPER["replay_capacity"], "num_envs": harness.PAPER["num_envs"]}  # fmt: skip
FALLBACK_STATE_BYTES = 121_455_884  # size S params + optimiser state per seed (compile_memory, 2-core CPU run)
MB = 1e6


# -- data ---------------------------------------------------------------------------------------
def render_frames(task: str, num_envs: int, steps: int, seed: int = 0) -> np.ndarray:
    """(num_envs * steps, *obs_shape) distinct rendered observations under uniform random actions."""
    env = envs.make(task, backend="host", num_envs=num_envs)
    rng = np.random.default_rng(seed)
    step = env.reset(seed=seed)
    frames = [step.obs]
    low, high = env.spec.action.low, env.spec.action.high
    for _ in range(steps - 1):
        step = env.step(rng.uniform(low, high, (num_envs, env.spec.action.dim)).astype(np.float32))
        frames.append(step.obs)
    if hasattr(env, "close"):
        env.close()
    return np.stack(frames, axis=1).reshape(num_envs * steps, *frames[0].shape[1:])


def make_data(schema: dict, num_envs: int, steps_per_env: int, frames: np.ndarray | None, seed: int = 0) -> dict:
    """Buffer arrays (num_envs, steps_per_env, ...): obs cycle through `frames` (or noise), the rest random."""
    rng = np.random.default_rng(seed)
    data = {}
    for name, (shape, dtype) in schema.items():
        full = (num_envs, steps_per_env, *shape)
        if name == "obs" and frames is not None:
            start = np.arange(num_envs)[:, None] * (len(frames) // num_envs)
            data[name] = frames[(start + np.arange(steps_per_env)[None, :]) % len(frames)]
        elif np.dtype(dtype) == np.uint8:
            data[name] = rng.integers(0, 256, full, dtype=np.uint8)
        elif np.dtype(dtype) == bool:
            data[name] = rng.random(full) < (0.002 if name == "is_first" else 0.0)
        else:
            data[name] = rng.uniform(-1, 1, full).astype(dtype)
    return data


def make_buffer(data: dict, steps_per_env: int, num_added: int) -> replay.ReplayBuffer:
    """A device buffer of `steps_per_env` slots per stream, the first `num_added` of them from `data`."""
    arrays = {}
    for name, arr in data.items():
        slots = np.zeros((arr.shape[0], steps_per_env, *arr.shape[2:]), arr.dtype)
        slots[:, :num_added] = arr[:, :num_added]
        arrays[name] = jnp.asarray(slots)
    jax.block_until_ready(arrays)  # device_put is asynchronous: keep the transfer out of the timed saves
    count = jnp.asarray(num_added, jnp.int32)
    return replay.ReplayBuffer(data=arrays, num_added=count, num_stored=count, num_envs=arr.shape[0],
                               steps_per_env=steps_per_env)  # fmt: skip


# -- one save of each kind ----------------------------------------------------------------------
def dir_bytes(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def orbax_save(store: CheckpointStore, step: int, state) -> dict:
    start = time.perf_counter()
    store.save(step, state, {"benchmark": "checkpoint_io"})
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes": dir_bytes(store.directory / str(step))}


def increment_save(directory: pathlib.Path, buffer, step: int, base: dict | None, compress: bool) -> dict:
    start = time.perf_counter()
    manifest = shards.save_increment(directory, buffer, step, base=base, compress=compress)
    seconds = time.perf_counter() - start
    entry = manifest["shards"][-1]
    return {"seconds": seconds, "bytes": shards.bytes_written(manifest), "shard_bytes": entry["bytes"],
            "rows": entry["stop"] - entry["start"]}  # fmt: skip


def median_of(runs: list[dict]) -> dict:
    """Median seconds over repeats (bytes are identical across repeats); the raw times are kept."""
    times = [r["seconds"] for r in runs]
    return {**runs[-1], "seconds": statistics.median(times), "times_s": times}


def measure_size(work: pathlib.Path, data: dict, agent, size: int, settings: dict) -> dict:
    """Before and after at one full buffer of `size` stored steps (all streams)."""
    num_envs, per_env = settings["num_envs"], size // settings["num_envs"]
    prior = per_env - settings["interval"] // num_envs  # rows of earlier checkpoints (declared as the base)
    buffer = make_buffer(data, per_env, per_env)
    full_state, small_state = {"agent": agent, "buffer": buffer}, {"agent": agent, "buffer": buffer.replace(data={})}
    runs = {"before": [], "after_orbax": [], "increment_raw": [], "increment_zlib": []}
    base = {"source": "earlier checkpoints (not timed)", "num_added": prior}
    increment_save(work / f"warmup-{size}", buffer, 1, base, False)  # compiles the row slice for this shape, as
    shutil.rmtree(work / f"warmup-{size}")  # a study's first checkpoint does once
    for repeat in range(settings["repeats"]):
        before = CheckpointStore(work / f"before-{size}-{repeat}")
        runs["before"].append(orbax_save(before, 1, full_state))
        before.close()
        after = CheckpointStore(work / f"after-{size}-{repeat}")
        runs["after_orbax"].append(orbax_save(after, 1, small_state))
        after.close()
        for codec in ("raw", "zlib"):
            directory = work / f"shards-{size}-{repeat}-{codec}"
            runs[f"increment_{codec}"].append(increment_save(directory, buffer, 1, base, codec == "zlib"))
        for path in work.glob(f"*-{size}-{repeat}*"):
            shutil.rmtree(path)
    row = {"stored_steps": size, "state_bytes_raw": harness.tree_bytes(full_state)}
    row.update({name: median_of(r) for name, r in runs.items()})
    for codec in ("raw", "zlib"):
        inc, orbax = row[f"increment_{codec}"], row["after_orbax"]
        row[f"after_{codec}"] = {"seconds": orbax["seconds"] + inc["seconds"], "bytes": orbax["bytes"] + inc["bytes"]}
    row["before_over_after_raw"] = {k: row["before"][k] / row["after_raw"][k] for k in ("seconds", "bytes")}
    kinds = ("before", "after_raw", "after_zlib")
    cells = [f"{k} {row[k]['seconds']:6.2f} s {row[k]['bytes'] / MB:8.1f} MB" for k in kinds]
    harness.log(f"{size:>7} stored | " + " | ".join(cells))
    return row


def measure_sparse(work: pathlib.Path, data: dict, agent, settings: dict) -> dict:
    """Before only, at the largest capacity holding one interval: what never-written slots cost orbax."""
    capacity, per_env = max(settings["sizes"]), max(settings["sizes"]) // settings["num_envs"]
    state = {"agent": agent, "buffer": make_buffer(data, per_env, settings["interval"] // settings["num_envs"])}
    runs = []
    for repeat in range(settings["repeats"]):
        store = CheckpointStore(work / f"sparse-{repeat}")
        runs.append(orbax_save(store, 1, state))
        store.close()
        shutil.rmtree(work / f"sparse-{repeat}")
    return {**median_of(runs), "capacity": capacity, "stored_steps": settings["interval"]}


def measure_chain(work: pathlib.Path, data: dict, settings: dict) -> dict:
    """Every increment of a real growing buffer (largest capacity), then a verified restore.

    The first increment also compiles the row slice for this shape (once per run in a study)."""
    num_envs, per_env = settings["num_envs"], max(settings["sizes"]) // settings["num_envs"]
    directory, step_rows = work / "chain", settings["interval"] // num_envs
    buffer, saves = None, []
    for step, added in enumerate(range(step_rows, per_env + 1, step_rows), start=1):
        buffer = make_buffer(data, per_env, added)
        saves.append(increment_save(directory, buffer, step, None, False))
    base = replay.init_buffer({k: (v.shape[2:], v.dtype) for k, v in data.items()}, per_env * num_envs, num_envs)
    start = time.perf_counter()
    restored = shards.restore(directory, len(saves), base)
    restore_s = time.perf_counter() - start
    bitwise = all(np.array_equal(restored.data[k], np.asarray(v)) for k, v in buffer.data.items())
    bitwise = bitwise and int(restored.num_added) == int(buffer.num_added)
    shutil.rmtree(directory)
    times = [s["seconds"] for s in saves]
    return {"checkpoints": len(saves), "increment_seconds": times,
            "later_increments_median_s": statistics.median(times[1:] or times),
            "increment_bytes": [s["bytes"] for s in saves], "restore_s": restore_s,
            "restored_bytes": sum(np.asarray(v).nbytes for v in restored.data.values()),
            "restore_bitwise_equal": bitwise}  # fmt: skip


def measure_formats(work: pathlib.Path, rows: dict, label: str) -> list[dict]:
    """One interval of rows written as each candidate shard format, fsynced, with its sha256."""
    import hashlib

    def npz(path, compressed):
        with open(path, "wb") as file:
            (np.savez_compressed if compressed else np.savez)(file, **rows)
            file.flush()
            os.fsync(file.fileno())
        hashlib.sha256(path.read_bytes()).hexdigest()  # the manifest needs it: a second pass over the file

    def npys(path, compressed):
        shards._write_atomic(path, list(rows.items()), compressed)

    results = []
    candidates = [("npys raw (chosen)", npys, False), ("npys zlib-1 (compress=True)", npys, True),
                  ("npz (np.savez)", npz, False), ("npz zlib-6 (np.savez_compressed)", npz, True)]
    for name, write, compressed in candidates:
        path = work / f"format-{label}-{len(results)}"
        start = time.perf_counter()
        write(path, compressed)
        seconds = time.perf_counter() - start
        size = path.stat().st_size
        path.unlink()
        raw = sum(v.nbytes for v in rows.values())
        results.append({"obs": label, "format": name, "seconds": seconds, "bytes": size, "ratio": raw / size,
                        "MB_per_s": raw / MB / seconds})  # fmt: skip
    return results


# -- projection ---------------------------------------------------------------------------------
def fit_line(xs: list[float], ys: list[float], nonnegative_intercept: bool = False) -> tuple[float, float]:
    """Least-squares (intercept, slope); through the origin if the intercept must not be negative and was."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    slope, intercept = np.polyfit(x, y, 1)
    if nonnegative_intercept and intercept < 0:
        slope, intercept = x @ y / (x @ x), 0.0
    return float(intercept), float(slope)


def paper_state_bytes() -> tuple[int, str]:
    """Per-seed run state without the buffer for DreamerV3 size S, from compile_memory's result if present."""
    import json

    for path in sorted(RESULTS_DIR.glob("compile_memory-*.json")):
        try:
            record = json.loads(path.read_text())
            row = next(p for p in record["presets"] if p["preset"] == "s")["rows"][0]["state_per_seed"]
            return row["run_total_bytes"] - row["replay_buffer_bytes"], f"{path.name} (preset s, {record['task']})"
        except (KeyError, StopIteration, ValueError):
            continue
    return FALLBACK_STATE_BYTES, "fallback constant (preset s, debug/point_reach)"


def project(rows: list[dict], sparse: dict, settings: dict, row_bytes: int, agent_bytes: int) -> dict:
    """Apply the measured rates to the paper's vision protocol (formula in the result).

    Orbax time: t = a + b * (filled bytes + small state) + b_empty * never-written bytes, with (a, b)
    fitted on the full buffers and b_empty from the sparse save; orbax bytes on disk: the fitted
    bytes per stored step (its zstd on these observations) times the fill, plus the small state.
    """
    seeds, interval, capacity = PAPER["seeds"], PAPER["eval_interval"], PAPER["replay_capacity"]
    checkpoints = PAPER["env_steps"] // interval
    state_bytes, state_source = paper_state_bytes()
    seconds = [r["before"]["seconds"] for r in rows]
    intercept, per_byte = fit_line([r["state_bytes_raw"] for r in rows], seconds, nonnegative_intercept=True)
    sparse_filled = agent_bytes + sparse["stored_steps"] * row_bytes
    sparse_empty = (sparse["capacity"] - sparse["stored_steps"]) * row_bytes
    per_empty_byte = max(0.0, (sparse["seconds"] - intercept - per_byte * sparse_filled) / sparse_empty)
    _, disk_per_step = fit_line([r["stored_steps"] for r in rows], [r["before"]["bytes"] for r in rows])
    agent_disk = statistics.median(r["after_orbax"]["bytes"] for r in rows)
    state_disk = state_bytes * agent_disk / agent_bytes  # the small state compresses like the dummy agent

    def orbax_seconds(filled_bytes, empty_bytes=0):
        return intercept + per_byte * filled_bytes + per_empty_byte * empty_bytes

    fills = [k * interval for k in range(1, checkpoints + 1)]
    before_bytes = [seeds * (disk_per_step * f + state_disk) for f in fills]
    before_s = [orbax_seconds(seeds * (f * row_bytes + state_bytes), seeds * (capacity - f) * row_bytes) for f in fills]
    incompressible = [seeds * (f * row_bytes + state_bytes) for f in fills]
    out = {
        "protocol": {**PAPER, "checkpoints": checkpoints, "bytes_per_step": row_bytes,
                     "small_state_bytes_per_seed": state_bytes, "small_state_source": state_source,
                     "small_state_disk_bytes_all_seeds": seeds * state_disk},
        "orbax_model": {"seconds_intercept": intercept, "seconds_per_GB_filled": per_byte * 1e9,
                        "seconds_per_GB_never_written": per_empty_byte * 1e9,
                        "disk_bytes_per_stored_step": disk_per_step, "raw_bytes_per_stored_step": row_bytes},
        "before": {
            "buffer_bytes_raw_all_seeds": seeds * capacity * row_bytes,
            "bytes_last_checkpoint_all_seeds": before_bytes[-1],
            "bytes_mean_checkpoint_all_seeds": statistics.fmean(before_bytes),
            "bytes_total_study": sum(before_bytes),
            "bytes_last_checkpoint_all_seeds_if_incompressible": incompressible[-1],
            "bytes_total_study_if_incompressible": sum(incompressible),
            "seconds_first_checkpoint": before_s[0],
            "seconds_last_checkpoint": before_s[-1],
            "seconds_total_study": sum(before_s),
        },
    }  # fmt: skip
    entry = {"file": shards.shard_name(0, 0, 0, True), "start": 999_999, "stop": 999_999, "num_added": 999_999,
             "bytes": 99_999_999, "sha256": "0" * 64}  # fmt: skip
    entry_bytes = len(shards._encode({"shards": [entry]})) - len(shards._encode({"shards": []}))
    for codec in ("raw", "zlib"):
        inc = rows[-1][f"increment_{codec}"]
        per_interval = inc["shard_bytes"] * interval / settings["interval"]
        manifest = inc["bytes"] - inc["shard_bytes"]  # holds one shard entry; the study's grow by one per checkpoint
        after_bytes = [seeds * (per_interval + manifest + k * entry_bytes + state_disk) for k in range(checkpoints)]
        inc_s = statistics.median(r[f"increment_{codec}"]["seconds"] for r in rows) * interval / settings["interval"]
        after_s = orbax_seconds(seeds * state_bytes) + seeds * inc_s
        out[f"after_{codec}"] = {
            "bytes_per_checkpoint_all_seeds": statistics.fmean(after_bytes),
            "increment_bytes_per_seed": per_interval,
            "bytes_total_study": sum(after_bytes),
            "increment_seconds_per_seed": inc_s,
            "seconds_per_checkpoint": after_s,
            "seconds_total_study": checkpoints * after_s,
        }
        out[f"before_over_after_{codec}"] = {"bytes_total": sum(before_bytes) / sum(after_bytes),
                                             "seconds_total": sum(before_s) / (checkpoints * after_s)}  # fmt: skip
    out["formula"] = (
        "k = 1..200 checkpoints, fill_k = 5000*k steps per seed; before_k bytes = seeds*(disk_bytes_per_stored_step*"
        "fill_k + small_state_disk), seconds = a + b*seeds*(fill_k*bytes_per_step + small_state) + b_empty*seeds*"
        "(capacity - fill_k)*bytes_per_step; after_k bytes = seeds*(increment_bytes + manifest_k + small_state_disk), "
        "seconds = a + b*seeds*small_state + seeds*t_increment"
    )
    return out


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv=None) -> dict:
    parser = harness.common_parser(__doc__)
    parser.add_argument("--task", default=None, help="a task whose replay schema and (host) renders are used")
    parser.add_argument("--obs", choices=["frames", "noise"], default=None, help="rendered frames or uniform noise")
    parser.add_argument("--frames-per-env", type=int, default=None, help="rendered steps per stream (cycled)")
    parser.add_argument("--interval", type=int, default=None, help="env steps per seed between checkpoints")
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="stored steps (multiples of --interval)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--agent-mb", type=float, default=None, help="dummy agent state (MB of float32)")
    parser.add_argument("--work-dir", default=None, help="scratch folder for the checkpoints (default: a temp dir)")
    args = parser.parse_args(argv)
    settings = harness.settings_from(args, QUICK, FULL)
    settings["sizes"] = sorted(settings["sizes"])
    if any(s % settings["interval"] or settings["interval"] % settings["num_envs"] for s in settings["sizes"]):
        parser.error("--sizes must be multiples of --interval, which must be a multiple of 4 (streams)")
    load_before = load_average()
    spec = envs.get_task(settings["task"]).spec
    schema = replay_schema(spec)
    row_bytes = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in schema.values())
    frames, obs_source = None, "uniform noise (incompressible)"
    if settings["obs"] == "frames":
        start = time.perf_counter()
        try:
            frames = render_frames(settings["task"], settings["num_envs"], settings["frames_per_env"])
            obs_source = (f"{len(frames)} distinct renders of {settings['task']} (host backend, random actions, "
                          f"{time.perf_counter() - start:.0f} s), cycled")  # fmt: skip
        except Exception as error:  # no EGL / dm_control: measure on noise, and say so
            obs_source = f"uniform noise (rendering failed: {type(error).__name__}: {error})"
    harness.log(f"obs: {obs_source}")
    per_env = max(settings["sizes"]) // settings["num_envs"]
    data = make_data(schema, settings["num_envs"], per_env, frames)
    rng = np.random.default_rng(1)
    agent = {"params": jnp.asarray(rng.standard_normal(int(settings["agent_mb"] * MB / 4), np.float32))}
    agent_bytes = harness.tree_bytes(agent)
    work = pathlib.Path(tempfile.mkdtemp(prefix="checkpoint_io-", dir=args.work_dir))
    try:
        warm = CheckpointStore(work / "warmup")  # orbax's first save pays one-time setup
        orbax_save(warm, 1, {"agent": agent})
        warm.close()
        rows = [measure_size(work, data, agent, size, settings) for size in settings["sizes"]]
        sparse = measure_sparse(work, data, agent, settings)
        chain = measure_chain(work, data, settings)
        steps = settings["interval"] // settings["num_envs"]
        interval_rows = {k: np.ascontiguousarray(v[:, :steps]) for k, v in data.items()}
        formats = measure_formats(work, interval_rows, "frames" if frames is not None else "noise")
        if frames is not None:
            noise = np.random.default_rng(2).integers(0, 256, interval_rows["obs"].shape, dtype=np.uint8)
            noise_rows = {**interval_rows, "obs": noise}
            formats += measure_formats(work, noise_rows, "noise")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    projection = project(rows, sparse, settings, row_bytes, agent_bytes)
    load_after = load_average()
    machine_note = (f"{os.cpu_count()}-core CPU shared with other engineers' jobs; 1-minute load average "
                    f"{load_before and load_before[0]} before this benchmark started (others' work) and "
                    f"{load_after and load_after[0]} at its end")  # fmt: skip
    payload = {
        "task": settings["task"], "settings": settings, "obs_source": obs_source, "machine_note": machine_note,
        "load_average_before": load_before, "load_average_after": load_after,
        "others_using_machine": bool(load_before and load_before[0] > 0.5),
        "bytes_per_stored_step": row_bytes, "agent_bytes": agent_bytes,
        "notes": ("orbax CheckpointStore.save blocks until written (no fsync); shards are fsynced. Orbax compresses "
                  "(zstd) and writes nothing for never-written zero slots: see sparse_capacity."),
        "sizes": rows, "sparse_capacity": sparse, "chain": chain, "formats": formats, "projection": projection,
    }  # fmt: skip
    print_summary(payload)
    name = "checkpoint_io" + (f"-{args.label}" if args.label else "")
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), **payload}


def print_summary(payload: dict) -> None:
    proj, sparse, chain = payload["projection"], payload["sparse_capacity"], payload["chain"]
    before, raw, zlib = proj["before"], proj["after_raw"], proj["after_zlib"]
    harness.log(f"sparse: capacity {sparse['capacity']} holding {sparse['stored_steps']}: "
                f"{sparse['seconds']:.2f} s, {sparse['bytes'] / MB:.1f} MB")
    harness.log(f"chain: {chain['checkpoints']} increments, first {chain['increment_seconds'][0]:.2f} s, then median "
                f"{chain['later_increments_median_s']:.2f} s; restore {chain['restore_s']:.2f} s, "
                f"bitwise equal {chain['restore_bitwise_equal']}")
    for f in payload["formats"]:
        harness.log(f"format {f['obs']:>6} {f['format']:<34} {f['seconds']:6.2f} s {f['bytes'] / MB:7.1f} MB "
                    f"x{f['ratio']:.2f}")
    last = before["bytes_last_checkpoint_all_seeds"]
    harness.log(f"paper projection (3 seeds, 200 checkpoints): before {last / 1e9:.1f} GB at the last checkpoint, "
                f"{before['bytes_total_study'] / 1e12:.2f} TB and "
                f"{before['seconds_total_study'] / 3600:.2f} h per study")
    for name, after in (("raw", raw), ("zlib", zlib)):
        harness.log(f"  after {name}: {after['bytes_per_checkpoint_all_seeds'] / 1e9:.2f} GB per checkpoint, "
                    f"{after['bytes_total_study'] / 1e9:.1f} GB and {after['seconds_total_study'] / 3600:.3f} h "
                    "per study")


if __name__ == "__main__":
    main()
