"""Time the official DreamerV3 release inside its own venv (never imports offon_jit).

    <peer-venv>/bin/python benchmarks/peer/run_peer.py SETTINGS.json RESULT.json

The peer's own training loop (`embodied.run.train`: replay, driver, train-ratio
scheduler, prefetching data loaders, logging and checkpoints) runs unmodified; this
script only builds its inputs and wraps two methods to record timestamps:

* the batched env's `step`: one mark per call (num_envs agent steps), and a budget
  stop (an exception) once the requested number of training-loop steps is reached;
* the agent's `train`: counts updates.

The training loop starts at the first `agent.train` call (the loop's single
"pretrain" update right after the random fill). Its first `warmup_segments` segments
of `segment_steps` agent steps hold every compile (train, policy, report) and are
dropped; the following `segments` segments are the raw repeats.

The helpers at the top are plain Python so the main venv's tests can import them.
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

PEER_PACKAGE = "dreamerv3"


class BudgetReached(Exception):
    """Raised from the env wrapper to leave the peer's endless training loop."""


# -- plain-Python helpers (importable without the peer) ---------------------------------


def segment_throughput(marks: list[tuple[float, int, int]], start_steps: int, segment_steps: int,
                       warmup_segments: int, segments: int) -> list[dict]:
    """Throughput of consecutive training-loop segments from (time, env_steps, updates) marks.

    `marks` are taken at every batched env step, in order; `start_steps` is the env-step
    count when the training loop began. Segment k spans loop steps
    [(warmup + k) * segment_steps, (warmup + k + 1) * segment_steps); each boundary is the
    first mark at or past it. Returns one dict per timed segment.
    """
    if segment_steps < 1 or segments < 1 or warmup_segments < 0:
        raise ValueError(f"need segment_steps >= 1, segments >= 1, warmup_segments >= 0; got "
                         f"{segment_steps}, {segments}, {warmup_segments}")
    boundaries = [start_steps + (warmup_segments + k) * segment_steps for k in range(segments + 1)]
    found, index = [], 0
    for boundary in boundaries:
        while index < len(marks) and marks[index][1] < boundary:
            index += 1
        if index == len(marks):
            raise ValueError(f"the run ended at {marks[-1][1] if marks else 0} env steps, before the "
                             f"segment boundary {boundary}")
        found.append(marks[index])
    rows = []
    for (t0, s0, u0), (t1, s1, u1) in itertools.pairwise(found):
        seconds = t1 - t0
        rows.append({"seconds": seconds, "env_steps": s1 - s0, "updates": u1 - u0,
                     "env_steps_per_s": (s1 - s0) / seconds, "updates_per_s": (u1 - u0) / seconds})
    return rows


def peer_config_updates(settings: dict) -> dict:
    """Flat updates to the peer's `defaults` + `dmc_proprio` configs for these settings.

    Sizes name every network explicitly: v1's size patterns (`.*\\.units`, `.*\\.layers`)
    miss the encoder's and decoder's `mlp_units` / `mlp_layers`, which would otherwise stay
    at 1024 x 5 for every size.
    """
    size = settings["size"]
    updates = {
        "task": f"dmc_{settings['task']}",
        "seed": settings["seed"],
        "jax.platform": settings["platform"],
        "jax.precision": settings["precision"],
        "envs.amount": settings["num_envs"],
        "envs.parallel": settings["env_parallel"],
        "batch_size": settings["batch_size"],
        "batch_length": settings["seq_len"],
        "run.train_ratio": float(settings["batch_size"] * settings["seq_len"] / settings["train_every"]),
        "run.steps": 1e12,  # the budget stop ends the run
        "rssm.deter": size["deter"],
        "rssm.units": size["units"],
        "rssm.stoch": size["stoch"],
        "rssm.classes": size["classes"],
    }
    for net in ("encoder", "decoder"):
        # Our vector MLPs: v1's 5x1024 from size s up (config.vector_mlp_*), the preset's below.
        updates[f"{net}.mlp_units"] = size.get("vector_mlp_units") or size["units"]
        updates[f"{net}.mlp_layers"] = size.get("vector_mlp_layers") or size["layers"]
        updates[f"{net}.cnn_depth"] = size["cnn_depth"]
    for net in ("reward_head", "cont_head", "actor", "critic", "disag_head"):
        updates[f"{net}.units"] = size["units"]
        updates[f"{net}.layers"] = size["layers"]
    return updates


