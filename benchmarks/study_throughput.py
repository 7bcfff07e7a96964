"""Study throughput end to end, and the projected wall time of the paper protocol for one task.

    python -m benchmarks.study_throughput            # size S, batch 16 x 64, 3 seeds
    python -m benchmarks.study_throughput --quick    # tiny preset, a few hundred env steps

1. Runs a real Study (Active + lock-step Tandem, then Passive; N seeds vmapped) into a
   temporary folder and reports env steps per second end to end: compile, training,
   evaluation, logging, checkpoints and plots included.
2. Times steady-state chunks (compile excluded) of the same three agents at the
   projection settings (by default the paper's: size S, batch 16 x 64, 3 seeds) and
   projects the paper protocol for one task, 3 agents x 3 seeds x 1M env steps:

     wall = (1M / E) * (t_active_tandem + t_passive) + (1M / 5K) * 3 * t_eval * (L_paper / L)

   t_active_tandem: one chunk of E env steps per seed for the Active and its lock-step
   Tandem (E/2 updates each, all seeds in one program); t_passive: E/2 Passive updates;
   t_eval: one evaluation of one agent (all seeds), scaled from the measured task's episode
   length L to L_paper (500 agent steps, DMC). The paper reports 8-15 GPU-hours per run,
   72-135 for these 9 runs; the target here is <= 3 hours on one H100.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import jax

from benchmarks import harness
from benchmarks.common import median, save_result
from offon_jit.config import RunConfig
from offon_jit.engine.runs import run_keys

QUICK = {"task": "debug/point_reach", "preset": "tiny", "seeds": 3, "projection_seeds": 0, "env_steps": 64,
         "eval_interval": 32, "prefill": 0, "batch_size": 4, "seq_len": 16, "eval_episodes": 2, "episode_length": 0,
         "checkpoint_every": 1, "projection_preset": "tiny", "projection_batch_size": 4, "projection_seq_len": 16,
         "projection_chunk_env_steps": 32, "repeats": 2, "warmup": 1, "paper_episode_length": 500}  # fmt: skip
FULL = {"task": "debug/point_reach", "preset": "s", "seeds": 3, "projection_seeds": 0, "env_steps": 2_000,
        "eval_interval": 1_000, "prefill": 0, "batch_size": 16, "seq_len": 64, "eval_episodes": 4, "episode_length": 0,
        "checkpoint_every": 1, "projection_preset": "s", "projection_batch_size": 16, "projection_seq_len": 64,
        "projection_chunk_env_steps": 1_000, "repeats": 2, "warmup": 1, "paper_episode_length": 500}  # fmt: skip
PAPER_GPU_HOURS_PER_RUN = (8.0, 15.0)  # Chen et al. 2025, A.1: RTX 4090 or A100
PAPER_RUNS = 9  # 3 agents x 3 seeds
TARGET_HOURS = 3.0  # one H100, all 9 runs


def study_config(settings: dict, out_dir: pathlib.Path) -> RunConfig:
    return RunConfig(
        task=settings["task"], preset=settings["preset"], num_seeds=settings["seeds"], env_steps=settings["env_steps"],
        eval_interval=settings["eval_interval"], batch_size=settings["batch_size"], seq_len=settings["seq_len"],
        prefill=settings["prefill"] or harness.PAPER["num_envs"] * settings["seq_len"],
        eval_episodes=settings["eval_episodes"], episode_length=settings["episode_length"],
        checkpoint_every=settings["checkpoint_every"], num_envs=harness.PAPER["num_envs"],
        train_every=harness.PAPER["train_every"], out_dir=str(out_dir),
    )  # fmt: skip


def run_study(settings: dict, out_dir: pathlib.Path):
    config = study_config(settings, out_dir)
    harness.log(f"study: {config.task}, preset {config.preset}, {config.num_seeds} seeds x {config.env_steps} env steps, "
                f"agents {', '.join(config.agents)}")  # fmt: skip
    start = time.perf_counter()
    final_states = {}  # each phase's final state, for the steady-state timing to continue from
    study = harness.make_study(config, on_phase_end=lambda phase, state: final_states.__setitem__(phase.name, state))
    summary = study.run()
    total = time.perf_counter() - start
    steps = summary["env_steps_all_agents_and_seeds"]
    result = {
        "config": {k: v for k, v in vars(config).items() if k not in ("out_dir", "model_overrides")},
        "summary": summary,
        "total_wall_s": total,
        "env_steps_all_agents_and_seeds": steps,
        "env_steps_per_s_end_to_end": steps / total,
        "env_steps_per_s_run_loop": summary["env_steps_per_s"],
        "active_env_steps_per_s": config.env_steps * config.num_seeds / summary["phase_time_s"]["active"],
    }
    harness.log(f"study: {steps} env steps (all agents and seeds) in {total:.1f} s = "
                f"{result['env_steps_per_s_end_to_end']:,.1f} env steps/s end to end")  # fmt: skip
    return study, final_states, result


def same_programs(settings: dict) -> bool:
    """Whether the projection settings are the study's own, so its compiled programs and states can be reused."""
    return (settings["projection_preset"] == settings["preset"] and settings["projection_batch_size"] == settings["batch_size"]
            and settings["projection_seq_len"] == settings["seq_len"]
            and settings["projection_chunk_env_steps"] == settings["eval_interval"]
            and settings["projection_seeds"] in (0, settings["seeds"]))  # fmt: skip


