"""Side by side with the official DreamerV3 release: updates/s and env steps/s, same task and config.

    python -m benchmarks.peer_dreamerv3                # full: the paper's size S, 16 x 64, seeds 1,4,8 (a GPU job)
    python -m benchmarks.peer_dreamerv3 --quick        # tiny model: < 2 minutes once compiled programs are cached
    python -m benchmarks.peer_dreamerv3 --preset xs --batch-size 8 --seq-len 32 \
        --segment-steps 16 --segments 2 --seeds 1,4,8 --rounds 2      # the run recorded on the 2-core CPU

The peer is `dreamerv3` 1.1.0 from PyPI (the first public release, DreamerV3 v1 as the
paper used it), installed into a separate venv that this script creates on first use
(`--peer-venv`, default ~/.cache/offon_jit/peer-dreamerv3-venv; `--no-install` never
creates it). It runs its own training loop in a subprocess (benchmarks/peer/run_peer.py).
Without a usable venv the result records `peer.status` and the exact reason, and our
side still runs.

Both sides: same task (dm_control through the host backend by default), same model
sizes (the peer configured to the preset; both parameter counts recorded), batch x
sequence length, one update per `train_every` agent steps (the peer's train_ratio =
batch * seq_len / train_every), the same number of parallel envs and agent steps. The
training loop is cut into segments of `segment_steps` agent steps; the first
`warmup_segments` hold every compile and are dropped, the rest are the raw repeats
(medians reported). Ours runs 1 seed and N vmapped seeds (`--seeds`); per-seed figures
divide the aggregate by N. Ratios compare against the peer's single run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import jax

import envs
from benchmarks.common import median, save_result
from benchmarks.peer import venv as peer_venv
from offon_jit.config import RunConfig
from offon_jit.dreamer.config import DreamerConfig, get_preset
from offon_jit.dreamer.summary import parameter_counts
from offon_jit.engine.programs import uses_host_simulator
from offon_jit.engine.study import Study

DEFAULT_COMPILE_CACHE = pathlib.Path.home() / ".cache" / "offon_jit" / "jax-peer-bench"
TARGETS = {"per_seed_updates_ratio": 1.5, "aggregate_updates_ratio": 5.0}

# FULL is the paper's configuration (size S, 16 x 64, replay ratio 512, 4 envs), for a GPU. On
# the 2-core CPU one update of S takes seconds per seed; benchmarks/README.md gives the reduced
# command that was run there.
FULL = {
    "task": "dmc/cheetah_run-proprio", "preset": "s", "batch_size": 16, "seq_len": 64, "num_envs": 4,
    "train_every": 2, "segment_steps": 64, "warmup_segments": 1, "segments": 3, "seeds": [1, 4, 8],
}
QUICK = {
    "task": "dmc/cheetah_run-proprio", "preset": "tiny", "batch_size": 4, "seq_len": 16, "num_envs": 4,
    "train_every": 2, "segment_steps": 32, "warmup_segments": 1, "segments": 2, "seeds": [1, 2],
}


@dataclasses.dataclass(frozen=True)
class Settings:
    task: str
    preset: str
    batch_size: int
    seq_len: int
    num_envs: int
    train_every: int
    segment_steps: int
    warmup_segments: int
    segments: int
    seeds: tuple[int, ...]
    backend: str = "host"
    seed: int = 0

    @property
    def loop_steps(self) -> int:
        return self.segment_steps * (self.warmup_segments + self.segments)

    @property
    def prefill(self) -> int:
        # The peer fills batch_size * seq_len random steps; ours needs >= seq_len per env.
        fill = max(self.batch_size * self.seq_len, self.seq_len * self.num_envs)
        return -(-fill // self.num_envs) * self.num_envs

    def validate(self) -> None:
        entry = envs.get_task(self.task)
        if entry.suite != "dmc" or not self.task.endswith("-proprio"):
            raise ValueError(f"the peer comparison runs DMC proprio tasks (dmc/<task>-proprio), got {self.task}")
        cycle = max(self.num_envs, self.train_every)
        if self.segment_steps % cycle:
            raise ValueError(f"segment_steps ({self.segment_steps}) must be a multiple of max(num_envs, "
                             f"train_every) = {cycle}")
        if self.segments < 1 or self.warmup_segments < 1:
            raise ValueError("need segments >= 1 and warmup_segments >= 1 (the first segment holds the compiles)")
        if not self.seeds or min(self.seeds) < 1:
            raise ValueError(f"seeds must be positive seed counts, got {self.seeds}")
        get_preset(self.preset)


# -- ours ----------------------------------------------------------------------------------------


def run_config(settings: Settings, num_seeds: int, out_dir: str) -> RunConfig:
    return RunConfig(
        task=settings.task, agents=("active",), num_seeds=num_seeds, seed=settings.seed,
        env_steps=settings.loop_steps, preset=settings.preset, backend=settings.backend,
        num_envs=settings.num_envs, train_every=settings.train_every, batch_size=settings.batch_size,
        seq_len=settings.seq_len, prefill=settings.prefill, eval_interval=settings.segment_steps,
        eval_episodes=1, checkpoint_every=0, out_dir=out_dir,
    )


def bench_ours(settings: Settings, num_seeds: int) -> dict:
    """Time `run_chunk` of the Active phase: one chunk = one segment of `segment_steps` agent steps."""
    with tempfile.TemporaryDirectory(prefix="peer-bench-ours-") as out_dir:
        config = run_config(settings, num_seeds, out_dir)
        host = uses_host_simulator(config)
        start = time.perf_counter()
        study = Study(config, progress=False)  # host simulators or JAX-native envs, as the study decides
        try:
            program = study.program(study.phases[0])  # the Active phase
            state = jax.block_until_ready(program.init(None))
            setup_s = time.perf_counter() - start
            times = []
            for chunk in range(config.num_chunks):
                start = time.perf_counter()
                state, out = study.run_chunk(program, state, chunk)
                jax.block_until_ready((state, out))
                times.append(time.perf_counter() - start)
        finally:
            study.simulator.close()
        train_steps = jax.device_get(state["active"].train_steps)
        env_steps = jax.device_get(state["active"].env_steps)
    updates_per_chunk = config.updates_per_chunk
    timed = times[settings.warmup_segments:]
    segments = [{
        "seconds": t, "env_steps_per_seed": settings.segment_steps, "updates_per_seed": updates_per_chunk,
        "per_seed_updates_per_s": updates_per_chunk / t, "per_seed_env_steps_per_s": settings.segment_steps / t,
        "aggregate_updates_per_s": num_seeds * updates_per_chunk / t,
        "aggregate_env_steps_per_s": num_seeds * settings.segment_steps / t,
    } for t in timed]
    return {
        "num_seeds": num_seeds, "backend": "host" if host else "jax", "setup_and_prefill_s": setup_s,
        "warmup_s": sum(times[:settings.warmup_segments]), "chunk_times_s": times,
        "final_train_steps": [int(x) for x in train_steps], "final_env_steps": [int(x) for x in env_steps],
        "segments": segments, **_medians(segments, OUR_RATES), "load_average": os.getloadavg(),
    }


OUR_RATES = ["per_seed_updates_per_s", "per_seed_env_steps_per_s", "aggregate_updates_per_s", "aggregate_env_steps_per_s"]
PEER_RATES = ["updates_per_s", "env_steps_per_s"]


def _medians(rows: list[dict], keys: list[str]) -> dict:
    return {f"median_{k}": median([r[k] for r in rows]) for k in keys}


def pool_our_rounds(runs: list[dict]) -> dict:
    """One entry per seed count: every round's run, and medians over all their timed segments."""
    segments = [seg for run in runs for seg in run["segments"]]
    return {"num_seeds": runs[0]["num_seeds"], "backend": runs[0]["backend"], "rounds": runs,
            "segments": segments, **_medians(segments, OUR_RATES)}


