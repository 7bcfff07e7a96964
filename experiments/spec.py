"""Declarative experiment types: which studies a figure needs, at which scale, and how it is drawn."""

from __future__ import annotations

import dataclasses

from offon_jit.config import RunConfig

# The paper's protocol (Sec. 3, App. A.1), a CPU smoke version that keeps every mechanism,
# and "cpu": the smoke tasks trained long enough on a CPU for agents to learn (tens of minutes).
SCALE_SETTINGS = {
    "paper": dict(preset="s", num_seeds=3, env_steps=1_000_000, batch_size=16, seq_len=64, eval_interval=5_000,
                  eval_episodes=4, prefill=5_000, burst_steps=2_000, checkpoint_every=10, record_traces=True),
    "smoke": dict(preset="tiny", num_seeds=2, env_steps=800, batch_size=4, seq_len=16, eval_interval=200,
                  eval_episodes=2, prefill=128, burst_steps=64, episode_length=50, checkpoint_every=0,
                  disag_models=4, record_traces=True),
    "cpu": dict(preset="tiny", num_seeds=2, env_steps=4_000, batch_size=8, seq_len=32, eval_interval=500,
                eval_episodes=4, prefill=512, burst_steps=256, checkpoint_every=2, disag_models=8,
                record_traces=True),
}
SCALES = tuple(SCALE_SETTINGS)


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """One `Study` per task: its agents and the RunConfig fields it sets (hyperparameter axes included)."""

    name: str
    agents: tuple[str, ...]
    settings: tuple[tuple[str, object], ...] = ()
    scale_settings: tuple[tuple[str, tuple], ...] = ()  # (scale, settings) replacing `settings` there

    def config(self, task: str, scale: str, out_dir: str) -> RunConfig:
        settings = {**SCALE_SETTINGS[scale], **dict(self.settings), **dict(dict(self.scale_settings).get(scale, ()))}
        return RunConfig(task=task, agents=self.agents, out_dir=out_dir, **settings)


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    title: str  # the paper's figure or table it regenerates
    tasks: dict  # scale -> tasks
    studies: tuple[StudySpec, ...]
    render: str  # renderer in experiments/render.py
    metrics: tuple[str, ...] = ("score", "eval_wm_loss")
    baseline: str | None = None  # label whose final score is drawn as a dashed line
    options: tuple[tuple[str, object], ...] = ()  # renderer options

    def tasks_for(self, scale: str) -> tuple[str, ...]:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose from {SCALES}")
        return tuple(self.tasks.get(scale, self.tasks["smoke"]))  # cpu: the smoke tasks, trained longer
