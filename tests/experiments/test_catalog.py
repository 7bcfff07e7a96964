"""Every paper figure and table has an experiment on the paper's own tasks, with valid configs at every scale.

The configs are built exactly as the runner builds them, so a misconfigured entry (an
unknown agent, a bad hyperparameter axis) fails here in seconds instead of hours into a
paper-scale job. `--scale paper` runs exactly the tasks the paper shows; only the smoke
and cpu scales may run stand-ins, and their titles say which. Running every experiment at
smoke scale is the slow test below (also the README's `offon-jit experiment all --scale smoke`).
"""

import pathlib

import pytest

import envs
from envs.registry import paper_task_names
from experiments.catalog import EVIDENCE_TASK, EXPERIMENTS, SMOKE_TASK, TABLE_S2_TASKS
from experiments.runner import get_experiment, run_experiment, study_dir
from experiments.spec import CHEAP_SCALES, EVIDENCE_SCALES, SCALES, Experiment, StudySpec, random_scores_path, study_label

PAPER_ITEMS = {"fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "figS1", "figS2", "figS3", "figS4", "figS5",
               "figS6", "figS7", "figS8", "figS9", "tableS2", "figS10", "figS11", "figS12", "figS13", "figS14",
               "figS15", "figS16", "figS17"}
TASK_ORIENTED = ("active", "passive", "passive_same_init", "tandem")  # Active, Passive-diff, Passive-same, Tandem
SELF_GENERATED = ("active", "passive", "passive_fixed", "passive_auto")
# App. A.8.2-A.8.4: what each 31-task figure shows (studies' agents, exploration weight, metric drawn).
SUPPLEMENTARY = {
    "figS10": (TASK_ORIENTED, 0.0, "score"), "figS11": (TASK_ORIENTED, 0.0, "eval_wm_loss"),
    "figS12": (SELF_GENERATED, 0.0, "score"), "figS13": (SELF_GENERATED, 0.0, "eval_wm_loss"),
    "figS14": (SELF_GENERATED, 0.0, "ood_ratio"), "figS15": (SELF_GENERATED, 0.0, "self_generated_pct"),
    "figS16": (TASK_ORIENTED, 1.0, "score"), "figS17": (TASK_ORIENTED, 1.0, "eval_wm_loss"),
}

# Tasks the paper's text names for a figure, with the words that name them (paper-full-text.txt).
NAMED_BY_THE_PAPER = {
    # Sec. 4.1: "in Fig. 7, we show that pure exploration is hardly the best option for ... Quadruped Run - Vision"
    "fig7": {"dmc/quadruped_run-vision"},
    # Fig. 8 caption: "6.5% ... in Cheetah Run - Vision, 2.9% in Quadraped Run - Vision, 9.8% in Pick-Place -
    # Proprio, and 0.5% in Spaceinvaders"
    "fig8": {"dmc/cheetah_run-vision", "dmc/quadruped_run-vision", "metaworld/pick-place", "minatar/space_invaders"},
    # Fig. S3 caption: "the Point Mass Maze - Vision and Cheetah Run - Vision tasks from DMC"
    "figS3": {"dmc/point_mass_maze-vision", "dmc/cheetah_run-vision"},
    # Fig. S4 caption: "the Tandem agent in task Point Mass Maze - Vision"
    "figS4": {"dmc/point_mass_maze-vision"},
    # App. A.6: "Hopper Hop - Proprio ... Quadruped - Proprio"
    "figS5": {"dmc/hopper_hop-proprio", "dmc/quadruped_run-proprio"},
    # Fig. S8 caption: "the schematic illustration on the Point Mass Maze - Vision"
    "figS8": {"dmc/point_mass_maze-vision"},
    # App. A.8.1: "all three analyzed tasks ... Quadruped Run - Vision ... Point Mass Maze - Vision and Pick-Place"
    "figS9": {"dmc/quadruped_run-vision", "dmc/point_mass_maze-vision", "metaworld/pick-place"},
}
# Figures whose text names some of their tasks (the rest are only in the figure's panels).
PARTLY_NAMED = {
    "fig3": {"dmc/quadruped_run-vision", "metaworld/pick-place", "metaworld/basketball"},  # Sec. 3.4, App. A.7
    "fig6": {"dmc/quadruped_run-vision", "metaworld/pick-place"},  # Sec. 4.1
}