def pool_peer_rounds(runs: list[dict]) -> dict:
    segments = [seg for run in runs for seg in run["segments"]]
    first = {k: v for k, v in runs[0].items() if k not in ("segments",) and not k.startswith("median_")}
    rounds = [{k: run[k] for k in ("segments", "warmup_s", "wall_s", "subprocess_wall_s", "load_average",
                                   "total_updates", "total_env_steps")} for run in runs]
    return {**first, "rounds": rounds, "segments": segments, **_medians(segments, PEER_RATES)}


# -- the peer ------------------------------------------------------------------------------------


def peer_settings(settings: Settings, logdir: str, compile_cache: str | None) -> dict:
    size = dataclasses.asdict(get_preset(settings.preset))
    return {
        "task": envs.get_task(settings.task).task, "seed": settings.seed, "platform": jax.default_backend(),
        "precision": "float32", "num_envs": settings.num_envs, "env_parallel": "none",
        "batch_size": settings.batch_size, "seq_len": settings.seq_len, "train_every": settings.train_every,
        "render": False, "size": size, "segment_steps": settings.segment_steps,
        "warmup_segments": settings.warmup_segments, "segments": settings.segments, "logdir": logdir,
        "compile_cache": compile_cache,
    }


def ensure_peer(venv: pathlib.Path, install: bool, python: str) -> dict:
    """{'status': 'installed' | 'created' | 'not installed' | 'install failed', ...}."""
    reason = peer_venv.check_venv(venv)
    if reason is None:
        return {"status": "installed", "venv": str(venv)}
    if not install:
        return {"status": "not installed", "venv": str(venv), "reason": f"{reason}; --no-install given"}
    record = peer_venv.create_venv(venv, python)
    if "error" in record:
        return {"status": "install failed", "reason": record["error"], "install": record}
    reason = peer_venv.check_venv(venv)
    if reason is not None:
        return {"status": "install failed", "reason": reason, "install": record}
    return {"status": "created", "venv": str(venv), "install": record}


