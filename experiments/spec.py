"""Declarative experiment types: which studies a figure needs, at which scale, and how it is drawn."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Mapping

from offon_jit.config import RunConfig

# The paper's protocol (Sec. 3, App. A.1), a CPU smoke version that keeps every mechanism,
# "cpu": the smoke tasks trained long enough on a CPU for agents to learn (tens of minutes), and
# "evidence": a task where online/offline differences can appear (catalog.EVIDENCE_TASK), 3 seeds,
# budgeted so the `evidence` experiment's two studies fit 45 minutes on a 2-core CPU (42 min measured;
# experiments/results/evidence-cpu-2cores/README.md states the choice and what the pilots showed).
SCALE_SETTINGS = {
    "paper": dict(preset="s", num_seeds=3, env_steps=1_000_000, batch_size=16, seq_len=64, eval_interval=5_000,
                  eval_episodes=4, prefill=5_000, burst_steps=2_000, checkpoint_every=10, record_traces=True),
    "smoke": dict(preset="tiny", num_seeds=2, env_steps=800, batch_size=4, seq_len=16, eval_interval=200,
                  eval_episodes=2, prefill=128, burst_steps=64, episode_length=50, checkpoint_every=0,
                  disag_models=4, record_traces=True),
    "cpu": dict(preset="tiny", num_seeds=2, env_steps=4_000, batch_size=8, seq_len=32, eval_interval=500,
                eval_episodes=4, prefill=512, burst_steps=256, checkpoint_every=2, disag_models=8,
                record_traces=True),
    "evidence": dict(preset="tiny", num_seeds=3, env_steps=6_000, batch_size=8, seq_len=16,
                     train_every=4, eval_interval=1_000, eval_episodes=4, prefill=500, burst_steps=256,
                     checkpoint_every=2, disag_models=8, record_traces=True),
}
# "evidence_long": the evidence scale with 4x the env steps, for the one study (Active, Passive, Tandem) that
# findings (a) and (b) need (the `evidence_ab` experiment: 35 minutes measured on a 2-core CPU).
SCALE_SETTINGS["evidence_long"] = {**SCALE_SETTINGS["evidence"], "env_steps": 24_000}
EVIDENCE_SCALES = ("evidence", "evidence_long")  # they run catalog.EVIDENCE_TASK where smoke runs SMOKE_TASK
SCALES = tuple(SCALE_SETTINGS)

# The normalised score's 0: a uniform-random policy's mean episode score per task, measured over this
# many episodes with this seed (and each study's episode length), once per setting, then cached in one
# JSON file shared by every scale and experiment under the output root (`random_scores_path`).
RANDOM_POLICY_EPISODES = 100
RANDOM_POLICY_SEED = 0
RANDOM_SCORES_FILE = "random_scores.json"
RANDOM_SCORES_ENV = "OFFON_JIT_RANDOM_SCORES"  # overrides the cache's path (e.g. one cache for several roots)


def random_scores_path(root: str | os.PathLike) -> pathlib.Path:
    """The random-policy score cache of an output root: $OFFON_JIT_RANDOM_SCORES if set, else
    root/random_scores.json."""
    override = os.environ.get(RANDOM_SCORES_ENV)
    return pathlib.Path(override) if override else pathlib.Path(root) / RANDOM_SCORES_FILE


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """One `Study` per task: its agents and the RunConfig fields it sets (hyperparameter axes included)."""

    name: str
    agents: tuple[str, ...]
    settings: tuple[tuple[str, object], ...] = ()
    scale_settings: tuple[tuple[str, tuple], ...] = ()  # (scale, settings) replacing `settings` there

    def config(self, task: str, scale: str, out_dir: str) -> RunConfig:
        """The scale's settings, then the study's. A scale's replay and model settings are DreamerV3's: a study of
        another family (its `algo` setting) takes that family's run defaults and "tiny" preset in their place."""
        own = {**dict(self.settings), **dict(dict(self.scale_settings).get(scale, ()))}
        scale_settings = dict(SCALE_SETTINGS[scale])
        algo = own.get("algo", RunConfig.algo)
        if algo != RunConfig.algo:
            from offon_jit.agents.family import family_named

            scale_settings.update({**family_named(algo).run_defaults, "preset": "tiny"})
        fields = {**scale_settings, **own, "task": task, "agents": self.agents, "out_dir": out_dir}
        return RunConfig.from_dict(fields)


