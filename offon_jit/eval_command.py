"""`offon-jit eval`: a saved agent's score and world-model loss on its task, and a video of one episode.

    offon-jit eval RUN_DIR --agent NAME [--seed N] [--episodes K] [--eval-seed S] [--video FILE.mp4|.gif]

The agent comes from the run's agents/ folder (saved_agents.py); the episodes run on the run's own
task settings (its config.json) through the study's simulator, JAX-native or host, and its
evaluation functions (engine/evaluate.py). Without --eval-seed the episodes use the key of the
study's last evaluation of that agent, so with the run's eval_episodes the printed score and
eval_wm_loss are those of the agent's last row in metrics.jsonl. Printed: one JSON line with the
metrics that need no replay data (score, its std and per episode, episode length, world-model
loss and its terms on the eval episodes, value error, policy-input loss). The video shows the
first episode: the observed frames and, beside them, the world model's reconstruction of each
(its decoder on the posterior latent), for tasks with image observations.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from functools import partial

import numpy as np

DEFAULT_FPS = 15.0


def add_eval_parser(subcommands) -> None:
    parser = subcommands.add_parser(
        "eval", help="evaluate a run's saved agent (score, world-model loss) and optionally film one episode")
    parser.add_argument("run_dir", type=pathlib.Path, help="a run directory (offon-jit run --out-dir)")
    parser.add_argument("--agent", required=True,
                        help="the saved agent: a variant (active, passive, tandem, ...), a variant with its swept "
                             "value (passive_fixed_fixed_interval500) or a full file stem (agents/STEM.json)")
    parser.add_argument("--seed", type=int, default=None, help="the agent's seed (default: the lowest one saved)")
    parser.add_argument("--episodes", type=int, default=None, help="eval episodes (default: the run's eval_episodes)")
    parser.add_argument("--eval-seed", type=int, default=None,
                        help="draw the episodes from this seed (default: the key of the study's last evaluation "
                             "of the agent, which reproduces its last metrics row)")
    parser.add_argument("--video", type=pathlib.Path, default=None, metavar="FILE.mp4|FILE.gif",
                        help="write the first episode as a video: observed frames beside the world model's decoded "
                             "frames (tasks with image observations)")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"video frame rate (default: {DEFAULT_FPS:g})")
    parser.set_defaults(handler=eval_main)


# -- evaluation: the study's functions on one run ------------------------------------------------------
def episode_metrics(agent_state, rows, valid, metrics_key) -> dict:
    """The study's metrics that need no replay buffer (`evaluate.episode_metrics`, with `trajectory_metrics`'
    key split), plus per-episode scores and lengths."""
    from jax import numpy as jnp, random

    from offon_jit.engine import evaluate as evaluate_lib

    eval_loss_key, _ = random.split(metrics_key)  # trajectory_metrics' split: (eval episodes, replay batches)
    metrics = evaluate_lib.episode_metrics(agent_state, rows, valid, eval_loss_key)
    metrics.update(scores=jnp.where(valid, rows["reward"], 0.0).sum(axis=1), episode_lengths=valid.sum(axis=1) - 1)
    return metrics


def _measure(agent_state, rows, valid, metrics_key):
    """(metrics, trace of the first episode) from recorded eval episodes. The trace (engine/evaluate.py:
    observed and decoded frames, per-step reward and world-model loss) is one world-model pass over one
    episode, cheap beside the rollout, so one compiled program serves runs with and without a video."""
    from jax import random

    from offon_jit.engine import evaluate as evaluate_lib

    metrics = episode_metrics(agent_state, rows, valid, metrics_key)
    return metrics, evaluate_lib.trace_from_rows(agent_state, rows, valid, random.split(metrics_key)[0])


def _jax_episodes(agent_state, key, *, env, episodes: int, eval_policy: str):
    from jax import random

    from offon_jit.engine import evaluate as evaluate_lib

    roll_key, metrics_key = random.split(key)  # evaluate.evaluate's split
    rows, valid = evaluate_lib.rollout_episodes(agent_state, env, roll_key, episodes, eval_policy)
    return _measure(agent_state, rows, valid, metrics_key)


def run_episodes(simulator, agent_state, key, *, episodes: int, eval_policy: str):
    """Evaluate one agent (no run axis) with one key (2,) on the study's simulator, as the study's
    evaluation of a run does: one run placed as the study places runs. Returns (metrics, trace) as numpy."""
    import jax

    from offon_jit.engine.placement import make_placement
    from offon_jit.engine.programs import uses_host_simulator

    placement = make_placement(1)
    agents = jax.tree_util.tree_map(lambda x: x[None], agent_state)
    keys = np.asarray(key)[None]
    if not uses_host_simulator(simulator.config):  # JAX-native: the rollout runs inside the program
        program = placement.map(partial(_jax_episodes, env=simulator.eval_env, episodes=episodes,
                                        eval_policy=eval_policy))
        out = program(agents, keys)
    else:  # host simulator: its own rollout, then the measurements in a program (as its evaluator does)
        roll_keys, metric_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
        rows, valid = simulator._rollout(agents, roll_keys)
        out = placement.map(_measure)(agents, rows, valid, metric_keys)
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[0], placement.to_local(out))


# -- the command --------------------------------------------------------------------------------------
class EvalInputError(ValueError):
    """Bad input to `offon-jit eval`: the message is the whole story."""


def read_run_config(run_dir: pathlib.Path):
    from offon_jit.config import ConfigError, RunConfig
    from offon_jit.layout import RunLayout

    if not run_dir.is_dir():
        raise EvalInputError(f"no run directory at {run_dir}")
    layout = RunLayout(run_dir)
    if not layout.config.exists():
        raise EvalInputError(f"{run_dir} is not a run directory: it has no {layout.config.name}")
    try:
        return RunConfig.from_json(layout.config.read_text())
    except (ConfigError, ValueError, TypeError) as error:
        raise EvalInputError(f"{layout.config}: {error}") from None


def evaluation_key(config, manifest: dict, eval_seed: int | None) -> tuple[np.ndarray, str]:
    """The episodes' key (2,) and how it was chosen: the study's last evaluation of this run, or --eval-seed."""
    import jax

    from offon_jit.engine.phases import Phase
    from offon_jit.engine.programs import eval_keys, eval_point
    from offon_jit.engine.runs import RunId

    if eval_seed is not None:
        return np.asarray(jax.random.PRNGKey(eval_seed)), f"eval_seed {eval_seed}"
    agent = manifest["agent"]
    run = RunId(**manifest["run"])
    point = eval_point(config.num_chunks - 1)
    key = eval_keys(Phase(agent, (agent,), (run,)), point, agent)[0]
    return key, f"the study's last evaluation (env step {config.env_steps})"


def _video_refusal(config, spec) -> str | None:
    import envs

    if spec.is_image:
        return None
    twin = config.task.replace("-proprio", "-vision")
    hint = f"; its image twin {twin} can" if twin != config.task and twin in envs.TASKS else ""
    return f"--video: {config.task} has vector observations, and frames of it cannot be rendered{hint}"


def _checked_video(video, fps: float):
    from offon_jit import video as video_lib

    if video is None:
        return None
    try:
        video = video_lib.check_video_path(video)
    except ValueError as error:
        raise EvalInputError(str(error)) from None
    if fps <= 0:
        raise EvalInputError(f"--fps must be > 0, got {fps}")
    return video


def evaluate_saved_agent(run_dir, agent: str, seed: int | None = None, episodes: int | None = None,
                         eval_seed: int | None = None, video=None, fps: float = DEFAULT_FPS) -> dict:
    """Load, evaluate and (with `video`) film a saved agent; returns the printed result. Every input is
    checked before the episodes run, and nothing but the video is written."""
    from offon_jit import saved_agents, video as video_lib
    from offon_jit.engine.programs import make_simulator, uses_host_simulator
    from offon_jit.layout import RunLayout

    run_dir = pathlib.Path(run_dir)
    video = _checked_video(video, fps)
    if episodes is not None and episodes < 1:
        raise EvalInputError(f"--episodes must be >= 1, got {episodes}")
    config = read_run_config(run_dir)
    layout = RunLayout(run_dir)
    loaded = saved_agents.read_agent(layout, saved_agents.find_manifest(layout, agent, seed))
    manifest, stem = loaded.manifest, loaded.manifest["stem"]
    if manifest["task"] != config.task:
        raise EvalInputError(f"{stem} was trained on {manifest['task']}, but {run_dir} runs {config.task}")
    if video is not None and (refusal := _video_refusal(config, loaded.spec)):
        raise EvalInputError(refusal)
    episodes = episodes or config.eval_episodes
    key, key_source = evaluation_key(config, manifest, eval_seed)
    simulator = make_simulator(config.replace(eval_episodes=episodes))
    try:
        if simulator.spec != loaded.spec:
            raise EvalInputError(f"{stem} was saved for the spec {loaded.spec}, but {config.task} now gives "
                                 f"{simulator.spec}")
        metrics, trace = run_episodes(simulator, loaded.agent, key, episodes=episodes, eval_policy=config.eval_policy)
    finally:
        simulator.close()
    result = {"run_dir": str(run_dir), "agent": stem, "label": manifest["label"], "task": config.task,
              "backend": "host" if uses_host_simulator(config) else "jax", "seed": manifest["run"]["seed"],
              "episodes": episodes, "key": key_source, "eval_policy": config.eval_policy}
    result.update({k: (v.tolist() if np.ndim(v) else float(v)) for k, v in metrics.items()})
    if video is not None:
        shown = trace["valid"]  # the first episode's steps up to and including its last
        panels = {"environment": trace["obs"][shown]}
        if "decoded" in trace:  # DreamerV3's world model beside it; model-free agents have none
            panels["world model (decoded)"] = trace["decoded"][shown]
        frames = video_lib.side_by_side(panels)
        result["video"] = str(video_lib.write_video(video, frames, fps))
        result["video_frames"] = int(shown.sum())
    return result


def eval_main(args: argparse.Namespace) -> int:
    from offon_jit.config import ConfigError
    from offon_jit.saved_agents import SavedAgentError

    try:
        result = evaluate_saved_agent(args.run_dir, args.agent, args.seed, args.episodes, args.eval_seed,
                                      args.video, args.fps)
    except (EvalInputError, SavedAgentError, ConfigError) as error:
        print(f"offon-jit eval: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0