def projection_states(settings: dict, study, final_states: dict, model_overrides=()):
    """(study, Active+Tandem state, Passive state) to time: the finished study's, or a fresh study's.

    `model_overrides`: DreamerConfig fields of the fresh study (e.g. precision); they need one.
    """
    if same_programs(settings):
        if model_overrides:
            raise ValueError("model_overrides need a fresh projection study: the projection settings equal the study's")
        return study, final_states["active"], final_states["passive"]
    chunks = settings["repeats"] + settings["warmup"]
    config = harness.chunk_config(
        settings["task"], settings["projection_preset"], settings["projection_seeds"] or settings["seeds"],
        chunk_env_steps=settings["projection_chunk_env_steps"], batch_size=settings["projection_batch_size"],
        seq_len=settings["projection_seq_len"], chunks=chunks, agents=("active", "tandem", "passive"),
        eval_episodes=settings["eval_episodes"], episode_length=settings["episode_length"],
        model_overrides=tuple(model_overrides),
    )  # fmt: skip
    other = harness.make_study(config)
    start = time.perf_counter()
    active = other.initial_state(harness.phase(other, "active"))
    # The Passive agent's data: the Active buffer after the chunks the Active will run (same size).
    passive = other.initial_state(harness.phase(other, "passive"), active["active"].buffer)
    harness.log(f"projection: states for preset {config.preset} initialised in {time.perf_counter() - start:.1f} s")
    return other, active, passive


def steady_state(settings: dict, study, final_states: dict, model_overrides=()) -> dict:
    proj_study, active, passive = projection_states(settings, study, final_states, model_overrides)
    config = proj_study.config
    repeats, warmup = settings["repeats"], settings["warmup"]
    active_chunk = harness.jitted_chunk(proj_study, "active")
    passive_chunk = harness.jitted_chunk(proj_study, "passive")  # plain Passive: uniform samples of its buffer
    evaluate_agent = harness.evaluator(proj_study, "active")
    keys = run_keys(list(harness.phase(proj_study, "active").runs))

    def active_step(state):
        a, followers, _ = active_chunk(state["active"], {"tandem": state["tandem"]})
        return {"active": a, **followers}

    compile_times = {}
    start = time.perf_counter()
    active, active_times = harness.timed_calls(active_step, active, repeats, warmup)
    compile_times["active_tandem_first_calls_s"] = time.perf_counter() - start - sum(active_times)
    harness.log(f"projection: Active+Tandem chunk {median(active_times):.2f} s")
    start = time.perf_counter()
    passive, passive_times = harness.timed_calls(
        lambda s: {"passive": passive_chunk(s["passive"])[0]}, passive, repeats, warmup
    )
    compile_times["passive_first_calls_s"] = time.perf_counter() - start - sum(passive_times)
    harness.log(f"projection: Passive chunk {median(passive_times):.2f} s")
    agent, buffer = active["active"].agent, active["active"].buffer
    _, eval_times = harness.timed_calls(lambda _: evaluate_agent(agent, buffer, keys, 0), None, repeats, warmup)
    harness.log(f"projection: evaluation of one agent {median(eval_times):.2f} s")
    return {
        "preset": config.preset, "batch_size": config.batch_size, "seq_len": config.seq_len, "seeds": config.num_seeds,
        "chunk_env_steps": config.eval_interval, "updates_per_chunk": config.updates_per_chunk,
        "eval_episodes": config.eval_episodes, "episode_length": proj_study.simulator.eval_env.spec.episode_length,
        "reused_study_programs": same_programs(settings), "first_calls_minus_timed_s": compile_times,
        "active_tandem_chunk_s": active_times, "passive_chunk_s": passive_times, "evaluate_one_agent_s": eval_times,
    }  # fmt: skip