def test_every_figure_and_table_of_the_paper_has_an_experiment():
    assert PAPER_ITEMS <= set(EXPERIMENTS)
    with pytest.raises(KeyError, match="unknown experiment 'fig99'"):
        get_experiment("fig99")


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_paper_scale_runs_exactly_the_papers_tasks(name):
    experiment = EXPERIMENTS[name]
    assert experiment.tasks_for("paper") == experiment.paper_tasks
    assert experiment.substitutions("paper") == {}
    assert experiment.title_for("paper") == experiment.title
    assert set(experiment.paper_tasks) <= set(paper_task_names()), "every paper task is one of the 31 registry tasks"
    assert experiment.paper_source, "each entry quotes where the paper names its tasks"


@pytest.mark.parametrize("name", sorted(NAMED_BY_THE_PAPER))
def test_tasks_the_paper_names_are_the_paper_tasks(name):
    assert set(EXPERIMENTS[name].paper_tasks) == NAMED_BY_THE_PAPER[name]


@pytest.mark.parametrize("name", sorted(PARTLY_NAMED))
def test_tasks_the_paper_names_are_among_the_paper_tasks(name):
    assert PARTLY_NAMED[name] <= set(EXPERIMENTS[name].paper_tasks)


@pytest.mark.parametrize("name", sorted(SUPPLEMENTARY))
def test_supplementary_figures_show_the_papers_agents_on_all_31_tasks(name):
    experiment = EXPERIMENTS[name]
    agents, expl_weight, metric = SUPPLEMENTARY[name]
    assert experiment.paper_tasks == TABLE_S2_TASKS and sorted(experiment.paper_tasks) == paper_task_names()
    assert experiment.title.startswith(f"Fig. {name[3:]}:")  # e.g. "Fig. S10:"
    assert metric in experiment.metrics
    studied = experiment.studies[-1]  # the study whose agents are drawn (S16/S17: after the task-oriented one)
    paper = studied.config(TABLE_S2_TASKS[0], "paper", out_dir="")
    assert studied.agents == agents and paper.expl_weights == (expl_weight,)
    if "passive_fixed" in agents:
        assert paper.fixed_intervals == (4_000, 20_000, 200_000) and paper.ood_thresholds == (1.35,)
    if expl_weight:  # pure exploration: the task-oriented Active is the dashed baseline and the normalised 1
        assert experiment.studies[0].agents == TASK_ORIENTED and experiment.reference == "active"
        assert set(experiment.labels) == {study_label(a, studied.name) for a in agents}
        assert (experiment.baseline == "active") == (metric == "score")
    else:
        assert len(experiment.studies) == 1 and not experiment.labels and experiment.baseline is None
    options = dict(experiment.options)
    if experiment.render == "curves":
        assert options["normalized"] is True and options["max_columns"] == 8
    else:
        assert name == "figS15" and experiment.render == "added_data"
    for scale in CHEAP_SCALES:
        stand_in = EVIDENCE_TASK if scale in EVIDENCE_SCALES else SMOKE_TASK
        assert set(experiment.tasks_for(scale)) == {stand_in, "dmc/point_mass_maze-proprio"}
        replaced = 31 - 2 - (stand_in in TABLE_S2_TASKS)  # the maze runs as itself; so does a paper-task stand-in
        assert f"{stand_in} stands in for {replaced} of its 31 paper tasks" in experiment.title_for(scale)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_reference_baseline_and_drawn_labels_are_curves_the_studies_produce(name):
    """The tables' t-tests compare against `reference`, the normalised score's 1; a misspelt label would fail
    only after the studies trained, so it is checked here against the engine's own run labels."""
    from offon_jit.engine.runs import phase_runs, run_label
    from offon_jit.engine.variants import VARIANTS

    experiment = EXPERIMENTS[name]
    for scale in SCALES:
        produced = set()
        for index, spec in enumerate(experiment.studies):
            config = spec.config(experiment.tasks_for(scale)[0], scale, out_dir="")
            for agent in config.agents:
                for run in phase_runs(config, VARIANTS[agent]):
                    label = run_label(config, VARIANTS[agent], run)
                    produced.add(label if index == 0 else study_label(label, spec.name))
        assert experiment.reference in produced
        assert set(experiment.labels) <= produced
        assert experiment.baseline is None or experiment.baseline in produced


