"""Small synthetic metric rows and episode traces shared by the analysis tests."""

from __future__ import annotations

import numpy as np


def two_task_rows() -> dict[str, list[dict]]:
    """Two tasks, Active and Passive, seeds 0 and 1, eval at env_steps 0 and 10 (values chosen by hand).

    Task a: Active means 1 and 20 (best), Passive means 0 and 6 -> range (0, 20).
    Task b: Active means 100 and 300 (best), Passive means 0 and 150 -> range (0, 300).
    """
    scores = {
        "a": {("active", 0): (0, 10), ("active", 1): (2, 30), ("passive", 0): (0, 4), ("passive", 1): (0, 8)},
        "b": {("active", 0): (100, 200), ("active", 1): (100, 400), ("passive", 0): (0, 150), ("passive", 1): (0, 150)},
    }
    ood = {"a": 0.2, "b": 0.6}
    return {
        task: [
            {"agent": agent, "seed": seed, "env_steps": steps, "score": value, "ood_ratio": ood[task] * (1 + seed)}
            for (agent, seed), values in by_run.items()
            for steps, value in zip((0, 10), values)
        ]
        for task, by_run in scores.items()
    }


def random_rows(seed: int = 0, num_seeds: int = 3, steps=(0, 5000, 10000, 15000)) -> list[dict]:
    """Rows of three agents with random metrics; Active has no self_generated_pct, passive_auto has it."""
    rng = np.random.default_rng(seed)
    rows = []
    for agent, label in (("active", None), ("passive", None), ("passive_auto", "passive_auto (ood_threshold=1.35)")):
        for s in range(num_seeds):
            for k, env_steps in enumerate(steps):
                row = {"agent": agent, "seed": s, "env_steps": env_steps, "score": float(rng.uniform(0, 100)) + 10 * k,
                       "eval_wm_loss": float(rng.uniform(1, 3)), "value_error": float(rng.normal())}
                if label:
                    row.update(label=label, hparam="ood_threshold", hparam_value=1.35,
                               self_generated_pct=float(rng.uniform(0, 10)))
                rows.append(row)
    return rows


def maze_trace(positions: np.ndarray, wm_loss: np.ndarray, valid=None, frames: bool = False, seed: int = 0) -> dict:
    """An episode trace over given maze positions; the reward rises linearly (its values do not matter)."""
    steps = len(positions)
    trace = {
        "reward": np.linspace(0.0, 1.0, steps),
        "wm_loss": np.asarray(wm_loss, float),
        "policy_input_loss": np.asarray(wm_loss, float) / 2,
        "valid": np.ones(steps, bool) if valid is None else np.asarray(valid, bool),
        "position": np.asarray(positions, float),
    }
    if frames:
        rng = np.random.default_rng(seed)
        trace["obs"] = rng.integers(0, 256, (steps, 8, 8, 3), dtype=np.uint8)
        trace["decoded"] = rng.integers(0, 256, (steps, 8, 8, 3), dtype=np.uint8)
    return trace


# --- fake study directories: what the engine saves, with made-up numbers, for rendering without training ---

FRAME_TASKS = ("minatar/",)  # tasks whose traces carry image frames (obs and decoded, uint8)
TRACE_STEPS = 40