def bench_peer(settings: Settings, venv: pathlib.Path, timeout: float, compile_cache: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        request = peer_settings(settings, str(tmp / "logdir"), compile_cache)
        (tmp / "settings.json").write_text(json.dumps(request))
        command = [str(peer_venv.venv_python(venv)), str(peer_venv.RUNNER), str(tmp / "settings.json"),
                   str(tmp / "result.json")]
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                                  env={**os.environ, "JAX_PLATFORMS": jax.default_backend()})
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"the peer run exceeded --peer-timeout {timeout:.0f} s"}
        wall = time.perf_counter() - start
        if done.returncode != 0 or not (tmp / "result.json").exists():
            tail = (done.stdout[-1500:] + "\n" + done.stderr[-3000:]).strip()
            return {"status": "failed", "reason": f"run_peer.py exited with {done.returncode}", "log_tail": tail}
        result = json.loads((tmp / "result.json").read_text())
    result.pop("logdir", None)
    result["subprocess_wall_s"] = wall
    result.update(_medians(result["segments"], PEER_RATES))
    result["load_average"] = os.getloadavg()
    return result


# -- report --------------------------------------------------------------------------------------


def ratios(ours: list[dict], peer: dict) -> dict:
    if peer.get("status") != "ran":
        return {"available": False, "reason": f"peer {peer.get('status')}: {peer.get('reason', '')}"}
    base = peer["median_updates_per_s"]
    single = next((r for r in ours if r["num_seeds"] == 1), None)
    per_seed = {r["num_seeds"]: r["median_per_seed_updates_per_s"] / base for r in ours}
    aggregate = {r["num_seeds"]: r["median_aggregate_updates_per_s"] / base for r in ours}
    widest = max(ours, key=lambda r: r["num_seeds"])
    out = {
        "available": True,
        "peer_updates_per_s": base,
        "per_seed_updates_ratio_by_seeds": per_seed,
        "aggregate_updates_ratio_by_seeds": aggregate,
        "aggregate_env_steps_ratio_by_seeds": {
            r["num_seeds"]: r["median_aggregate_env_steps_per_s"] / peer["median_env_steps_per_s"] for r in ours},
        "aggregate_ratio_at_seeds": widest["num_seeds"],
        "aggregate_updates_ratio": aggregate[widest["num_seeds"]],
        "targets": TARGETS,
    }
    if single is not None:
        out["per_seed_updates_ratio"] = per_seed[1]
        out["meets_per_seed_target"] = per_seed[1] >= TARGETS["per_seed_updates_ratio"]
    out["meets_aggregate_target"] = out["aggregate_updates_ratio"] >= TARGETS["aggregate_updates_ratio"]
    return out