def project(measured: dict, paper_episode_length: int, backend: str) -> dict:
    env_steps = harness.PAPER["env_steps"]
    chunk, updates, seeds = measured["chunk_env_steps"], measured["updates_per_chunk"], measured["seeds"]
    t_active, t_passive = median(measured["active_tandem_chunk_s"]), median(measured["passive_chunk_s"])
    t_eval = median(measured["evaluate_one_agent_s"]) * paper_episode_length / measured["episode_length"]
    eval_points = env_steps // harness.PAPER["eval_interval"]
    train_s = env_steps / chunk * (t_active + t_passive)
    eval_s = eval_points * 3 * t_eval
    runs = 3 * seeds
    # Measured with `seeds` seeds in one program; other seed counts scale linearly to the paper's 9 runs.
    hours = (train_s + eval_s) / 3600 * PAPER_RUNS / runs
    return {
        "formula": "wall_s = [(1e6 / chunk_env_steps) * (t_active_tandem_chunk + t_passive_chunk) "
                   "+ (1e6 / 5000) * 3 * t_evaluate_one_agent * (paper_episode_length / episode_length)] "
                   "* 9 / (3 * seeds); each t covers all seeds at once (one vmapped program); compile excluded",
        "runs": PAPER_RUNS,
        "measured_runs": runs,
        "scaled_from_measured_runs": runs != PAPER_RUNS,
        "env_steps_per_run": env_steps,
        "updates_per_run": env_steps // harness.PAPER["train_every"],
        "eval_points_per_agent": eval_points,
        "paper_episode_length": paper_episode_length,
        "active_env_steps_per_s_all_seeds": seeds * chunk / t_active,
        "updates_per_s_all_agents_and_seeds": 3 * seeds * updates / (t_active + t_passive),
        "train_s_measured_runs": train_s,
        "eval_s_measured_runs": eval_s,
        "eval_fraction": eval_s / (train_s + eval_s),
        "projected_hours": hours,
        "projected_hours_per_run": hours / PAPER_RUNS,
        "paper_gpu_hours_all_runs": [h * PAPER_RUNS for h in PAPER_GPU_HOURS_PER_RUN],
        "speedup_vs_paper": [h * PAPER_RUNS / hours for h in PAPER_GPU_HOURS_PER_RUN],
        "target_hours_h100": TARGET_HOURS,
        "target_applies": backend == "gpu",
        "target_met": hours <= TARGET_HOURS,
    }


def print_table(study: dict, projection: dict, measured: dict) -> None:
    s = study["summary"]
    print(f"study end to end: {study['env_steps_all_agents_and_seeds']} env steps in {study['total_wall_s']:.1f} s "
          f"-> {study['env_steps_per_s_end_to_end']:,.1f} env steps/s (run loop {s['wall_time_s']:.1f} s; "
          f"phases " + ", ".join(f"{k} {v:.1f} s" for k, v in s["phase_time_s"].items()) + ")")  # fmt: skip
    print(f"steady state at preset {measured['preset']}, batch {measured['batch_size']} x {measured['seq_len']}, "
          f"{measured['seeds']} seeds: Active env steps/s {harness.fmt_rate(projection['active_env_steps_per_s_all_seeds'])}, "
          f"updates/s (all agents) {harness.fmt_rate(projection['updates_per_s_all_agents_and_seeds'])}")  # fmt: skip
    low, high = projection["paper_gpu_hours_all_runs"]
    print(f"paper protocol ({projection['runs']} runs x 1M env steps): projected {projection['projected_hours']:,.1f} h "
          f"(of which eval {projection['eval_fraction']:.1%}); "
          f"paper {low:.0f}-{high:.0f} GPU-h; target <= {TARGET_HOURS} h on an H100"
          + ("" if projection["target_applies"] else " (target is for a GPU; this is not one)"))  # fmt: skip


def main(argv=None) -> dict:
    parser = harness.common_parser(__doc__)
    parser.add_argument("--task", default=None, help="a JAX-native task (default debug/point_reach)")
    parser.add_argument("--preset", default=None, help="the study's model size preset")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--env-steps", type=int, default=None, help="env steps per run of the study")
    parser.add_argument("--eval-interval", type=int, default=None)
    parser.add_argument("--prefill", type=int, default=None, help="0: 4 x seq_len")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--eval-episodes", type=int, default=None)
    parser.add_argument("--episode-length", type=int, default=None, help="0: the suite's default")
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--projection-seeds", type=int, default=None, help="0: the study's; the projection "
                        "scales linearly to 3 seeds (vmapping gives no speedup on a saturated CPU)")
    parser.add_argument("--projection-preset", default=None)
    parser.add_argument("--projection-batch-size", type=int, default=None)
    parser.add_argument("--projection-seq-len", type=int, default=None)
    parser.add_argument("--projection-chunk-env-steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None, help="timed chunks per steady-state measurement")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--paper-episode-length", type=int, default=None, help="eval episode length to project to")
    parser.add_argument("--run-dir", default=None, help="keep the study here instead of a temporary folder")
    args = parser.parse_args(argv)
    settings = harness.settings_from(args, QUICK, FULL)
    with tempfile.TemporaryDirectory(prefix="study_throughput-") as tmp:
        run_dir = pathlib.Path(args.run_dir) if args.run_dir else pathlib.Path(tmp) / "study"
        study, final_states, study_result = run_study(settings, run_dir)
        measured = steady_state(settings, study, final_states)
    projection = project(measured, settings["paper_episode_length"], jax.default_backend())
    print_table(study_result, projection, measured)
    name = "study_throughput" + (f"-{args.label}" if args.label else "")
    payload = {"task": settings["task"], "preset": settings["preset"], "settings": settings, "study": study_result,
               "steady_state": measured, "projection": projection,
               "compilation_cache": harness.compilation_cache_dir()}  # fmt: skip
    path = save_result(name, payload, args.out_dir, quick=args.quick)
    print(f"saved {path}")
    return {"path": str(path), "study": study_result, "projection": projection}


if __name__ == "__main__":
    main()
