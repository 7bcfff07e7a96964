"""Render an experiment's figure (and the numbers behind it) from its studies' saved files.

Nothing here trains: every input is a study directory's metrics.jsonl, traces/*.npz or
buffers/*.npz, so `offon-jit experiment NAME` re-renders finished studies in seconds.
"""

from __future__ import annotations

import dataclasses
import pathlib
import textwrap

import numpy as np

from experiments.spec import SCALES, Experiment
from offon_jit import analysis
from offon_jit.analysis.tables import TABLE_S2_FORMAT
from offon_jit.engine.runs import base_runs, base_tag, run_file_name
from offon_jit.engine.variants import VARIANTS
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import read_rows
from offon_jit.replay import storage

BASE_LABELS = ("active", "passive", "tandem")


def task_rows(experiment: Experiment, studies: dict) -> dict:
    """{task: rows of every study}; a later study's labels get its name so curves never collide."""
    merged = {}
    first = experiment.studies[0].name
    for (task, study), run_dir in studies.items():
        rows = read_rows(run_dir)
        if study != first:
            rows = [{**r, "label": f"{r.get('label', r['agent'])} [{study}]"} for r in rows]
        merged.setdefault(task, []).extend(rows)
    return merged


def _config(run_dir: pathlib.Path):
    from offon_jit.config import RunConfig

    return RunConfig.from_json(RunLayout(run_dir).config.read_text())


def load_traces(run_dir: pathlib.Path, agents=BASE_LABELS, seed_index: int = 0) -> dict:
    """{agent: trace dict} of the first seed's final test episode (Fig. S3/S4 data)."""
    config = _config(run_dir)
    run = base_runs(config)[seed_index]
    traces = {}
    for agent in agents:
        path = RunLayout(run_dir).trace(run_file_name(config, VARIANTS[agent], run))
        if not path.exists():
            raise FileNotFoundError(f"no trace {path}: the study ran with record_traces=False")
        with np.load(path) as data:
            traces[agent] = dict(data)
    return traces


def active_buffer(run_dir: pathlib.Path, tag: str):
    return storage.load_buffer(RunLayout(run_dir).active_buffer(tag))


def render(experiment: Experiment, studies: dict, out_dir: pathlib.Path, scale: str | None = None) -> pathlib.Path:
    """Write out_dir/<name>.png (+ .csv/.md with the numbers); returns the figure path.

    The title names every stand-in task of `scale` (inferred from the studies when not given).
    """
    renderer = RENDERERS.get(experiment.render)
    if renderer is None:
        raise ValueError(f"{experiment.name}: unknown renderer {experiment.render!r}; choose from {sorted(RENDERERS)}")
    titled = dataclasses.replace(experiment, title=scale_title(experiment, studies, out_dir, scale))
    return renderer(titled, studies, pathlib.Path(out_dir))


def study_scale(experiment: Experiment, studies: dict) -> str | None:
    """The scale whose catalog configs the studies ran with (None if they match no scale)."""
    specs = {spec.name: spec for spec in experiment.studies}
    if not studies:
        return None
    try:
        configs = {key: _config(run_dir) for key, run_dir in studies.items()}
    except (OSError, ValueError):  # no readable config.json: the caller falls back to the directory layout
        return None
    for scale in SCALES:
        if all(task in experiment.tasks_for(scale) and study in specs
               and specs[study].config(task, scale, out_dir=config.out_dir) == config
               for (task, study), config in configs.items()):
            return scale
    return None


def scale_title(experiment: Experiment, studies: dict, out_dir, scale: str | None = None) -> str:
    """`experiment.title_for(scale)`; an unknown scale is read from the studies' configs, then from the
    runner's layout (<scale>/figures), else the title lists the tasks run that the paper does not show."""
    scale = scale or study_scale(experiment, studies)
    if scale is None and pathlib.Path(out_dir).parent.name in SCALES:
        scale = pathlib.Path(out_dir).parent.name
    if scale is not None:
        return experiment.title_for(scale)
    extra = [task for task in dict.fromkeys(task for task, _ in studies) if task not in experiment.paper_tasks]
    return f"{experiment.title} (stand-ins for the paper's tasks: {', '.join(extra)})" if extra else experiment.title


