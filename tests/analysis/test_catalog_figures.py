"""Every catalog entry rendered at smoke and cpu scale from fake studies (no training): each figure's title
states what the saved configs ran (seeds, env steps, every swept value drawn) and never the paper's values
when the scale ran others; legends use the paper's names and say what the shaded band is. One entry of each
layout is also written to PNG and measured: its legend covers no panel and nothing widens the canvas.

The figures are checked as matplotlib objects (style.figure_texts); only the layout cases draw them, as
drawing (constrained layout) costs most of the time."""

from __future__ import annotations

import re

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from experiments import render
from experiments.catalog import EXPERIMENTS
from experiments.runner import study_dir
from experiments.spec import RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED
from offon_jit.analysis import RandomPolicySetting
from offon_jit.analysis.random_scores import write_cache
from offon_jit.analysis.style import DISPLAY_NAMES, HPARAM_SYMBOLS, curve_info, figure_texts, format_value
from offon_jit.engine.variants import VARIANTS
from tests.analysis.synthetic import fake_study

SCALES = ("smoke", "cpu")
CURVE_RENDERERS = ("curves", "table", "offline_ood")  # main figure: a curve grid with a band
RAW_NAMES = re.compile(r"passive_|tandem_|_init|fixed_interval|ood_threshold|offline_threshold|expl_weight")
DRAW_DPI = 30


def flat(text: str) -> str:
    """A title as one line (the figure wraps it to its width)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    """Every study of every entry at both scales, and a random-policy score per task and episode setting
    (so rendering measures nothing)."""
    root = tmp_path_factory.mktemp("catalog")
    scores = {}
    for experiment in EXPERIMENTS.values():
        for scale in SCALES:
            for task in experiment.tasks_for(scale):
                for spec in experiment.studies:
                    run_dir = study_dir(root, scale, task, spec)
                    config = spec.config(task, scale, out_dir=str(run_dir))
                    if not run_dir.exists():
                        fake_study(run_dir, config)
                    setting = RandomPolicySetting(task, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED,
                                                  config.episode_length, config.sticky_prob)
                    scores[setting.key] = {**setting.fields(), "mean": 1.0}
    cache = root / "random_scores.json"
    write_cache(cache, scores)
    return root, cache


def rendered(name: str, scale: str, fake_root, monkeypatch, draw: bool = False) -> tuple[dict, dict]:
    """{path: Figure} of the entry at `scale`, and its studies' configs; written to PNG only if `draw`."""
    root, cache = fake_root
    monkeypatch.setattr(render, "DPI", DRAW_DPI)
    if not draw:
        monkeypatch.setattr(render, "_save", lambda figure, path: {path: figure})
    experiment = EXPERIMENTS[name]
    studies = {(task, spec.name): study_dir(root, scale, task, spec)
               for task in experiment.tasks_for(scale) for spec in experiment.studies}
    configs = {key: spec.config(key[0], scale, out_dir=str(run_dir))
               for spec in experiment.studies for key, run_dir in studies.items() if key[1] == spec.name}
    figures = render.render_figures(experiment, studies, root / scale / "figures", random_scores_file=cache)
    return figures, configs


def drawn_agents(experiment) -> set[str] | None:
    return {curve_info(label).agent for label in experiment.labels} or None


def check_title_states_the_configs(title: str, experiment, scale: str, configs: dict) -> None:
    assert title.startswith(flat(experiment.title_for(scale))), title
    drawn = drawn_agents(experiment)
    for (task, study), config in configs.items():
        seeds = f"{config.num_seeds} seed{'s' if config.num_seeds > 1 else ''} × "
        assert seeds in title, (seeds, title)
        if config.expl_weights != (0.0,):
            assert "w_expl=" + ", ".join(f"{w:g}" for w in config.expl_weights) in title
        paper = experiment.studies[[s.name for s in experiment.studies].index(study)].config(task, "paper", "")
        for agent in config.agents:
            variant = VARIANTS[agent]
            if variant.hparam is None or (drawn is not None and agent not in drawn):
                continue
            name = variant.hparam_name
            ran = ", ".join(format_value(name, v) for v in getattr(config, variant.hparam))
            assert f"{DISPLAY_NAMES[agent]} {HPARAM_SYMBOLS[name]}={ran}" in title, title
            paper_values = ", ".join(format_value(name, v) for v in getattr(paper, variant.hparam))
            if paper_values != ran:  # never the paper's values over curves that used others (spaced or not)
                assert f"{HPARAM_SYMBOLS[name]}={paper_values}".replace(" ", "") not in title.replace(" ", "")
    tasks = {task for task, _ in configs}
    if len(tasks) == 1:
        assert next(iter(tasks)) in title