# -- inside the peer venv ------------------------------------------------------------------


def apply_runtime_patches() -> list[str]:
    """Make the peer's dependencies import against the pinned, newer JAX. Returns descriptions."""
    import jax
    import jax.interpreters.xla as jax_xla
    from jax._src import core as jax_core

    patches = []
    if not hasattr(jax_xla, "pytype_aval_mappings"):
        # TFP 0.25's JAX substrate registers its Variable type in this table at import;
        # JAX moved it to jax._src.core (same dict the public jax.core alias used to expose).
        jax_xla.pytype_aval_mappings = jax_core.pytype_aval_mappings
        patches.append("jax.interpreters.xla.pytype_aval_mappings = jax._src.core.pytype_aval_mappings "
                       "(TFP 0.25 JAX substrate import)")
    if not hasattr(jax.core, "pytype_aval_mappings"):
        jax.core.pytype_aval_mappings = jax_core.pytype_aval_mappings
        patches.append("jax.core.pytype_aval_mappings = jax._src.core.pytype_aval_mappings "
                       "(TFP 0.25 JAX substrate import)")
    if hasattr(jax.core.Tracer, "delete"):
        patches.append(_patch_ninjax_prerun())
    return patches


def _patch_ninjax_prerun() -> str:
    """ninjax._prerun frees the outputs of its shape-only pre-run with `x.delete()` wherever
    `hasattr(x, 'delete')`. JAX tracers had no `delete` in 2023, so inside `jit` nothing was
    freed; today's tracers have one that raises. The replacement skips tracers, which is
    what the original did under the JAX it was written for."""
    import jax
    from dreamerv3 import ninjax

    @jax.named_scope("_prerun")
    def _prerun(fun, *args, **kwargs):
        if not ninjax.context().create:
            return
        discarded, state = fun(dict(ninjax.context()), ninjax.rng(), *args, ignore=True, **kwargs)
        jax.tree_util.tree_map(
            lambda x: isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer) and x.delete(), discarded)
        ninjax.context().update(state)

    ninjax._prerun = _prerun
    return ("dreamerv3.ninjax._prerun: skip JAX tracers when deleting the pre-run's discarded outputs "
            "(2023 tracers had no .delete(); today's raise), concrete arrays are still deleted")


def _count_by_module(varibs: dict) -> dict:
    """Peer parameter counts per module from ninjax's flat variable names ('agent/wm/enc/...').

    The slow critic ('.../critic/slow/') and the return normaliser are left out, as in ours."""
    import numpy as np

    groups = {"encoder": "agent/wm/enc/", "rssm": "agent/wm/rssm/", "decoder": "agent/wm/dec/",
              "reward": "agent/wm/rew/", "continue": "agent/wm/cont/",
              "actor": "agent/task_behavior/ac/actor/", "critic": "agent/task_behavior/critic/net/"}
    counts = {name: 0 for name in groups}
    for key, value in varibs.items():
        if "_opt/" in key:  # optimiser states (model_opt/, actor_opt/, critic_opt/)
            continue
        for name, prefix in groups.items():
            if key.startswith(prefix):
                counts[name] += int(np.prod(np.shape(value)))
    return counts


