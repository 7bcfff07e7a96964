"""Render an experiment's figure (and the numbers behind it) from its studies' saved files.

Nothing here trains: every input is a study directory's metrics.jsonl, traces/*.npz or
buffers/*.npz, so `offon-jit experiment NAME` re-renders finished studies in seconds.
"""

from __future__ import annotations

import pathlib

import numpy as np

from experiments.spec import Experiment
from offon_jit import analysis
from offon_jit.analysis.tables import TABLE_S2_FORMAT
from offon_jit.engine.runs import base_runs, base_tag
from offon_jit.engine.study import trace_name
from offon_jit.engine.variants import VARIANTS
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

    return RunConfig.from_json((pathlib.Path(run_dir) / "config.json").read_text())


def load_traces(run_dir: pathlib.Path, agents=BASE_LABELS, seed_index: int = 0) -> dict:
    """{agent: trace dict} of the first seed's final test episode (Fig. S3/S4 data)."""
    config = _config(run_dir)
    run = base_runs(config)[seed_index]
    traces = {}
    for agent in agents:
        path = pathlib.Path(run_dir) / "traces" / f"{trace_name(config, VARIANTS[agent], run)}.npz"
        if not path.exists():
            raise FileNotFoundError(f"no trace {path}: the study ran with record_traces=False or on a host backend")
        with np.load(path) as data:
            traces[agent] = dict(data)
    return traces


def active_buffer(run_dir: pathlib.Path, tag: str):
    return storage.load_buffer(pathlib.Path(run_dir) / "buffers" / f"active_{tag}.npz")


def render(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    """Write out_dir/<name>.png (+ .csv/.md with the numbers); returns the figure path."""
    renderer = RENDERERS.get(experiment.render)
    if renderer is None:
        raise ValueError(f"{experiment.name}: unknown renderer {experiment.render!r}; choose from {sorted(RENDERERS)}")
    return renderer(experiment, studies, pathlib.Path(out_dir))


def render_curves(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    rows = task_rows(experiment, studies)
    options = dict(experiment.options)
    baselines = analysis.baseline_scores(rows, label=experiment.baseline) if experiment.baseline else None
    normalized = options.get("normalized", len(rows) > 1)
    figure = analysis.plot_curve_grid(rows, experiment.metrics, normalized_mean=normalized, baselines=baselines,
                                      title=experiment.title)
    analysis.write_csv(analysis.curve_grid_table(rows, experiment.metrics, normalized_mean=normalized),
                       out_dir / f"{experiment.name}.csv")
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def render_maze_trajectories(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    (task, _), run_dir = next(iter(studies.items()))
    traces = load_traces(run_dir)
    buffer = active_buffer(run_dir, _first_tag(run_dir))  # Passive and Tandem train on this buffer too
    buffers = dict.fromkeys(traces, buffer)
    figure = analysis.plot_maze_figure(read_rows(run_dir), traces, buffers)
    stats = analysis.trajectory_statistics(traces, buffers)
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
    figure = analysis.plot_visitation_heatmaps(datasets)
    grids = {name: analysis.visitation_counts(buffer) for name, buffer in datasets.items()}
    analysis.write_csv(analysis.cell_table(grids), out_dir / f"{experiment.name}.csv")
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def render_traces(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    paths = []
    for (task, _), run_dir in studies.items():
        traces = load_traces(run_dir)
        suffix = "" if not paths else "_" + task.replace("/", "__")
        figure = analysis.plot_episode_traces(traces)
        analysis.write_csv(analysis.trace_table(traces), out_dir / f"{experiment.name}{suffix}.csv")
        paths.append(analysis.save_figure(figure, out_dir / f"{experiment.name}{suffix}.png"))
    return paths[0]


def render_decoded(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    (_, _), run_dir = next(iter(studies.items()))
    figure = analysis.plot_decoded_vs_true(load_traces(run_dir))
    return analysis.save_figure(figure, out_dir / f"{experiment.name}.png")


def render_table(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> pathlib.Path:
    rows = task_rows(experiment, studies)
    table = analysis.self_generated_table(rows, labels=["passive_auto"])
    analysis.write_csv(table, out_dir / f"{experiment.name}.csv")
    markdown = analysis.markdown_table(table, value_format=TABLE_S2_FORMAT)
    (out_dir / f"{experiment.name}.md").write_text(f"# {experiment.title}\n\n{markdown}\n")
    figure = analysis.plot_curve_grid(rows, ("self_generated_pct", "score"), title=experiment.title)
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
