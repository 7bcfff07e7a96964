"""Render an experiment's figure (and the numbers behind it) from its studies' saved files.

Nothing here trains: every input is a study directory's metrics.jsonl, traces/*.npz or
buffers/*.npz, so `offon-jit experiment NAME` re-renders finished studies in seconds. The one
measurement is the random-policy score of each task the normalised score needs
(offon_jit.analysis.random_scores), rolled out once per task and setting and cached in the
output root's random_scores.json (`spec.random_scores_path`).

Beside a curve figure, <name>_final.csv / .md hold each curve's final mean per task (and for
the normalised mean) with Welch's t-test against the experiment's reference Active
(`Experiment.reference`): p-value and seeds per side, "no test" below 2 seeds a side.

Every figure's title is the experiment's title at the scale run (stand-ins named), then a line saying
what the studies ran, read from their saved configs (`settings_line`): the task if there is one, seeds
and env steps, and every swept value of the agents drawn ("Passive-fixed N=500, 2K · Passive-auto
τ=1.35"), so a title never states values the curves did not use.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import textwrap
import warnings

import numpy as np

from experiments.spec import (
    RANDOM_POLICY_EPISODES,
    RANDOM_POLICY_SEED,
    SCALES,
    Experiment,
    random_scores_path,
    study_label,
)
from offon_jit import analysis
from offon_jit.analysis.rows import metric_title
from offon_jit.analysis.style import (
    DISPLAY_NAMES,
    HPARAM_SYMBOLS,
    curve_info,
    format_steps,
    format_value,
    new_figure,
    paper_style,
    set_title,
)
from offon_jit.analysis.tables import TABLE_S2_FORMAT
from offon_jit.engine.runs import base_runs, base_tag, run_file_name
from offon_jit.engine.variants import VARIANTS
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import read_rows
from offon_jit.replay import storage

BASE_LABELS = ("active", "passive", "tandem")
DPI = 150  # of every PNG written
SEPARATOR = " · "  # between the settings of a figure's second title line


def task_rows(experiment: Experiment, studies: dict) -> dict:
    """{task: rows of every study}; a later study's labels get its name so curves never collide."""
    merged = {}
    first = experiment.studies[0].name
    for (task, study), run_dir in studies.items():
        rows = read_rows(run_dir)
        if study != first:
            rows = [{**r, "label": study_label(analysis.curve_label(r), study)} for r in rows]
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


def render(experiment: Experiment, studies: dict, out_dir: pathlib.Path, scale: str | None = None,
           random_scores_file: pathlib.Path | None = None) -> pathlib.Path:
    """Write out_dir/<name>.png (+ .csv/.md with the numbers); returns the figure path.

    The title names every stand-in task of `scale` (inferred from the studies when not given).
    `random_scores_file` is the random-policy score cache (default: that of the output root
    out_dir belongs to in the runner's layout, <root>/<scale>/figures).
    """
    return next(iter(render_figures(experiment, studies, out_dir, scale, random_scores_file)))


def render_figures(experiment: Experiment, studies: dict, out_dir: pathlib.Path, scale: str | None = None,
                   random_scores_file: pathlib.Path | None = None) -> dict:
    """`render`, returning {path: matplotlib Figure} of every figure written, the experiment's own first."""
    renderer = RENDERERS.get(experiment.render)
    if renderer is None:
        raise ValueError(f"{experiment.name}: unknown renderer {experiment.render!r}; choose from {sorted(RENDERERS)}")
    out_dir = pathlib.Path(out_dir)
    titled = dataclasses.replace(experiment, title=scale_title(experiment, studies, out_dir, scale))
    if experiment.render not in NORMALISING_RENDERERS:
        return renderer(titled, studies, out_dir)
    if random_scores_file is None:
        random_scores_file = random_scores_path(out_dir.parent.parent)
    return renderer(titled, studies, out_dir, cache_file=pathlib.Path(random_scores_file))


def config_settings(config, agents=None) -> list[str]:
    """What one study ran, as a figure's title states it: seeds and env steps, the Active's w_expl (if not
    the task-only 0) and each swept value of `agents` (default: all) in the paper's symbols."""
    seeds = f"{config.num_seeds} seed{'s' if config.num_seeds != 1 else ''}"
    parts = [f"{seeds} × {format_steps(config.env_steps)} env steps"]
    if tuple(config.expl_weights) != (0.0,):
        parts.append(f"{HPARAM_SYMBOLS['expl_weight']}=" + ", ".join(f"{w:g}" for w in config.expl_weights))
    if config.expl_decay:
        parts.append(f"w_expl decay={config.expl_decay:g}")
    for agent in config.agents:
        variant = VARIANTS[agent]
        if variant.hparam is None or (agents is not None and agent not in agents):
            continue
        name = variant.hparam_name
        values = ", ".join(format_value(name, value) for value in getattr(config, variant.hparam))
        signal = f" ({config.offline_signal})" if variant.arm_signal == "offline" else ""
        parts.append(f"{DISPLAY_NAMES.get(agent, agent)} {HPARAM_SYMBOLS.get(name, name)}={values}{signal}")
    return parts