def _suptitle(figure, title: str) -> None:
    """The title over a figure, wrapped to its width (figures without a title of their own)."""
    figure.suptitle(_wrap(title, figure.get_figwidth()), fontsize="small")


def _wrap(title: str, width_inches: float) -> str:
    return textwrap.fill(title, max(40, int(width_inches * 14)))


def render_curves(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    rows = task_rows(experiment, studies)
    options = dict(experiment.options)
    baselines = analysis.baseline_scores(rows, label=experiment.baseline) if experiment.baseline else None
    normalized = options.get("normalized", len(rows) > 1)
    figure = analysis.plot_curve_grid(rows, experiment.metrics, normalized_mean=normalized, baselines=baselines)
    _suptitle(figure, experiment.title)
    analysis.write_csv(analysis.curve_grid_table(rows, experiment.metrics, normalized_mean=normalized),
                       out_dir / f"{experiment.name}.csv")
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def position_field(buffer) -> dict:
    """Where a maze buffer keeps (x, y): the recorded "position" (vision maze), else obs[:2] (proprio)."""
    return {"field": "position"} if "position" in buffer.data else {"field": "obs", "dims": (0, 1)}


def render_maze_trajectories(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    (task, _), run_dir = next(iter(studies.items()))
    traces = load_traces(run_dir)
    buffer = active_buffer(run_dir, _first_tag(run_dir))  # Passive and Tandem train on this buffer too
    buffers = dict.fromkeys(traces, buffer)
    figure = analysis.plot_maze_figure(read_rows(run_dir), traces, buffers, **position_field(buffer))
    _suptitle(figure, experiment.title)
    stats = analysis.trajectory_statistics(traces, buffers, **position_field(buffer))
    analysis.write_csv(stats, out_dir / f"{experiment.name}.csv")
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def render_visitation(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    (_, _), run_dir = next(iter(studies.items()))
    config = _config(run_dir)
    names = {0.0: "task-oriented", 1.0: "pure exploration"}
    datasets = {}
    for weight in config.expl_weights:
        tag = base_tag(config, config.seed, weight)
        datasets[names.get(weight, f"mixed (w_expl={weight:g})")] = active_buffer(run_dir, tag)
    where = position_field(next(iter(datasets.values())))
    figure = analysis.plot_visitation_heatmaps(datasets, **where)
    _suptitle(figure, experiment.title)
    grids = {name: analysis.visitation_counts(buffer, **where) for name, buffer in datasets.items()}
    analysis.write_csv(analysis.cell_table(grids), out_dir / f"{experiment.name}.csv")
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def render_traces(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    paths = []
    for (task, _), run_dir in studies.items():
        traces = load_traces(run_dir)
        suffix = "" if not paths else "_" + task.replace("/", "__")
        figure = analysis.plot_episode_traces(traces)
        _suptitle(figure, f"{experiment.title}: {task}")
        analysis.write_csv(analysis.trace_table(traces), out_dir / f"{experiment.name}{suffix}.csv")
        paths.append(analysis.save_figure(figure, out_dir / f"{experiment.name}{suffix}.png"))
    return paths[0]


def render_decoded(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    (_, _), run_dir = next(iter(studies.items()))
    figure = analysis.plot_decoded_vs_true(load_traces(run_dir))
    _suptitle(figure, experiment.title)
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def render_table(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    rows = task_rows(experiment, studies)
    table = analysis.self_generated_table(rows, labels=["passive_auto"])
    analysis.write_csv(table, out_dir / f"{experiment.name}.csv")
    markdown = analysis.markdown_table(table, value_format=TABLE_S2_FORMAT)
    (out_dir / f"{experiment.name}.md").write_text(f"# {experiment.title}\n\n{markdown}\n")
    figure = analysis.plot_curve_grid(rows, ("self_generated_pct", "score"))
    _suptitle(figure, experiment.title)
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def _first_tag(run_dir) -> str:
    config = _config(run_dir)
    return base_runs(config)[0].tag(config)


RENDERERS = {
    "curves": render_curves,
    "maze_trajectories": render_maze_trajectories,
    "visitation": render_visitation,
    "traces": render_traces,
    "decoded": render_decoded,
    "table": render_table,
}