def test_random_scores_are_cached_under_the_output_root_unless_overridden(tmp_path, monkeypatch):
    monkeypatch.delenv("OFFON_JIT_RANDOM_SCORES", raising=False)
    assert random_scores_path(tmp_path) == tmp_path / "random_scores.json"
    monkeypatch.setenv("OFFON_JIT_RANDOM_SCORES", str(tmp_path / "shared.json"))
    assert random_scores_path(tmp_path / "other") == tmp_path / "shared.json"


def test_table_s2_covers_all_31_registry_tasks():
    table = EXPERIMENTS["tableS2"]
    assert len(paper_task_names()) == 31
    assert sorted(table.tasks_for("paper")) == paper_task_names()


def test_the_maze_figures_use_the_vision_maze_the_paper_names():
    """Figs. 2 and 5 do not state the maze's modality; the paper names only the vision maze (Figs. S3, S4, S8,
    S9), and the w_expl = 0.5 Active buffer of Fig. 5 exists only for it (Fig. S9)."""
    for name in ("fig2", "fig5", "figS3", "figS4", "figS8", "figS9"):
        assert "dmc/point_mass_maze-vision" in EXPERIMENTS[name].paper_tasks
        assert "dmc/point_mass_maze-proprio" not in EXPERIMENTS[name].paper_tasks


@pytest.mark.parametrize("scale", CHEAP_SCALES)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_cheap_scales_name_every_stand_in_in_the_title(name, scale):
    experiment = EXPERIMENTS[name]
    substitutions = experiment.substitutions(scale)
    title = experiment.title_for(scale)
    assert title.startswith(experiment.title)
    # every task the scale runs is a paper task or a named stand-in
    assert set(experiment.tasks_for(scale)) <= set(experiment.paper_tasks) | set(substitutions.values())
    for paper_task, stand_in in substitutions.items():
        assert stand_in != paper_task and f"{stand_in} stands in for" in title
        assert paper_task in title or f"of its {len(experiment.paper_tasks)} paper tasks" in title
    if substitutions:
        assert f"({scale}: " in title
    else:
        assert title == experiment.title


def test_smoke_substitutes_where_the_paper_task_is_not_jax_native():
    for experiment in EXPERIMENTS.values():
        if any(dict(study.settings).get("algo", "dreamerv3") != "dreamerv3" for study in experiment.studies):
            # a model-free family runs its own (JAX-native) tasks at every scale: no stand-in has its action space
            assert all("jax" in envs.get_task(task).backends for task in experiment.paper_tasks)
            assert experiment.substitutions("smoke") == {}
            continue
        for paper_task, run in experiment.task_map("smoke").items():
            if "jax" not in envs.get_task(paper_task).backends or envs.get_task(paper_task).obs_kind == "vision":
                assert run != paper_task and experiment.substitutions("smoke")[paper_task] == run


def test_title_lists_or_counts_what_a_stand_in_replaces():
    table = EXPERIMENTS["tableS2"].title_for("smoke")
    assert "debug/point_reach stands in for 29 of its 31 paper tasks" in table
    assert "dmc/point_mass_maze-proprio stands in for dmc/point_mass_maze-vision" in table
    fig8 = EXPERIMENTS["fig8"].title_for("cpu")
    assert fig8.endswith("(cpu: debug/point_reach stands in for dmc/cheetah_run-vision, dmc/quadruped_run-vision, "
                         "metaworld/pick-place, minatar/space_invaders)")


