"""Learning check on pixels: a DreamerV3 Active agent on a JAX-rendered DMC vision task beats a random policy.

    python -m benchmarks.vision_learning            # cheetah_run-vision, tiny preset, 10K env steps
    python -m benchmarks.vision_learning --quick    # 1K env steps: a smoke run of the machinery

Runs a one-seed Active-only study with the `offon-jit` machinery (`Study`, the jax backend:
MJX physics drawn by the JAX ray caster, collection and evaluation inside the jitted programs),
records its evaluation score curve, and measures the random policy's score the way
`offon_jit.analysis.random_scores` does (same task, same episode length, many episodes). The
verdict compares the mean of the last `--final-points` evaluation scores with the random mean
plus a margin (`margin`), and the result goes to results/vision_learning-<device>.json.

Like tests/engine/test_learning.py, all three optimisers use a learning rate of 1e-3 instead of
DreamerV3's 1e-4/3e-5 so that the effect shows within a CPU-sized run. On the shared 2-core CPU
one tiny-preset update on 64x64 frames takes seconds (the convolutions dominate, not the env),
so the run trades replay for updates: batch 8 x 16 and one update every 4th env step (train
ratio 32, the paper's 512) give 2,500 updates in 10K env steps.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import tempfile
import time

from benchmarks.common import save_result

FAST_LR = (("actor_lr", 1e-3), ("critic_lr", 1e-3), ("wm_lr", 1e-3))
TASKS = ("dmc/cheetah_run-vision", "dmc/reacher_hard-vision")
TRAINING = {"num_envs": 4, "train_every": 4, "batch_size": 8, "seq_len": 16, "prefill": 256}
FULL = {"env_steps": 10_000, "eval_interval": 2_000, "episode_length": 250, "eval_episodes": 8, **TRAINING}
QUICK = {"env_steps": 1_000, "eval_interval": 500, "episode_length": 100, "eval_episodes": 4, **TRAINING}
RANDOM_EPISODES = 200
MARGIN_Z = 4.0  # standard errors of an eval's mean over random episodes


def margin(random_std: float, eval_episodes: int, final_points: int, minimum: float) -> float:
    """How far above the random mean the agent's score must be to count as beating random.

    A random policy's eval score (a mean over `eval_episodes * final_points` episodes) has a
    standard error of random_std / sqrt(episodes); MARGIN_Z of them make a random policy's pass
    improbable (one-sided z = 4: ~3e-5), and `minimum` keeps the margin meaningful where random
    returns barely vary.
    """
    return max(minimum, MARGIN_Z * random_std / math.sqrt(eval_episodes * final_points))


def random_policy(task: str, episode_length: int, episodes: int, seed: int) -> dict:
    from offon_jit.analysis.random_scores import RandomPolicySetting, measure_random_score

    setting = RandomPolicySetting(task, episodes, seed=seed, episode_length=episode_length)
    return measure_random_score(setting, backend="jax", progress=False)


def run_study(task: str, settings: dict, run_dir: pathlib.Path, preset: str, seed: int) -> dict:
    """One Active seed on the jax backend; returns its score curve and wall times."""
    from offon_jit.config import RunConfig
    from offon_jit.engine.programs import uses_host_simulator
    from offon_jit.engine.study import Study
    from offon_jit.metrics_log import read_rows

    config = RunConfig(task=task, agents=("active",), num_seeds=1, seed=seed, env_steps=settings["env_steps"],
                       preset=preset, backend="jax", num_envs=settings["num_envs"],
                       train_every=settings["train_every"], batch_size=settings["batch_size"],
                       seq_len=settings["seq_len"], prefill=settings["prefill"], eval_interval=settings["eval_interval"],
                       eval_episodes=settings["eval_episodes"],
                       episode_length=settings["episode_length"], checkpoint_every=0, model_overrides=FAST_LR,
                       out_dir=str(run_dir))
    if uses_host_simulator(config):
        raise RuntimeError(f"{task} would run on the host simulator; this check is for the jax backend")
    start = time.perf_counter()
    summary = Study(config, progress=False).run()
    wall = time.perf_counter() - start
    rows = sorted(read_rows(run_dir), key=lambda r: r["env_steps"])
    curve = [{"env_steps": r["env_steps"], "score": r["score"], "score_std": r.get("score_std"),
              "wall_time_s": r.get("wall_time_s"), "env_steps_per_s": r.get("env_steps_per_s")} for r in rows]
    return {"config": {k: v for k, v in vars(config).items() if not k.startswith("_")}, "curve": curve,
            "wall_s": wall, "summary": summary}


def verdict(curve: list[dict], random: dict, eval_episodes: int, final_points: int, minimum: float) -> dict:
    final = [point["score"] for point in curve[-final_points:]]
    needed = margin(random["std"], eval_episodes, len(final), minimum)
    score = sum(final) / len(final)
    return {"final_score": score, "final_points": len(final), "random_mean": random["mean"], "margin": needed,
            "beats_random": score > random["mean"] + needed}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 1K-step smoke run (no learning expected)")
    parser.add_argument("--task", default=TASKS[0], choices=TASKS)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-steps", type=int, default=None, help="override the run length")
    parser.add_argument("--eval-interval", type=int, default=None)
    parser.add_argument("--final-points", type=int, default=2, help="evaluations averaged for the verdict")
    parser.add_argument("--min-margin", type=float, default=5.0, help="smallest margin over random, in return")
    parser.add_argument("--random-episodes", type=int, default=RANDOM_EPISODES)
    parser.add_argument("--run-dir", default=None, help="where the study writes (default: a temporary directory)")
    parser.add_argument("--out-dir", default=None, help="where to write the JSON result (default benchmarks/results)")
    parser.add_argument("--label", default="", help="suffix for the result file name")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    for name in ("env_steps", "eval_interval"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    load_before = [round(x, 2) for x in os.getloadavg()]
    random = random_policy(args.task, settings["episode_length"], args.random_episodes, seed=1000 + args.seed)
    print(f"random policy on {args.task} ({settings['episode_length']}-step episodes, {args.random_episodes} "
          f"episodes): {random['mean']:.2f} +- {random['std']:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = pathlib.Path(args.run_dir or pathlib.Path(scratch) / "study")
        study = run_study(args.task, settings, run_dir, args.preset, args.seed)
    result = verdict(study["curve"], random, settings["eval_episodes"], args.final_points, args.min_margin)
    for point in study["curve"]:
        print(f"  env step {point['env_steps']:>6}: score {point['score']:.2f}")
    print(f"final {result['final_score']:.2f} vs random {random['mean']:.2f} + margin {result['margin']:.2f}: "
          f"{'BEATS' if result['beats_random'] else 'does NOT beat'} random ({study['wall_s'] / 60:.1f} min)")
    name = "vision_learning" + (f"-{args.label}" if args.label else "")
    payload = {"task": args.task, "preset": args.preset, "backend": "jax", "settings": settings,
               "random_policy": random, "verdict": result, "margin_z": MARGIN_Z, "min_margin": args.min_margin,
               "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}, **study}
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), **payload}


if __name__ == "__main__":
    main()