def check_legend(texts: dict, swept: dict, band_seeds: set[int] | None, drawn: set[str] | None = None) -> None:
    """Every curve named as the paper names it; each swept value of `swept` configs' drawn agents has its
    entry; the band is named with the configs' seed count (`band_seeds`; None: the figure draws no band)."""
    legend = texts["legend"]
    assert legend, "every figure with curves has a legend"
    names = tuple(sorted(set(DISPLAY_NAMES.values()) | {"Passive-diff"}, key=len, reverse=True))
    for entry in legend:
        if entry.startswith(("shaded:", "Active (task only)")):
            continue
        assert not RAW_NAMES.search(entry), f"legend shows a variant name, not the paper's: {entry!r}"
        assert entry.startswith(names), entry
    for config in swept.values():
        for agent in config.agents:
            variant = VARIANTS[agent]
            if variant.hparam and (drawn is None or agent in drawn):
                symbol = HPARAM_SYMBOLS[variant.hparam_name]
                for value in getattr(config, variant.hparam):
                    label = f"{DISPLAY_NAMES[agent]} {symbol}={format_value(variant.hparam_name, value)}"
                    assert any(entry.startswith(label) for entry in legend), (label, legend)
    shaded = [entry for entry in legend if entry.startswith("shaded:")]
    if band_seeds and max(band_seeds) > 1:
        span = str(min(band_seeds)) if len(band_seeds) == 1 else f"{min(band_seeds)}-{max(band_seeds)}"
        assert shaded == [f"shaded: ±1 std over n={span} seeds"], legend
    else:
        assert shaded == [], legend


def check_layout(figure) -> None:
    """On a figure laid out by saving it: no legend (of the figure or of an axes) overlaps a panel, and
    neither a legend nor the title widens the canvas beyond the figure."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    panels = [ax.get_window_extent(renderer) for ax in figure.axes if ax.axison]
    legends = [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(panel) for panel in panels), "a legend covers a panel"
    width = figure.get_tightbbox(renderer).width
    assert width <= figure.get_figwidth() + 0.05, (width, figure.get_figwidth())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_catalog_figure_names_what_ran(name, scale, fake_root, monkeypatch):
    experiment = EXPERIMENTS[name]
    figures, configs = rendered(name, scale, fake_root, monkeypatch)
    seeds = {config.num_seeds for config in configs.values()}
    drawn = drawn_agents(experiment)
    assert next(iter(figures)).name == f"{name}.png"
    for path, figure in figures.items():
        texts = figure_texts(figure)
        title = flat(texts["title"])
        if experiment.render == "evidence" and path.name == f"{name}.png":  # the findings' intervals (evidence_report)
            continue
        if path.stem.startswith(f"{name}_fig"):  # the evidence experiment's Figs. 3, 4, 6 and 8
            figure_number = path.stem.removeprefix(f"{name}_fig")
            assert title.startswith(f"Fig. {figure_number} from the {name} studies"), title
            assert f"{configs[next(iter(configs))].num_seeds} seeds × " in title
            check_legend(texts, {}, seeds)
        elif path.stem.startswith(f"{name}_signals"):  # offline_ood's scatter: one task's points, no band
            task_configs = {key: config for key, config in configs.items() if key[0] in title}
            check_title_states_the_configs(title, experiment, scale, task_configs)
            check_legend(texts, task_configs, None)
        else:
            check_title_states_the_configs(title, experiment, scale, configs)
            if experiment.render in ("curves", "table", "offline_ood", "maze_trajectories"):
                check_legend(texts, configs, seeds, drawn)
            elif experiment.render == "added_data":
                check_legend(texts, configs, None, drawn)
                assert texts["legend_titles"] == [f"each point: one eval point, mean over n={min(seeds)} seeds"]
            else:  # heatmaps, traces, frames: titled panels, no curves
                assert not texts["legend"]


# One entry per layout: one task (metrics side by side, wrapped), tasks and the mean, the maze figure, the
# added-data scatter, the signals' scatter, one seed (no band).
LAYOUT_CASES = [("fig8", "cpu"), ("figS10", "smoke"), ("fig2", "smoke"), ("figS15", "smoke"), ("offline_ood", "cpu"),
                ("figS7", "cpu")]


@pytest.mark.parametrize("name,scale", LAYOUT_CASES)
def test_catalog_figure_layout_keeps_legends_off_the_data(name, scale, fake_root, monkeypatch):
    figures, _ = rendered(name, scale, fake_root, monkeypatch, draw=True)
    for path, figure in figures.items():
        assert path.exists() and path.stat().st_size > 1000
        check_layout(figure)


def test_layout_check_catches_a_legend_inside_the_axes(tmp_path):
    from offon_jit.analysis import plot_curve_grid, save_figure
    from tests.analysis.synthetic import random_rows

    figure = plot_curve_grid({"task": random_rows(num_seeds=2)}, ["score"])
    figure.axes[0].legend(loc="center")
    save_figure(figure, tmp_path / "covered.png", dpi=DRAW_DPI)
    with pytest.raises(AssertionError, match="covers a panel"):
        check_layout(figure)


def test_one_task_grids_lay_their_metrics_side_by_side(fake_root, monkeypatch):
    """cpu-scale Fig. 8 runs one task: its three metrics form one row (no narrow column on a wide canvas),
    titled by metric, and the legend is the paper's names in the legend order of the families."""
    figures, _ = rendered("fig8", "cpu", fake_root, monkeypatch)
    figure = next(iter(figures.values()))
    texts = figure_texts(figure)
    assert texts["axes_titles"] == ["Episode score", "World model loss", "Self-generated data (%)"]
    assert len({round(ax.get_position().y0, 3) for ax in figure.axes}) == 1
    assert texts["legend"] == ["Active", "Passive", "Passive-fixed N=500", "Passive-fixed N=2K", "Passive-auto τ=1.35",
                               "shaded: ±1 std over n=2 seeds"]
    assert "Passive-fixed N=500, 2K · Passive-auto τ=1.35" in flat(texts["title"])
    assert "4K, 20K, 200K" not in flat(texts["title"])