def print_table(ours: list[dict], peer: dict, comparison: dict) -> None:
    print(f"{'run':32} {'seeds':>5} {'upd/s/seed':>11} {'upd/s total':>12} {'env st/s/seed':>14} {'env st/s total':>15}")
    if peer.get("status") == "ran":
        p = peer
        print(f"{'peer dreamerv3 ' + p['version']:32} {1:>5} {p['median_updates_per_s']:>11.2f} "
              f"{p['median_updates_per_s']:>12.2f} {p['median_env_steps_per_s']:>14.1f} {p['median_env_steps_per_s']:>15.1f}")
    else:
        print(f"peer: {peer.get('status')}: {peer.get('reason', '')}")
    for r in ours:
        print(f"{'offon_jit (' + r['backend'] + ')':32} {r['num_seeds']:>5} {r['median_per_seed_updates_per_s']:>11.2f} "
              f"{r['median_aggregate_updates_per_s']:>12.2f} {r['median_per_seed_env_steps_per_s']:>14.1f} "
              f"{r['median_aggregate_env_steps_per_s']:>15.1f}")
    if comparison.get("available"):
        line = f"aggregate/peer at {comparison['aggregate_ratio_at_seeds']} seeds: {comparison['aggregate_updates_ratio']:.2f}x (target 5x)"
        if "per_seed_updates_ratio" in comparison:
            line = f"per seed/peer: {comparison['per_seed_updates_ratio']:.2f}x (target 1.5x); " + line
        print(line)


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated seed counts like 1,4,8, got {text!r}") from None
    if not seeds or min(seeds) < 1:
        raise argparse.ArgumentTypeError(f"--seeds needs positive seed counts, got {text!r}")
    return seeds