def run(settings: dict) -> dict:
    os.environ.setdefault("MUJOCO_GL", "egl")
    if settings.get("compile_cache"):
        import jax

        jax.config.update("jax_compilation_cache_dir", settings["compile_cache"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    patches = apply_runtime_patches()
    from importlib import metadata

    import dreamerv3
    from dreamerv3 import embodied, jaxutils
    from dreamerv3 import train as peer_train

    config = embodied.Config(dreamerv3.configs["defaults"]).update(dreamerv3.configs["dmc_proprio"])
    config = config.update(peer_config_updates(settings))
    if not settings["render"]:
        # DMC(render=...) is the wrapper's own argument; v1 renders a 64x64 frame at every
        # step even for proprio runs, where the encoder never reads it.
        nested = dict(config)
        nested["env"] = {**nested["env"], "dmc": {**nested["env"]["dmc"], "render": False}}
        config = embodied.Config(nested)
    logdir = pathlib.Path(settings["logdir"])
    segment_steps, warmup, segments = settings["segment_steps"], settings["warmup_segments"], settings["segments"]
    batch_steps = config.batch_size * config.batch_length
    args = config.run.update(batch_steps=batch_steps, logdir=str(logdir))

    step = embodied.Counter()
    multiplier = config.env.dmc.repeat
    logger = embodied.Logger(step, [
        embodied.logger.JSONLOutput(str(logdir), "metrics.jsonl"),
        embodied.logger.JSONLOutput(str(logdir), "scores.jsonl", "episode/score"),
    ], multiplier)
    replay = peer_train.make_replay(config, embodied.Path(str(logdir)) / "replay")
    env = peer_train.make_envs(config, "train")
    agent = dreamerv3.Agent(env.obs_space, env.act_space, step, config)

    marks: list[tuple[float, int, int]] = []
    counts = {"env_steps": 0, "updates": 0, "loop_start_steps": None, "loop_start_time": None}
    budget = None  # loop env steps to run, set at the first update

    env_step, agent_train = env.step, agent.train

    def timed_env_step(action):
        if budget is not None and counts["env_steps"] - counts["loop_start_steps"] >= budget:
            raise BudgetReached
        obs = env_step(action)
        counts["env_steps"] += len(env)
        marks.append((time.perf_counter(), counts["env_steps"], counts["updates"]))
        return obs

    def timed_train(*a, **k):
        nonlocal budget
        if counts["loop_start_steps"] is None:
            counts["loop_start_steps"] = counts["env_steps"]
            counts["loop_start_time"] = time.perf_counter()
            budget = (warmup + segments) * segment_steps
        out = agent_train(*a, **k)
        counts["updates"] += 1
        return out

    env.step, agent.train = timed_env_step, timed_train
    start = time.perf_counter()
    try:
        embodied.run.train(agent, env, replay, logger, args)
    except BudgetReached:
        pass
    finally:
        env.close()
    wall = time.perf_counter() - start
    rows = segment_throughput(marks, counts["loop_start_steps"], segment_steps, warmup, segments)
    params = {name.split("/")[-1]: int(count) for name, count in jaxutils.Optimizer.PARAM_COUNTS.items() if count}
    versions = {}
    for dist in ("dreamerv3", "jax", "jaxlib", "numpy", "tensorflow-probability", "optax", "dm-control", "mujoco"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "status": "ran",
        "name": "DreamerV3 (official release, danijar/dreamerv3)",
        "package": PEER_PACKAGE,
        "version": versions["dreamerv3"],
        "versions": versions,
        "python": sys.version.split()[0],
        "runtime_patches": patches,
        "config_updates": peer_config_updates(settings),
        "render": settings["render"],
        "env_parallel": settings["env_parallel"],
        "param_counts_optimised": params,
        "param_counts": {**_count_by_module(agent.varibs),
                         "total": int(sum(params.get(k, 0) for k in ("model_opt", "actor_opt", "critic_opt")))},
        "train_ratio": float(config.run.train_ratio),
        "batch_steps": batch_steps,
        "random_fill_steps": counts["loop_start_steps"],
        "warmup_s": _time_at(marks, counts["loop_start_steps"] + warmup * segment_steps) - counts["loop_start_time"],
        "total_updates": counts["updates"],
        "total_env_steps": counts["env_steps"],
        "wall_s": wall,
        "segments": rows,
        "logdir": str(logdir),
    }


def _time_at(marks, steps: int) -> float:
    return next(t for t, s, _ in marks if s >= steps)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    settings = json.loads(pathlib.Path(argv[0]).read_text())
    if settings.get("logdir"):
        result = run(settings)
    else:  # the peer writes replay chunks, metrics and a checkpoint: keep them out of the way
        with tempfile.TemporaryDirectory(prefix="peer-dreamerv3-") as logdir:
            result = run({**settings, "logdir": logdir})
        result.pop("logdir")
    pathlib.Path(argv[1]).write_text(json.dumps(result, indent=2))
    ups = statistics.median(r["updates_per_s"] for r in result["segments"])
    print(f"peer: median {ups:.3f} updates/s over {len(result['segments'])} segments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