def settings_line(experiment: Experiment, studies: dict) -> str:
    """What the studies ran, read from their saved config.json: the task (when there is one), then the
    settings every study shares, then each other study's own after its name in brackets (as its curves
    are labelled), e.g. "debug/point_reach · 2 seeds × 4K env steps · Passive-fixed N=500, 2K ·
    Passive-auto τ=1.35". Only the swept values of agents the figure draws (`experiment.labels`) appear.
    Studies without a readable config are left out ("" if none has one)."""
    drawn = {curve_info(label).agent for label in experiment.labels} or None
    by_study: dict[str, list[str]] = {}
    for (_, study), run_dir in studies.items():
        try:
            config = _config(run_dir)
        except (OSError, ValueError):
            continue
        parts = by_study.setdefault(study, [])
        parts += [part for part in config_settings(config, drawn) if part not in parts]
    if not by_study:
        return ""
    first = experiment.studies[0].name if experiment.studies else next(iter(by_study))
    common = [part for part in next(iter(by_study.values())) if all(part in p for p in by_study.values())]
    tasks = list(dict.fromkeys(task for task, _ in studies))
    line = tasks[:1] if len(tasks) == 1 else []
    line += common
    for study, parts in by_study.items():
        own = [part for part in parts if part not in common]
        if own:
            line.append(("" if study == first else f"[{study}] ") + ", ".join(own))
    return SEPARATOR.join(line)


def figure_title(experiment: Experiment, studies: dict) -> str:
    """The experiment's (scale) title over the line of what its studies ran."""
    settings = settings_line(experiment, studies)
    return f"{experiment.title}\n{settings}" if settings else experiment.title


def _titled(figure, experiment: Experiment, studies: dict, suffix: str = ""):
    set_title(figure, figure_title(experiment, studies) + suffix, fontsize="small")
    return figure


def _save(figure, path: pathlib.Path) -> dict:
    """{path: figure} after writing it (the renderers' return value, for `render_figures`)."""
    return {analysis.save_figure(figure, path, dpi=DPI): figure}


def random_policy_scores(studies: dict, cache_file: pathlib.Path, progress: bool = True) -> dict[str, float]:
    """{task: random-policy score} with each study's episode settings, measured once and cached."""
    settings = {}
    for (task, _), run_dir in studies.items():
        config = _config(run_dir)
        settings[(task, config.episode_length, config.sticky_prob)] = analysis.RandomPolicySetting(
            task, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, config.episode_length, config.sticky_prob)
    return analysis.cached_random_scores(settings.values(), cache_file, progress=progress)


def score_normalization(experiment: Experiment, studies: dict, rows: dict, cache_file: pathlib.Path,
                        out_dir: pathlib.Path) -> dict[str, tuple[float, float]]:
    """{task: (random score, reference score)} of the normalised score, also written to <name>_normalization.csv."""
    ranges = analysis.score_ranges(rows, random_scores=random_policy_scores(studies, cache_file),
                                   reference_label=experiment.reference)
    analysis.write_csv([{"task": task, "random_score": low, "random_episodes": RANDOM_POLICY_EPISODES,
                         "random_seed": RANDOM_POLICY_SEED, "reference": experiment.reference, "reference_score": high,
                         "defined": high > low} for task, (low, high) in ranges.items()],
                       out_dir / f"{experiment.name}_normalization.csv")
    return ranges


def final_table(experiment: Experiment, columns: dict, metrics) -> list[dict]:
    """Each shown curve's final mean per column (tasks, normalised mean) and its t-test against the reference."""
    known = list(analysis.curve_styles(row for rows in columns.values() for row in rows))  # the legend's order
    shown = list(dict.fromkeys([*experiment.labels, experiment.reference])) if experiment.labels else known
    table = []
    for metric in metrics:
        table += analysis.final_values(columns, metric, labels=[label for label in shown if label in known],
                                       test_against=experiment.reference)
    return table