def settings_from_args(args) -> Settings:
    base = dict(QUICK if args.quick else FULL)
    for name in ("task", "preset", "batch_size", "seq_len", "num_envs", "train_every", "segments",
                 "warmup_segments", "segment_steps", "seeds"):
        value = getattr(args, name)
        if value is not None:
            base[name] = value
    if args.steps is not None:  # total training-loop agent steps per run, warm-up included
        cycle = max(base["num_envs"], base["train_every"])
        per_segment = args.steps // (base["warmup_segments"] + base["segments"]) // cycle * cycle
        if per_segment < cycle:
            raise ValueError(f"--steps {args.steps} is too few for {base['warmup_segments'] + base['segments']} segments")
        base["segment_steps"] = per_segment
    base["seeds"] = tuple(base["seeds"])
    settings = Settings(**base, backend=args.backend)
    settings.validate()
    return settings


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, few steps: under 2 minutes on CPU once compiled")
    parser.add_argument("--peer-venv", default=str(peer_venv.DEFAULT_VENV), help="the peer's venv (created if missing)")
    parser.add_argument("--no-install", action="store_true", help="never create the peer venv (no network)")
    parser.add_argument("--skip-peer", action="store_true", help="run only offon_jit")
    parser.add_argument("--peer-python", default=peer_venv.DEFAULT_PYTHON, help="interpreter for a new peer venv")
    parser.add_argument("--peer-timeout", type=float, default=1800.0, help="seconds before the peer run is abandoned")
    parser.add_argument("--task", default=None, help="registry name, a DMC proprio task (default dmc/cheetah_run-proprio)")
    parser.add_argument("--preset", default=None, help="model size preset (tiny, xs, s, m, l)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--train-every", type=int, default=None, help="agent steps per update")
    parser.add_argument("--steps", type=int, default=None,
                        help="training-loop agent steps per run (warm-up + timed), split into equal segments")
    parser.add_argument("--segment-steps", type=int, default=None, help="agent steps per timed segment")
    parser.add_argument("--segments", type=int, default=None, help="timed segments (raw repeats)")
    parser.add_argument("--warmup-segments", type=int, default=None, help="untimed segments first (compiles)")
    parser.add_argument("--seeds", type=parse_seeds, default=None, help="our vmapped seed counts, e.g. 1,4,8")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat peer and ours alternately; medians pool every round's segments")
    parser.add_argument("--backend", default="host", choices=["host", "jax", "auto"],
                        help="our env backend (host = dm_control, as the peer)")
    parser.add_argument("--compile-cache", default=str(DEFAULT_COMPILE_CACHE),
                        help="persistent JAX compilation cache for both sides ('none' disables): reruns skip "
                             "most compile time; timings exclude compiles either way")
    parser.add_argument("--out-dir", default=None, help="where to write the JSON result (default benchmarks/results)")
    parser.add_argument("--label", default="", help="suffix for the result file name (e.g. xs-8x32)")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.compile_cache == "none":
        args.compile_cache = None
    if args.compile_cache:
        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

    venv = pathlib.Path(args.peer_venv).expanduser()
    if args.skip_peer:
        peer_status = {"status": "skipped", "reason": "--skip-peer given"}
    else:
        peer_status = ensure_peer(venv, install=not args.no_install, python=args.peer_python)
        if peer_status["status"] not in ("installed", "created"):
            print(f"peer: {peer_status['status']}: {peer_status['reason']}", flush=True)
    peer_runs, our_runs = [], {n: [] for n in settings.seeds}
    # Rounds alternate the two sides so load from other processes on a shared machine hits both alike.
    for round_index in range(args.rounds):
        if peer_status["status"] in ("installed", "created"):
            print(f"round {round_index + 1}/{args.rounds}: peer dreamerv3 from {venv} ...", flush=True)
            peer_runs.append(bench_peer(settings, venv, args.peer_timeout, args.compile_cache))
            if peer_runs[-1]["status"] != "ran":
                peer_status = peer_runs[-1]
                print(f"peer: {peer_status['status']}: {peer_status['reason']}", flush=True)
        for num_seeds in settings.seeds:
            print(f"round {round_index + 1}/{args.rounds}: offon_jit, {num_seeds} seed(s) ...", flush=True)
            our_runs[num_seeds].append(bench_ours(settings, num_seeds))
    if peer_status["status"] in ("installed", "created"):
        peer = {**pool_peer_rounds(peer_runs), "install_status": peer_status["status"]}
        if "install" in peer_status:
            peer["install"] = peer_status["install"]
    else:
        peer = peer_status
    ours = [pool_our_rounds(runs) for runs in our_runs.values()]

    spec = envs.get_task(settings.task).spec
    model = DreamerConfig.from_preset(settings.preset)
    comparison = ratios(ours, peer)
    print_table(ours, peer, comparison)
    payload = {
        "settings": {**dataclasses.asdict(settings), "rounds": args.rounds, "loop_steps": settings.loop_steps, "prefill": settings.prefill,
                     "replay_ratio": settings.batch_size * settings.seq_len / settings.train_every},
        "timing_method": (
            "Training-loop agent steps are cut into segments of segment_steps; the first warmup_segments "
            "(all compiles) are dropped, medians over the rest. Ours: wall time of Study.run_chunk (one "
            "chunk = one segment) with block_until_ready. Peer: timestamps at every batched env step inside "
            "its unmodified embodied.run.train loop, updates counted by wrapping agent.train; the loop starts "
            "at its first update, after the random fill. With --rounds > 1 the sides alternate (peer, then "
            "each seed count, per round) and the medians pool all rounds' segments."
        ),
        "ours": {"name": "offon_jit", "model": dataclasses.asdict(model),
                 "param_counts": parameter_counts(spec, model), "runs": ours},
        "peer": peer,
        "comparison": comparison,
    }
    name = "peer_dreamerv3" + (f"-{args.label}" if args.label else "")
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), "payload": payload}


if __name__ == "__main__":
    main()
