"""Run an experiment's studies (reusing finished identical ones) and render its figure.

Layout under the output root (default runs/experiments):

    <scale>/studies/<task>/<study>-<config hash>/   one Study run directory each
    <scale>/figures/<experiment>.png / .csv / .md   the figure and the numbers it shows
    random_scores.json                              random-policy scores per task and setting (every scale;
                                                    $OFFON_JIT_RANDOM_SCORES overrides, spec.random_scores_path)

A study whose directory already holds a summary for the same configuration is reused,
so experiments that share studies (e.g. Figs. 3 and S2 both need Active, Passive and
Tandem on the same tasks) train them once. An interrupted study resumes from its last
checkpoint, or restarts its unfinished phase when it has none.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys
import time

from experiments.catalog import EXPERIMENTS
from experiments.spec import Experiment, StudySpec, random_scores_path
from offon_jit.config import RunConfig
from offon_jit.layout import RunLayout


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)} (or 'all')")
    return EXPERIMENTS[name]


def study_dir(root: pathlib.Path, scale: str, task: str, spec: StudySpec) -> pathlib.Path:
    """Named by the study and a hash of every setting, so different settings never share a directory."""
    probe = spec.config(task, scale, out_dir="")
    digest = hashlib.sha256(probe.to_json().encode()).hexdigest()[:8]
    return root / scale / "studies" / task.replace("/", "__") / f"{spec.name}-{digest}"


def run_study(config: RunConfig, progress: bool = True, devices: int = 0) -> pathlib.Path:
    from offon_jit.engine.study import Study

    layout = RunLayout(config.run_dir)
    if layout.summary.exists() and layout.config.exists():
        saved = RunConfig.from_json(layout.config.read_text())
        if saved.replace(out_dir=config.out_dir) == config:
            print(f"[experiment] reusing {layout.root}", file=sys.stderr)
            return layout.root
    study = Study(config, progress=progress, devices=devices)
    # A study killed at any point continues: from its newest checkpoint, else from its first unfinished phase.
    resume = layout.config.exists()
    study.run(resume=resume)
    return layout.root


def run_experiment(name: str, scale: str = "smoke", root: str | pathlib.Path = "runs/experiments",
                   progress: bool = True, devices: int = 0, render: bool = True) -> dict:
    """Train what the experiment needs, then render it. Returns {'studies': ..., 'figure': ...}."""
    from experiments import render as render_lib

    experiment = get_experiment(name)
    root = pathlib.Path(root)
    studies = {}
    start = time.perf_counter()
    for task in experiment.tasks_for(scale):
        for spec in experiment.studies:
            out_dir = study_dir(root, scale, task, spec)
            config = spec.config(task, scale, out_dir=str(out_dir))
            studies[(task, spec.name)] = run_study(config, progress=progress, devices=devices)
    result = {"studies": {f"{t}:{s}": str(d) for (t, s), d in studies.items()},
              "train_seconds": time.perf_counter() - start}
    if render:
        figures = root / scale / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        result["figure"] = str(render_lib.render(experiment, studies, figures, scale,
                                                 random_scores_file=random_scores_path(root)))
    return result