def study_label(label: str, study: str) -> str:
    """A curve's label in a figure: its run label, suffixed with its study's name unless the study is the
    experiment's first (so curves of two studies never collide), e.g. "active [expl_data]"."""
    return f"{label} [{study}]"


CHEAP_SCALES = tuple(scale for scale in SCALES if scale != "paper")
LIST_LIMIT = 4  # a title names at most this many replaced tasks, else counts them


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One paper figure or table.

    `paper_tasks` are exactly the tasks the paper shows (`paper_source` quotes where it names
    them); `--scale paper` runs those and nothing else. A cheaper scale may run a stand-in in
    place of a paper task: `stand_ins[scale]` maps paper task -> task run instead (a paper task
    missing there runs itself; "cpu" uses the "smoke" map unless it has its own). Titles at a
    cheaper scale name every stand-in (`title_for`), generated from that map.
    """

    name: str
    title: str  # the paper's figure or table it regenerates, as drawn at paper scale
    paper_tasks: tuple[str, ...]
    studies: tuple[StudySpec, ...]
    render: str  # renderer in experiments/render.py
    stand_ins: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    paper_source: str = ""  # the paper's caption or sentence that names `paper_tasks`
    metrics: tuple[str, ...] = ("score", "eval_wm_loss")
    baseline: str | None = None  # label whose final score is drawn as a dashed line
    # The Active curve every table's t-test compares against and whose final score is the normalised score's 1.
    reference: str = "active"
    labels: tuple[str, ...] = ()  # the curves drawn (all when empty); a shared study may train more
    options: tuple[tuple[str, object], ...] = ()  # renderer options

    def __post_init__(self):
        object.__setattr__(self, "paper_tasks", tuple(self.paper_tasks))
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.paper_tasks or len(set(self.paper_tasks)) != len(self.paper_tasks):
            raise ValueError(f"{self.name}: paper_tasks must be non-empty and distinct, got {self.paper_tasks}")
        for scale, mapping in self.stand_ins.items():
            if scale not in CHEAP_SCALES:
                raise ValueError(f"{self.name}: stand-ins for scale {scale!r}; "
                                 f"only {CHEAP_SCALES} may substitute tasks")
            unknown = sorted(set(mapping) - set(self.paper_tasks))
            if unknown:
                raise ValueError(f"{self.name}: stand-ins at {scale} for tasks the paper does not show: {unknown}")

    def task_map(self, scale: str) -> dict[str, str]:
        """{paper task: task run in its place at `scale`} (identity at paper scale)."""
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose from {SCALES}")
        mapping = {} if scale == "paper" else self.stand_ins.get(scale, self.stand_ins.get("smoke", {}))
        return {task: mapping.get(task, task) for task in self.paper_tasks}

    def tasks_for(self, scale: str) -> tuple[str, ...]:
        """The tasks a scale trains, in the paper's order, each once (cpu: the smoke tasks, trained longer)."""
        return tuple(dict.fromkeys(self.task_map(scale).values()))

    def substitutions(self, scale: str) -> dict[str, str]:
        """{paper task: stand-in} for every paper task not run as itself at `scale` (empty at paper scale)."""
        return {paper: run for paper, run in self.task_map(scale).items() if paper != run}

    def title_for(self, scale: str) -> str:
        """The title, plus "(smoke: X stands in for A, B; ...)" naming every stand-in at that scale."""
        replaced: dict[str, list[str]] = {}
        for paper, run in self.substitutions(scale).items():
            replaced.setdefault(run, []).append(paper)
        if not replaced:
            return self.title
        clauses = []
        for run, papers in replaced.items():
            named = (", ".join(papers) if len(papers) <= LIST_LIMIT
                     else f"{len(papers)} of its {len(self.paper_tasks)} paper tasks")
            clauses.append(f"{run} stands in for {named}")
        return f"{self.title} ({scale}: {'; '.join(clauses)})"