def study_rows(config) -> list[dict]:
    """The metric rows a study with `config` writes (agents, labels, seeds, hparams and eval points as the
    engine's), with smooth made-up values that differ between curves, seeds and steps."""
    from offon_jit.engine.runs import phase_runs, run_label
    from offon_jit.engine.variants import VARIANTS

    rows = []
    step_loss = f"eval_{config.family.loss_name}_loss"  # eval_wm_loss, or a model-free family's eval_td_loss
    for k, agent in enumerate(config.agents):
        variant = VARIANTS[agent]
        for run in phase_runs(config, variant):
            value = float(run.hparam_value or 0.0)
            for steps in range(0, config.env_steps + 1, config.eval_interval):
                f = steps / config.env_steps
                ood = 0.9 + 0.15 * k * f + 0.03 * run.seed + 0.01 * (steps // config.eval_interval % 3)
                row = {"agent": agent, "label": run_label(config, variant, run), "seed": run.seed,
                       "expl_weight": run.expl_weight, "env_steps": steps,
                       "score": 5.0 + 25.0 * f ** (1 + 0.2 * k) + run.seed + 0.1 * value % 1 + run.expl_weight,
                       step_loss: 3.0 - 2.0 * f + 0.1 * k + 0.05 * run.seed, "ood_ratio": ood,
                       "value_error": 0.5 - 0.3 * f + 0.1 * k, "policy_input_loss": 1.0 - 0.5 * f,
                       "offline_disag_ratio": np.exp(ood), "offline_kl_ratio": 2.0 - ood + 0.02 * k,
                       "offline_value_gap": 0.1 * k + f, "train_expl_weight_eff": run.expl_weight * (1 - f / 2)}
                if variant.hparam:
                    row.update(hparam=variant.hparam_name, hparam_value=run.hparam_value)
                if variant.interaction:
                    row["self_generated_pct"] = 10.0 * f * (1 + k / 4)
                rows.append(row)
    return rows


def study_trace(task: str, seed: int = 0) -> dict:
    """A final test episode of `task`: maze-like positions in a 4-d proprio obs, or image frames."""
    rng = np.random.default_rng(seed)
    steps = TRACE_STEPS
    trace = {"reward": np.linspace(0.0, 1.0, steps), "wm_loss": 1.0 + rng.uniform(0, 1, steps),
             "valid": np.arange(steps) < steps - 5}
    if task.startswith(FRAME_TASKS):
        trace["obs"] = rng.integers(0, 2, (steps, 10, 10, 4), dtype=np.uint8)
        trace["decoded"] = rng.integers(0, 2, (steps, 10, 10, 4), dtype=np.uint8)
    else:
        path = np.linspace([-0.25, 0.25], [0.25, -0.25], steps)
        trace["obs"] = np.concatenate([path, np.zeros((steps, 2))], axis=1).astype(np.float32)
        trace["decoded"] = trace["obs"] + 0.01
    return trace


def study_buffer(seed: int = 0, steps: int = 300):
    """One run's replay buffer of 4-d proprio observations whose (x, y) scatter along the maze's diagonal."""
    from offon_jit.replay.buffer import ReplayBuffer

    rng = np.random.default_rng(seed)  # around the traces' diagonal path, so their cells have visits
    xy = np.clip(np.linspace([-0.3, 0.3], [0.3, -0.3], steps) + rng.normal(0, 0.05, (steps, 2)), -0.35, 0.35)
    obs = np.concatenate([xy, np.zeros((steps, 2))], axis=1).astype(np.float32)[None]
    return ReplayBuffer(data={"obs": obs}, num_added=np.int32(steps), num_stored=np.int32(steps), num_envs=1,
                        steps_per_env=steps)


def fake_study(run_dir, config) -> None:
    """Fill `run_dir` as a finished study with `config` would: config.json, metrics, the first seed's traces
    of the base agents, and the Active buffers (vector-observation tasks)."""
    import pathlib

    from offon_jit.engine.runs import base_runs, base_tag, run_file_name
    from offon_jit.engine.variants import BASE_AGENTS, VARIANTS
    from offon_jit.layout import RunLayout
    from offon_jit.metrics_log import write_rows
    from offon_jit.replay.storage import save_buffer

    layout = RunLayout(pathlib.Path(run_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.config.write_text(config.to_json())
    write_rows(layout.root, study_rows(config))
    first = base_runs(config)[0]
    for agent in (a for a in config.agents if a in BASE_AGENTS):
        path = layout.trace(run_file_name(config, VARIANTS[agent], first))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **study_trace(config.task, first.seed))
    if "active" in config.agents and not config.task.startswith(FRAME_TASKS):
        for run in (r for r in base_runs(config) if r.seed == first.seed):  # what Figs. 2 and 5 read
            path = layout.active_buffer(base_tag(config, run.seed, run.expl_weight))
            path.parent.mkdir(parents=True, exist_ok=True)
            save_buffer(study_buffer(run.seed), path, overwrite=True)
