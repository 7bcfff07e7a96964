"""Checks made before a study writes anything: its out dir, a resume's saved config, an earlier Active run.

Every refusal is a ConfigError naming the problem, raised while the run directory (and any run it
refers to) is still exactly as it was: nothing is created, rewritten or deleted here.
"""

from __future__ import annotations

import json
import os
import pathlib

from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine.runs import base_runs
from offon_jit.engine.variants import VARIANTS
from offon_jit.layout import RunLayout

# The settings an offline agent's data depends on: an earlier Active run must have been run with the same.
ACTIVE_DATA_FIELDS = ("task", "num_seeds", "seed", "env_steps", "num_envs", "train_every", "batch_size", "seq_len",
                      "prefill", "replay_capacity", "eval_interval", "episode_length", "sticky_prob", "frame_size",
                      "expl_weights")


def check_out_dir(layout: RunLayout, resume: bool) -> None:
    """A new run needs an empty (or absent) directory it can create; a resume needs a run's directory."""
    root = layout.root
    if root.exists() and not root.is_dir():
        raise ConfigError(f"out_dir {root} is a file, not a directory")
    if resume:
        if not layout.config.exists():
            raise ConfigError(f"--resume: {root} holds no run (no {layout.config.name}); start it without --resume")
        return
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"out_dir {root} is not empty: pass --resume to continue the run in it, "
                          "or choose another --out-dir")
    ancestor = root
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"out_dir {root} cannot be created: {ancestor} is not a writable directory")


def saved_config(layout: RunLayout) -> RunConfig:
    """The RunConfig a run directory was started with (its config.json)."""
    try:
        return RunConfig.from_json(layout.config.read_text())
    except (OSError, json.JSONDecodeError, ConfigError) as error:
        raise ConfigError(f"{layout.config} is not a readable run config: {error}") from None


def check_resume_config(saved: RunConfig, config: RunConfig, layout: RunLayout) -> None:
    """A resumed run continues with exactly the settings it started with (it may have moved: out_dir is free)."""
    differences = saved.differences(config.replace(out_dir=saved.out_dir))
    if differences:
        raise ConfigError(f"--resume: {layout.config} was run with other settings ({'; '.join(differences)}); "
                          "resume without those flags, or start a new run in another --out-dir")


def check_active_run(config: RunConfig) -> None:
    """An earlier Active run must be finished and have produced the data this config's agents expect."""
    source = RunLayout(pathlib.Path(config.active_run))
    if not source.root.is_dir():
        raise ConfigError(f"active_run {source.root} is not a directory")
    if not source.config.exists():
        raise ConfigError(f"active_run {source.root} is not a run directory (no {source.config.name})")
    active = saved_config(source)
    if "active" not in active.agents:
        raise ConfigError(f"active_run {source.root} trained no Active agent (agents {','.join(active.agents)})")
    differences = active.differences(config, ACTIVE_DATA_FIELDS)
    if differences:
        raise ConfigError(f"active_run {source.root} does not match this run: {'; '.join(differences)} "
                          "(Active's value -> this run's)")
    tags = [run.tag(config) for run in base_runs(config)]
    missing = [tag for tag in tags if not source.active_buffer(tag).exists()]
    if missing:
        raise ConfigError(f"active_run {source.root} has not finished its Active phase: no final buffer for "
                          f"{', '.join(missing)}")
    if any(VARIANTS[a].batches == "replay" for a in config.agents):
        short = [tag for tag in tags if len(source.batch_index_files(tag)) < config.num_chunks]
        if short:
            raise ConfigError(f"active_run {source.root}: the batch-index log of {', '.join(short)} has fewer than "
                              f"{config.num_chunks} chunks")


def check_wandb(settings: dict) -> None:
    """W&B logging that was asked for must be possible (wandb installed, settings known) before the run starts."""
    from offon_jit import wandb_log

    try:
        wandb_log.check_settings(settings)
        wandb_log.import_wandb()
    except ValueError as error:
        raise ConfigError(str(error)) from None