def write_final_table(experiment: Experiment, table: list[dict], out_dir: pathlib.Path) -> None:
    """<name>_final.csv and a markdown grid per metric, each mean with its test."""
    analysis.write_csv(table, out_dir / f"{experiment.name}_final.csv")
    sections = [f"# {experiment.title}: final values\n"]
    for metric in dict.fromkeys(entry["metric"] for entry in table):
        grid = analysis.markdown_table([e for e in table if e["metric"] == metric], average=False)
        sections.append(f"## {metric_title(metric)}\n\n{grid}")
    (out_dir / f"{experiment.name}_final.md").write_text("\n".join(sections))


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


def render_curves(experiment: Experiment, studies: dict, out_dir: pathlib.Path, *,
                  cache_file: pathlib.Path) -> dict:
    rows = task_rows(experiment, studies)
    options = dict(experiment.options)
    baselines = analysis.baseline_scores(rows, label=experiment.baseline) if experiment.baseline else None
    normalized = options.get("normalized", len(rows) > 1)
    labels = list(experiment.labels) or None
    score = {"reference_label": experiment.reference}
    if normalized and "score" in experiment.metrics:
        score["score_references"] = score_normalization(experiment, studies, rows, cache_file, out_dir)
    figure = analysis.plot_curve_grid(rows, experiment.metrics, normalized_mean=normalized, baselines=baselines,
                                      labels=labels, max_columns=options.get("max_columns"), **score)
    _titled(figure, experiment, studies)
    analysis.write_csv(analysis.curve_grid_table(rows, experiment.metrics, normalized_mean=normalized, labels=labels,
                                                 **score), out_dir / f"{experiment.name}.csv")
    columns = analysis.grid_rows(rows, experiment.metrics, normalized_mean=normalized, labels=labels, **score)
    write_final_table(experiment, final_table(experiment, columns, experiment.metrics), out_dir)
    return _save(figure, out_dir / f"{experiment.name}.png")


def render_added_data(experiment: Experiment, studies: dict, out_dir: pathlib.Path, *,
                      cache_file: pathlib.Path) -> dict:
    """Fig. S15: normalised mean score against self-generated data, per Passive agent that adds data."""
    rows = task_rows(experiment, studies)
    ranges = score_normalization(experiment, studies, rows, cache_file, out_dir)
    undefined = [task for task, (low, high) in ranges.items() if high <= low]
    if undefined:  # no normalised mean score exists: say why instead of drawing an empty plot
        message = (f"normalised score undefined: the {experiment.reference} final score is not above the random "
                   f"policy's on {', '.join(undefined)} ({experiment.name}_normalization.csv)")
        warnings.warn(f"{experiment.name}: {message}", stacklevel=2)
        figure = _titled(_message_figure(message), experiment, studies)
        return _save(figure, out_dir / f"{experiment.name}.png")
    labels = list(experiment.labels) or None
    analysis.write_csv(analysis.score_vs_added_data(rows, labels=labels, score_references=ranges),
                       out_dir / f"{experiment.name}.csv")
    figure = _titled(analysis.plot_score_vs_added_data(rows, labels=labels, score_references=ranges), experiment,
                     studies)
    mean = {analysis.NORMALIZED_MEAN_TASK: analysis.normalized_mean_rows(rows, ["score"], score_references=ranges)}
    write_final_table(experiment, final_table(experiment, mean, ["score"]), out_dir)
    return _save(figure, out_dir / f"{experiment.name}.png")


def _message_figure(message: str):
    with paper_style():
        figure = new_figure(5.0, 2.5)
        ax = figure.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, textwrap.fill(message, 70), ha="center", va="center", transform=ax.transAxes)
    return figure


def position_field(buffer) -> dict:
    """Where a maze buffer keeps (x, y): the recorded "position" (vision maze), else obs[:2] (proprio)."""
    return {"field": "position"} if "position" in buffer.data else {"field": "obs", "dims": (0, 1)}


