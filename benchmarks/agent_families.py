"""Env steps/s of a whole Active/Passive/Tandem study per agent family, and the projected time of 1M steps.

    python -m benchmarks.agent_families            # DQN on MinAtar Breakout, SAC on cheetah_run-proprio,
                                                   # DreamerV3 tiny on both; 5 seeds
    python -m benchmarks.agent_families --quick    # a few hundred env steps each (checks the script)

Each case runs a real Study (Active with a lock-step Tandem, then a Passive; all seeds vmapped in one
program) with the family's run defaults (agents/family.py) and times it end to end, with JAX's own
compile events subtracted (engine/compile_timer.py). Evaluation, checkpoints and logging are included:
the case's eval interval is the study's. The projection is what the issue's target is stated in:

    projected_minutes_1M = 1M env steps / steady env steps per second per agent / 60

where "per agent" counts one agent's env steps (x-axis) summed over its seeds, divided by the three
agents sharing the machine (the Active's interaction, the Tandem's and the Passive's updates are all
paid for). Target (issue 18): a MinAtar DQN study of 3 agents x 5 seeds x 1M env steps in <= 60 minutes
on a quiet 2-core CPU. Results: benchmarks/results/agent_families-<device>.json.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

from benchmarks.common import save_result
from offon_jit.config import RunConfig
from offon_jit.engine.compile_timer import timing_compilation

AGENTS = ("active", "tandem", "passive")
MILLION = 1_000_000
# (algo, task, env steps per agent, eval interval, extra RunConfig fields). The slower families run shorter, with
# one evaluation at the end (plus the one at step 0, as every phase): DreamerV3 tiny is ~100x slower than DQN.
CASES = (
    ("dqn", "minatar/breakout", 40_000, 20_000, {"frame_size": 10}),  # the games' own grid: 1M steps fit in memory
    ("dreamerv3", "minatar/breakout", 256, 256, {"preset": "tiny"}),
    ("sac", "dmc/cheetah_run-proprio", 4_000, 4_000, {}),
    ("dreamerv3", "dmc/cheetah_run-proprio", 256, 256, {"preset": "tiny"}),
)
QUICK_STEPS = 512


def case_config(algo: str, task: str, env_steps: int, eval_interval: int, extra: dict, seeds: int,
                out_dir: pathlib.Path) -> RunConfig:
    fields = {"algo": algo, "task": task, "agents": AGENTS, "num_seeds": seeds, "env_steps": env_steps,
              "eval_interval": eval_interval, "checkpoint_every": 1, "out_dir": str(out_dir), **extra}
    return RunConfig.from_dict(fields)


def measure(config: RunConfig) -> dict:
    from offon_jit.engine.study import Study

    study = Study(config)  # its progress bars: the DreamerV3 cases take tens of minutes
    start = time.perf_counter()
    with timing_compilation() as compile_time:
        summary = study.run()
    wall = time.perf_counter() - start
    steady = wall - compile_time.seconds
    steps_per_agent = config.env_steps * config.num_seeds  # one agent's x-axis over its seeds
    rate = steps_per_agent * len(AGENTS) / steady
    return {
        "algo": config.algo, "task": config.task, "seeds": config.num_seeds, "agents": list(AGENTS),
        "env_steps_per_agent": config.env_steps, "batch_size": config.batch_size, "seq_len": config.seq_len,
        "train_every": config.train_every, "num_envs": config.num_envs, "eval_interval": config.eval_interval,
        "wall_s": wall, "compile_s": compile_time.seconds, "steady_s": steady,
        "env_steps_per_s_all_agents": rate,
        "projected_minutes_1M_steps_3_agents": MILLION * config.num_seeds * len(AGENTS) / rate / 60,
        "final": summary["final"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} env steps per case")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated algos to run (default: all)")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    if only - {case[0] for case in CASES}:
        parser.error(f"--only: unknown algos {sorted(only - {case[0] for case in CASES})}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (algo, task, steps, interval, extra) in enumerate(CASES):
            if only and algo not in only:
                continue
            if args.quick:
                steps, interval = QUICK_STEPS, QUICK_STEPS // 2
            config = case_config(algo, task, steps, interval, extra, args.seeds, pathlib.Path(tmp) / f"case{i}")
            print(f"{algo} on {task}: {steps} env steps x 3 agents x {args.seeds} seeds", flush=True)
            result = measure(config)
            results.append(result)
            print(f"{algo:10s} {task:26s} {result['env_steps_per_s_all_agents']:9.0f} env steps/s (3 agents x "
                  f"{args.seeds} seeds; compile {result['compile_s']:.0f} s) -> 1M steps in "
                  f"{result['projected_minutes_1M_steps_3_agents']:.0f} min", flush=True)
            # saved after every case: a stopped run keeps what it measured
            name = "agent_families" + (f"-{'-'.join(sorted(only))}" if only else "")
            path = save_result(name, {"target": "DQN MinAtar, 3 agents x 5 seeds x 1M env steps <= 60 min on a "
                                                "quiet 2-core CPU", "results": results}, quick=args.quick)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
