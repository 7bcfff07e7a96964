"""Every paper figure and table has an experiment whose configs are valid at both scales.

The configs are built exactly as the runner builds them, so a misconfigured entry (an
unknown agent, a host-only task with a mechanism that needs the jitted path, a bad
hyperparameter axis) fails here in seconds instead of hours into a paper-scale job.
Running every experiment at smoke scale is the slow test below (also the README's
`offon-jit experiment all --scale smoke`).
"""

import pathlib

import pytest

import envs
from experiments.catalog import EXPERIMENTS
from experiments.runner import get_experiment, run_experiment, study_dir
from experiments.spec import SCALES
from offon_jit.engine.host_driver import host_support_problem

PAPER_ITEMS = {"fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "figS1", "figS2", "figS3", "figS5", "figS6",
               "figS7", "figS8", "figS9", "tableS2"}


def test_every_figure_and_table_of_the_issue_has_an_experiment():
    assert PAPER_ITEMS <= set(EXPERIMENTS)
    with pytest.raises(KeyError, match="unknown experiment 'fig99'"):
        get_experiment("fig99")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_configs_are_valid_and_runnable(name, scale, tmp_path):
    experiment = EXPERIMENTS[name]
    dirs = set()
    for task in experiment.tasks_for(scale):
        for spec in experiment.studies:
            config = spec.config(task, scale, out_dir=str(tmp_path))
            if "jax" not in envs.get_task(task).backends:
                assert host_support_problem(config) is None, f"{name}: {task} is host-only"
            if scale == "smoke":
                assert "jax" in envs.get_task(task).backends and config.preset == "tiny"
            dirs.add(study_dir(tmp_path, scale, task, spec))
    assert len(dirs) == len(experiment.tasks_for(scale)) * len(experiment.studies)  # no two studies share a dir


def test_shared_studies_share_a_directory(tmp_path):
    """Figs. 3 and S2 need the same Active/Passive/Tandem study: it is trained once."""
    fig3, s2 = EXPERIMENTS["fig3"], EXPERIMENTS["figS2"]
    task = fig3.tasks_for("smoke")[0]
    assert study_dir(tmp_path, "smoke", task, fig3.studies[0]) == study_dir(tmp_path, "smoke", task, s2.studies[0])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_runs_at_smoke_scale_and_writes_its_figure(name, tmp_path_factory):
    root = pathlib.Path(tmp_path_factory.getbasetemp()) / "experiments"  # shared: studies are reused across items
    result = run_experiment(name, "smoke", root, progress=False)
    figure = pathlib.Path(result["figure"])
    assert figure.exists() and figure.stat().st_size > 5_000