def render_maze_trajectories(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> dict:
    (task, _), run_dir = next(iter(studies.items()))
    traces = load_traces(run_dir)
    buffer = active_buffer(run_dir, _first_tag(run_dir))  # Passive and Tandem train on this buffer too
    buffers = dict.fromkeys(traces, buffer)
    figure = analysis.plot_maze_figure(read_rows(run_dir), traces, buffers, **position_field(buffer))
    _titled(figure, experiment, studies, f"{SEPARATOR}b-d) {_episode_of(run_dir)}")
    stats = analysis.trajectory_statistics(traces, buffers, **position_field(buffer))
    analysis.write_csv(stats, out_dir / f"{experiment.name}.csv")
    return _save(figure, out_dir / f"{experiment.name}.png")


def _episode_of(run_dir) -> str:
    """Which episode `load_traces` reads: the first seed's final test episode."""
    return f"seed {_config(run_dir).seed}'s final test episode"


def render_visitation(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> dict:
    (_, _), run_dir = next(iter(studies.items()))
    config = _config(run_dir)
    names = {0.0: "task-oriented", 1.0: "pure exploration"}
    datasets = {}
    for weight in config.expl_weights:
        tag = base_tag(config, config.seed, weight)
        datasets[names.get(weight, f"mixed (w_expl={weight:g})")] = active_buffer(run_dir, tag)
    where = position_field(next(iter(datasets.values())))
    figure = analysis.plot_visitation_heatmaps(datasets, **where)
    _titled(figure, experiment, studies, f"{SEPARATOR}seed {config.seed}'s final buffers")
    grids = {name: analysis.visitation_counts(buffer, **where) for name, buffer in datasets.items()}
    analysis.write_csv(analysis.cell_table(grids), out_dir / f"{experiment.name}.csv")
    return _save(figure, out_dir / f"{experiment.name}.png")


def render_traces(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> dict:
    """One figure per task (the first task's is <name>.png, the others <name>_<task>.png)."""
    figures = {}
    for (task, study), run_dir in studies.items():
        traces = load_traces(run_dir)
        suffix = "" if not figures else "_" + task.replace("/", "__")
        figure = analysis.plot_episode_traces(traces)
        _titled(figure, experiment, {(task, study): run_dir}, f"{SEPARATOR}{_episode_of(run_dir)}")
        analysis.write_csv(analysis.trace_table(traces), out_dir / f"{experiment.name}{suffix}.csv")
        figures.update(_save(figure, out_dir / f"{experiment.name}{suffix}.png"))
    return figures


def render_decoded(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> dict:
    (_, _), run_dir = next(iter(studies.items()))
    figure = analysis.plot_decoded_vs_true(load_traces(run_dir))
    _titled(figure, experiment, studies, f"{SEPARATOR}{_episode_of(run_dir)}")
    return _save(figure, out_dir / f"{experiment.name}.png")


def render_table(experiment: Experiment, studies: dict, out_dir: pathlib.Path) -> dict:
    """Table S2 (no test: the Active adds no data), plus every curve's final score with its t-test."""
    rows = task_rows(experiment, studies)
    table = analysis.self_generated_table(rows, labels=["passive_auto"])
    analysis.write_csv(table, out_dir / f"{experiment.name}.csv")
    markdown = analysis.markdown_table(table, value_format=TABLE_S2_FORMAT)
    (out_dir / f"{experiment.name}.md").write_text(f"# {experiment.title}\n\n{markdown}\n")
    write_final_table(experiment, final_table(experiment, rows, ["score"]), out_dir)
    figure = _titled(analysis.plot_curve_grid(rows, ("self_generated_pct", "score")), experiment, studies)
    return _save(figure, out_dir / f"{experiment.name}.png")


# The figures the evidence experiment draws from its studies: (name, roles shown, agent variants, metrics).
EVIDENCE_FIGURES = (
    ("fig3", ("base",), ("active", "passive", "tandem"), ("score", "eval_wm_loss", "ood_ratio")),
    ("fig4", ("splits",), ("active", "passive", "passive_expert"), ("score", "eval_wm_loss")),
    ("fig6", ("base", "expl_data"), ("active", "passive", "tandem"), ("score", "eval_wm_loss")),
    ("fig8", ("self_generated",), ("active", "passive", "passive_fixed", "passive_auto"),
     ("score", "eval_wm_loss", "ood_ratio", "self_generated_pct")),
)


def evidence_finals(studies: dict, roles: dict, tasks) -> dict:
    """{task: {(role, label, metric): {seed: final value}}} for the findings (analysis.evidence)."""
    out = {}
    for task in tasks:
        finals = {}
        for role, study in roles.items():
            if (task, study) not in studies:
                continue
            rows = read_rows(studies[(task, study)])
            for metric in analysis.evidence.METRICS:  # a metric no row has yields no labels
                for label, by_seed in analysis.final_seed_values(rows, metric).items():
                    finals[(role, label, metric)] = {seed: value for seed, (_, value) in by_seed.items()}
        out[task] = finals
    return out


def _study_facts(run_dir) -> dict:
    summary = RunLayout(run_dir).summary
    facts = {"run_dir": pathlib.Path(run_dir).name}
    if summary.exists():
        saved = json.loads(summary.read_text())
        facts.update({k: saved.get(k) for k in ("wall_time_s", "phase_time_s", "placement")})
    return facts


def render_evidence(experiment: Experiment, studies: dict, out_dir: pathlib.Path, *,
                    cache_file: pathlib.Path) -> dict:
    """NAME.json/.md (the findings' verdicts), NAME.png (their intervals), and Figs. 3, 4, 6 and 8 as
    NAME_figN.png/.csv drawn from the evidence studies (NAME: the experiment's name, so the evidence of several
    experiments at one scale sits side by side). Model-free studies draw their TD loss where DreamerV3's draw
    the world-model loss."""
    roles = dict(dict(experiment.options)["roles"])
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = list(dict.fromkeys(task for task, _ in studies))
    random_scores = random_policy_scores(studies, cache_file)
    configs = {study: _config(run_dir) for (_, study), run_dir in studies.items()}
    context = {
        "experiment": experiment.name, "title": experiment.title,
        "settings": {study: json.loads(config.to_json()) for study, config in configs.items()},
        "tasks": {task: {"random_policy_score": random_scores.get(task),
                         "studies": {study: _study_facts(run_dir) for (t, study), run_dir in studies.items()
                                     if t == task}} for task in tasks},
    }
    document = analysis.evidence.build_evidence(evidence_finals(studies, roles, tasks), context=context,
                                                random_scores=random_scores, roles=roles)
    analysis.evidence.validate_evidence(document)
    stem = experiment.name
    (out_dir / f"{stem}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out_dir / f"{stem}.md").write_text(f"# {experiment.title}\n\n{analysis.markdown_summary(document)}")
    figures = _save(analysis.plot_evidence(document, experiment.title), out_dir / f"{stem}.png")
    step_loss = {config.family.loss_name for config in configs.values()}
    if len(step_loss) != 1:
        raise ValueError(f"{experiment.name}: its studies mix agent families ({sorted(step_loss)})")
    step_loss_metric = f"eval_{step_loss.pop()}_loss"
    for name, shown_roles, variants, metrics in EVIDENCE_FIGURES:
        if not set(shown_roles) <= set(roles):  # an experiment for some findings draws only their figures
            continue
        shown_studies = {(task, roles[role]) for role in shown_roles for task in tasks}
        subset = {key: run_dir for key, run_dir in studies.items() if key in shown_studies}
        labels = [label for label in analysis.curve_styles(row for rows in task_rows(experiment, subset).values()
                                                           for row in rows)
                  if curve_info(label).agent in variants]
        figure = dataclasses.replace(
            experiment, name=f"{experiment.name}_{name}",
            title=f"Fig. {name.removeprefix('fig')} from the {experiment.name} studies",
            studies=tuple(spec for spec in experiment.studies if spec.name in {roles[r] for r in shown_roles}),
            metrics=tuple(step_loss_metric if m == "eval_wm_loss" else m for m in metrics), labels=tuple(labels),
            options=(("normalized", False),),
            baseline="active" if name == "fig6" else None)
        figures.update(render_curves(figure, subset, out_dir, cache_file=cache_file))
    return figures


def render_offline_ood(experiment: Experiment, studies: dict, out_dir: pathlib.Path, *,
                       cache_file: pathlib.Path) -> dict:
    """offline_ood.json/.md: per task, each offline signal's Spearman correlation with the eval OOD ratio and
    with the score gap to the Active, and the eval-armed vs offline-armed Passive; offline_ood_signals[_task].png
    the scatter behind the correlations; offline_ood.png/.csv the curves of every signal."""
    rows = task_rows(experiment, studies)
    document, report, signal_figures = {}, [f"# {experiment.title}\n"], {}
    for task, task_rows_ in rows.items():
        validation = analysis.signal_validation(analysis.offline_ood.distinct_curves(task_rows_))
        comparison = analysis.schedule_comparison(task_rows_)
        document[task] = {"validation": validation, "comparison": comparison}
        report += [f"## {task}\n", analysis.offline_ood.markdown_report(validation, comparison)]
        suffix = "" if len(rows) == 1 else "_" + task.replace("/", "_")
        task_studies = {key: run_dir for key, run_dir in studies.items() if key[0] == task}
        figure = analysis.plot_signal_validation(task_rows_, validation, figure_title(experiment, task_studies))
        signal_figures.update(_save(figure, out_dir / f"{experiment.name}_signals{suffix}.png"))
    (out_dir / f"{experiment.name}.json").write_text(json.dumps(document, indent=1) + "\n")
    (out_dir / f"{experiment.name}.md").write_text("\n".join(report))
    return {**render_curves(experiment, studies, out_dir, cache_file=cache_file), **signal_figures}


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
    "added_data": render_added_data,
    "evidence": render_evidence,
    "offline_ood": render_offline_ood,
}
NORMALISING_RENDERERS = ("curves", "added_data", "evidence", "offline_ood")  # they may need the random-policy scores