def test_experiment_rejects_stand_ins_at_paper_scale_and_for_tasks_it_does_not_show():
    base = dict(name="x", title="X", paper_tasks=("dmc/cheetah_run-vision",), studies=(StudySpec("b", ("active",)),),
                render="curves")
    with pytest.raises(ValueError, match="only .* may substitute"):
        Experiment(**base, stand_ins={"paper": {"dmc/cheetah_run-vision": "dmc/cheetah_run-proprio"}})
    with pytest.raises(ValueError, match="does not show"):
        Experiment(**base, stand_ins={"smoke": {"dmc/walker_walk-vision": "debug/point_reach"}})
    with pytest.raises(ValueError, match="distinct"):
        Experiment(**{**base, "paper_tasks": ("dmc/cheetah_run-vision",) * 2})
    with pytest.raises(ValueError, match="unknown scale"):
        Experiment(**base).tasks_for("huge")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_configs_are_valid_and_runnable(name, scale, tmp_path):
    experiment = EXPERIMENTS[name]
    dirs = set()
    for task in experiment.tasks_for(scale):
        for spec in experiment.studies:
            config = spec.config(task, scale, out_dir=str(tmp_path))  # RunConfig validates on construction
            assert config.task == task and config.record_traces
            if scale == "smoke":
                assert "jax" in envs.get_task(task).backends and config.preset == "tiny"
            dirs.add(study_dir(tmp_path, scale, task, spec))
    assert len(dirs) == len(experiment.tasks_for(scale)) * len(experiment.studies)  # no two studies share a dir


def test_shared_studies_share_a_directory(tmp_path):
    """Figs. 3 and S2 need the same Active/Passive/Tandem study: it is trained once; so do Figs. 2, S3 and S4."""
    for scale in SCALES:
        fig3, s2 = EXPERIMENTS["fig3"], EXPERIMENTS["figS2"]
        for task in fig3.tasks_for(scale):
            assert study_dir(tmp_path, scale, task, fig3.studies[0]) == study_dir(tmp_path, scale, task, s2.studies[0])
    maze = "dmc/point_mass_maze-vision"
    dirs = {study_dir(tmp_path, "paper", maze, EXPERIMENTS[n].studies[0]) for n in ("fig2", "figS3", "figS4")}
    assert len(dirs) == 1
    # The 31-task figures reuse the studies of the figures they extend, on every task they share with them.
    shared = {"figS10": ("fig2", "fig3", "figS2", "figS3", "figS4", "figS6", "figS11"),
              "figS12": ("fig8", "tableS2", "figS13", "figS14", "figS15"),
              "figS16": ("fig6", "figS17")}
    for scale in SCALES:
        for name, others in shared.items():
            for other in others:
                common = set(EXPERIMENTS[other].tasks_for(scale)) & set(EXPERIMENTS[name].tasks_for(scale))
                assert common or scale != "paper", (name, other)  # smoke Fig. S4 runs Breakout, no 31-task stand-in
                for task in common:
                    mine = {study_dir(tmp_path, scale, task, spec) for spec in EXPERIMENTS[name].studies}
                    theirs = {study_dir(tmp_path, scale, task, spec) for spec in EXPERIMENTS[other].studies}
                    assert theirs <= mine or mine <= theirs, (name, other, scale, task)


def test_rendered_title_names_the_scale_of_the_studies(tmp_path):
    """The renderer titles a figure for the scale its studies ran at, read from their saved configs."""
    from experiments import render  # imports the engine's trace layout

    experiment = EXPERIMENTS["fig8"]
    spec = experiment.studies[0]
    for scale in SCALES:
        studies = {}
        for task in experiment.tasks_for(scale):
            run_dir = study_dir(tmp_path, scale, task, spec)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.json").write_text(spec.config(task, scale, out_dir=str(run_dir)).to_json())
            studies[(task, spec.name)] = run_dir
        assert render.study_scale(experiment, studies) == scale
        assert render.scale_title(experiment, studies, tmp_path / "figures") == experiment.title_for(scale)
    assert render.scale_title(experiment, {}, tmp_path / "cpu" / "figures") == experiment.title_for("cpu")
    unknown = {("debug/point_reach", spec.name): tmp_path / "nowhere"}
    assert "stand-ins for the paper's tasks: debug/point_reach" in render.scale_title(experiment, unknown, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_runs_at_smoke_scale_and_writes_its_figure(name, tmp_path_factory):
    root = pathlib.Path(tmp_path_factory.getbasetemp()) / "experiments"  # shared: studies are reused across items
    result = run_experiment(name, "smoke", root, progress=False)
    figure = pathlib.Path(result["figure"])
    assert figure.exists() and figure.stat().st_size > 5_000
