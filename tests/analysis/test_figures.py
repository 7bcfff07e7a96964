"""Every figure function writes a non-empty PNG of what it claims to draw, and rejects bad input clearly; curves
carry the paper's names, distinct colours and line styles per family, and a legend that says what the band is."""

import itertools
import json

import matplotlib.colors
import numpy as np
import pytest

from offon_jit.analysis import (
    aggregate,
    curve_grid_table,
    curve_styles,
    max_loss_step,
    plot_curve_grid,
    plot_decoded_vs_true,
    plot_episode_traces,
    plot_maze_figure,
    plot_score_vs_added_data,
    plot_visitation_heatmaps,
    save_figure,
    score_ranges,
    score_vs_added_data,
    trace_positions,
    trace_table,
    trajectory_statistics,
)
from offon_jit.analysis.curves import grid_layout
from offon_jit.analysis.style import (
    DISPLAY_NAMES,
    FAMILY_COLORS,
    FAMILY_PALETTES,
    band_label,
    display_names,
    figure_texts,
    label_name,
)
from offon_jit.engine.variants import VARIANTS
from offon_jit.metrics_log import write_rows
from offon_jit.plots import plot_run, run_facts, run_figure
from tests.analysis.synthetic import maze_trace, random_rows, two_task_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 2000


def test_curve_grid_draws_the_aggregated_means(tmp_path):
    rows = random_rows(num_seeds=2)
    task_rows = {"cheetah": rows, "walker": [dict(r, score=r["score"] * 2) for r in rows]}
    metrics = ["score", "eval_wm_loss", "self_generated_pct", "value_error"]
    random = {"cheetah": 5.0, "walker": 10.0}
    baselines = {"cheetah": 50.0, "walker": 100.0}
    fig = plot_curve_grid(task_rows, metrics, normalized_mean=True, baselines=baselines, random_scores=random)
    axes = np.array(fig.axes).reshape(len(metrics), 3)
    line = next(l for l in axes[0, 0].get_lines() if l.get_label() == "active")
    np.testing.assert_allclose(line.get_ydata(), aggregate(rows, "score")["active"].mean)
    assert any(np.allclose(l.get_ydata(), 50.0) and l.get_linestyle() == "--" for l in axes[0, 0].get_lines())
    ranges = score_ranges(task_rows, random_scores=random)
    mean_baseline = np.mean([(baselines[t] - ranges[t][0]) / (ranges[t][1] - ranges[t][0]) for t in task_rows])
    assert any(np.allclose(l.get_ydata(), mean_baseline) and l.get_linestyle() == "--" for l in axes[0, 2].get_lines())
    assert not axes[3, 2].axison  # value_error is not averaged across tasks
    assert [t.get_text() for t in fig.legends[0].get_texts()][-2:] == ["Active (task only)",
                                                                       "shaded: ±1 std over n=2 seeds"]
    assert_png(save_figure(fig, tmp_path / "grid.png"))
    table = curve_grid_table(task_rows, metrics, normalized_mean=True, random_scores=random)
    assert {e["task"] for e in table} == {"cheetah", "walker", "normalized_mean"}


def test_curve_grid_wraps_columns_and_restricts_labels():
    rows = random_rows(num_seeds=2)
    task_rows = {f"task{k}": [dict(r, score=r["score"] + k) for r in rows] for k in range(4)}
    fig = plot_curve_grid(task_rows, ["score"], normalized_mean=True, random_scores=dict.fromkeys(task_rows, 1.0),
                          labels=["passive"], max_columns=2)
    axes = np.array(fig.axes).reshape(3, 2)  # 4 tasks + the mean = 5 panels in blocks of 2
    assert [ax.get_title() for ax in axes.flat[:5]] == ["task0", "task1", "task2", "task3", "Normalized mean"]
    assert not axes[2, 1].axison
    drawn = axes[1, 1].get_lines()
    assert [l.get_label() for l in drawn] == ["passive"]
    np.testing.assert_allclose(drawn[0].get_ydata(), aggregate(task_rows["task3"], "score")["passive"].mean)
    table = curve_grid_table(task_rows, ["score"], normalized_mean=True, random_scores=dict.fromkeys(task_rows, 1.0),
                             labels=["passive"])
    assert {e["label"] for e in table} == {"passive", "active"}  # the reference stays in the numbers
    with pytest.raises(ValueError, match="max_columns"):
        plot_curve_grid(task_rows, ["score"], max_columns=0)
    with pytest.warns(UserWarning, match="undefined"):  # random above the Active's final score on task0
        fig = plot_curve_grid(task_rows, ["score"], normalized_mean=True,
                              random_scores={**dict.fromkeys(task_rows, 1.0), "task0": 1e3})
    assert [t.get_text() for t in fig.axes[-1].texts] == ["undefined:\nreference score\n<= random score"]


def test_curve_grid_errors():
    task_rows = two_task_rows()
    with pytest.raises(KeyError, match="unknown metric 'wm_loss'"):
        plot_curve_grid(task_rows, ["score", "wm_loss"])
    with pytest.raises(ValueError, match="no metric rows"):
        plot_curve_grid({"a": []})
    with pytest.raises(KeyError, match=r"baselines for unknown tasks \['c'\]"):
        plot_curve_grid(task_rows, ["score"], baselines={"c": 1.0})
    with pytest.raises(KeyError, match="unknown curve labels"):
        plot_curve_grid(task_rows, ["score"], labels=["tandem"])
    with pytest.raises(ValueError, match="reserved"):
        plot_curve_grid({"normalized_mean": task_rows["a"]}, ["score"])
    with pytest.raises(ValueError, match="non-empty list of metric names"):
        plot_curve_grid(task_rows, "score")
    with pytest.raises(ValueError, match="normalized_mean needs one of"):
        plot_curve_grid({"a": random_rows()}, ["value_error"], normalized_mean=True)
    with pytest.raises(ValueError, match="random-policy score"):
        plot_curve_grid(task_rows, ["score"], normalized_mean=True)


def cielab(color) -> np.ndarray:
    """sRGB -> CIELAB (D65): distances in it approximate how different two colours look."""
    rgb = np.array(matplotlib.colors.to_rgb(color))
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 0.008856 ** 3))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_styles_follow_the_paper_families_and_stay_distinct():
    rows = [{"agent": a, "seed": 0, "env_steps": 0, **extra} for a, extra in [
        ("tandem", {}), ("passive", {}), ("active", {}), ("passive_expert", {}),
        ("passive_auto", {"label": "auto 2.0", "hparam_value": 2.0}),
        ("passive_auto", {"label": "auto 1.2", "hparam_value": 1.2}),
        ("passive_fixed", {"label": "passive_fixed (fixed_interval=500)"}),
    ]]
    styles = curve_styles(rows)
    assert list(styles) == ["active", "passive", "passive_expert", "passive_fixed (fixed_interval=500)", "auto 1.2",
                            "auto 2.0", "tandem"]
    for family in ("active", "passive", "tandem"):  # the plain agent: the family colour, solid
        assert styles[family].color == FAMILY_COLORS[family] and styles[family].linestyle == "-"
    assert len({s.color for s in styles.values()}) == len(styles)
    greyscale = [(s.marker, str(s.linestyle)) for s in styles.values()]  # what is left without colour
    assert len(set(greyscale)) == len(greyscale)
    assert {s.marker for label, s in styles.items() if label != "active" and label != "tandem"} == {"s"}


@pytest.mark.parametrize("family", sorted(FAMILY_PALETTES))
def test_curves_of_one_family_look_clearly_different(family):
    """Every two colours of a family palette are at least 20 CIELAB units apart (the issue: near-identical
    blues), and each stays in its family's hue range rather than borrowing another family's."""
    palette = FAMILY_PALETTES[family]
    assert palette[0] == FAMILY_COLORS[family] and len(set(palette)) == len(palette) >= 6
    for a, b in itertools.combinations(palette, 2):
        assert np.linalg.norm(cielab(a) - cielab(b)) >= 20, (a, b)


def test_display_names_are_the_papers():
    assert set(DISPLAY_NAMES) == set(VARIANTS), "every agent variant has a display name"
    row = {"seed": 0, "env_steps": 0}
    rows = [
        {**row, "agent": "active"}, {**row, "agent": "passive"}, {**row, "agent": "tandem"},
        {**row, "agent": "passive_fixed", "label": "passive_fixed (fixed_interval=2000)", "hparam": "fixed_interval",
         "hparam_value": 2000},
        {**row, "agent": "passive_fixed", "label": "passive_fixed (fixed_interval=200000)", "hparam": "fixed_interval",
         "hparam_value": 200000},
        # one threshold run: the label omits it, the row still names it
        {**row, "agent": "passive_auto", "label": "passive_auto", "hparam": "ood_threshold", "hparam_value": 1.35},
        {**row, "agent": "tandem_alpha", "label": "tandem_alpha", "hparam": "alpha", "hparam_value": 0.1},
        {**row, "agent": "active", "label": "active (expl_weight=0.5)"},
        {**row, "agent": "tandem", "label": "tandem [expl_data]"},
        {**row, "agent": "tandem_same_wm"}, {**row, "agent": "passive_frozen_wm"},
    ]
    assert list(display_names(rows).values()) == [
        "Active", "Passive", "Tandem", "Passive-fixed N=2K", "Passive-fixed N=200K", "Passive-auto τ=1.35",
        "Tandem-α α=0.1", "Active w_expl=0.5", "Tandem [expl_data]", "Tandem_sameWM", "Passive_sameWM(frozen)"]
    # Beside the Passive-same, the plain Passive is the paper's Passive-diff (Figs. S6, S10, S11, S16, S17).
    assert display_names([{**row, "agent": "passive"}, {**row, "agent": "passive_same_init"}]) == {
        "passive": "Passive-diff", "passive_same_init": "Passive-same"}
    assert label_name("passive_offline_auto (offline_threshold=1.2)") == "Passive-offline-auto τ=1.2"
    assert label_name("Active (task only)") == "Active (task only)"  # not a run label: shown as given
    assert label_name("my_own_variant") == "my_own_variant"
    # two curves never read the same: a collision keeps the run label beside the name
    auto = {**row, "agent": "passive_auto", "hparam": "ood_threshold", "hparam_value": 1.35}
    same = [{**auto, "label": "passive_auto"}, {**auto, "label": "passive_auto [other]"}, {**auto, "label": "b"},
            {**row, "agent": "passive", "label": "b"}]
    assert display_names(same) == {"passive_auto": "Passive-auto τ=1.35", "passive_auto [other]":
                                   "Passive-auto τ=1.35 [other]", "b": "b"}
    twins = [{**auto, "label": "passive_auto"}, {**auto, "label": "passive_auto (ood_threshold=1.35)"}]
    assert display_names(twins) == {"passive_auto": "Passive-auto τ=1.35 (passive_auto)",
                                    "passive_auto (ood_threshold=1.35)":
                                    "Passive-auto τ=1.35 (passive_auto (ood_threshold=1.35))"}


def test_band_label_names_what_the_shading_is():
    assert band_label([3, 3]) == "shaded: ±1 std over n=3 seeds"
    assert band_label([1, 3]) == "shaded: ±1 std over n=1-3 seeds"
    assert band_label([1]) is None  # one seed: no band drawn, none named
    one_seed = [r for r in random_rows(num_seeds=1)]
    texts = figure_texts(plot_curve_grid({"t": one_seed}, ["score"]))
    assert not any(t.startswith("shaded") for t in texts["legend"])


def test_grid_layout_follows_the_number_of_panels():
    assert grid_layout(1, 3)[:2] == (1, 3)  # one task: metrics side by side
    assert grid_layout(1, 6)[:2] == (2, 3)  # wrapped into balanced rows
    assert grid_layout(3, 2)[:2] == (2, 3)  # tasks as columns, metrics as rows
    assert grid_layout(5, 2, max_columns=4)[:2] == (4, 3)  # 3 + 2 columns, not 4 + 1
    rows, width, positions = grid_layout(32, 1, max_columns=8)  # Figs. S10-S17: 31 tasks and the mean
    assert (rows, width) == (4, 8) and positions[(31, 0)] == (3, 7)
    with pytest.raises(ValueError, match="max_columns"):
        grid_layout(2, 1, max_columns=0)


def test_one_task_grid_is_a_row_titled_by_metric_with_the_task_in_the_title():
    fig = plot_curve_grid({"debug/point_reach": random_rows(num_seeds=2)}, ["score", "eval_wm_loss"], title="Fig. X")
    texts = figure_texts(fig)
    assert texts["axes_titles"] == ["Episode score", "World model loss"]
    assert texts["title"] == "Fig. X\ndebug/point_reach"
    assert texts["legend"] == ["Active", "Passive", "Passive-auto τ=1.35", "shaded: ±1 std over n=2 seeds"]
    assert fig.axes[0].get_position().y0 == pytest.approx(fig.axes[1].get_position().y0)


def test_run_plots_name_the_task_and_seeds(tmp_path):
    rows = random_rows(num_seeds=3)
    write_rows(tmp_path, rows)
    assert run_facts(tmp_path) == ""  # no config.json: the title leaves it out
    (tmp_path / "config.json").write_text(json.dumps({"task": "debug/point_reach", "num_seeds": 3}))
    assert run_facts(tmp_path) == "debug/point_reach, 3 seeds"
    texts = figure_texts(run_figure(rows, "score", run_facts(tmp_path)))
    assert texts["title"] == "Episode score\ndebug/point_reach, 3 seeds"
    assert texts["legend"] == ["Active", "Passive", "Passive-auto τ=1.35", "shaded: ±1 std over n=3 seeds"]
    assert run_figure(rows, "ood_ratio") is None  # no row has it: no plot
    paths = plot_run(tmp_path)
    assert [p.name for p in paths] == ["score.png", "eval_wm_loss.png", "value_error.png", "self_generated_pct.png"]
    for path in paths:
        assert_png(path)
    (tmp_path / "config.json").write_text("{not json")
    assert run_facts(tmp_path) == ""  # unreadable: left out, the plots still work
    assert plot_run(tmp_path)


def maze_case():
    rng = np.random.default_rng(0)
    route = np.clip(np.linspace([-0.3, 0.3], [0.3, -0.3], 2000) + rng.normal(0, 0.03, (2000, 2)), -0.39, 0.39)
    steps = 60
    valid = np.arange(steps) < 50
    traces = {
        "active": maze_trace(np.linspace([-0.3, 0.3], [0.3, -0.3], steps), np.full(steps, 1.0), valid, frames=True),
        "passive": maze_trace(np.linspace([-0.3, 0.3], [-0.35, -0.35], steps), np.linspace(1, 5, steps), valid),
    }
    return route, traces


def test_maze_figures_write_pngs_and_report_their_numbers(tmp_path):
    route, traces = maze_case()
    rows = [r for r in random_rows(num_seeds=2) if r["agent"] in ("active", "passive")]
    buffers = {"active": route, "passive": route}
    assert_png(save_figure(plot_maze_figure(rows, traces, buffers, bins=20), tmp_path / "fig2.png"))
    explore = np.random.default_rng(1).uniform(-0.4, 0.4, (2000, 2))
    assert_png(save_figure(plot_visitation_heatmaps({"task": route, "exploration": explore}, bins=20), tmp_path / "fig5.png"))
    stats = {s["label"]: s for s in trajectory_statistics(traces, buffers, bins=20)}
    assert stats["active"]["steps"] == 50 and stats["active"]["buffer_steps"] == 2000
    assert stats["active"]["median_visitation"] > stats["passive"]["median_visitation"]
    assert stats["passive"]["mean_wm_loss"] == pytest.approx(np.linspace(1, 5, 60)[:50].mean())


def test_maze_figure_errors():
    route, traces = maze_case()
    rows = random_rows(num_seeds=1)
    with pytest.raises(KeyError, match=r"no buffer for traces \['passive'\]"):
        plot_maze_figure(rows, traces, {"active": route})
    no_position = {"active": {k: v for k, v in traces["active"].items() if k != "position"}}
    with pytest.raises(KeyError, match="no 'position'"):
        plot_maze_figure(rows, no_position, {"active": route})
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_visitation_heatmaps({})


def test_episode_trace_figures(tmp_path):
    _, traces = maze_case()
    fig = plot_episode_traces(traces, highlights={"passive": [(10, 30)]})
    assert len(fig.axes) == 3 * 2
    drawn = fig.axes[1].get_lines()[0].get_ydata()  # row 0 (reward), column 1 (passive)
    assert np.isnan(drawn[50:]).all() and np.allclose(drawn[:50], traces["passive"]["reward"][:50])
    assert_png(save_figure(fig, tmp_path / "s3.png"))
    assert_png(save_figure(plot_decoded_vs_true(traces), tmp_path / "s4.png"))
    assert len(trace_table(traces)) == 120


def test_engine_style_traces_without_position_or_policy_input_loss(tmp_path):
    """The engine's traces/*.npz: proprio obs (T, 4) instead of "position", no policy_input_loss."""
    route, traces = maze_case()
    passive = traces["passive"]
    obs = np.concatenate([passive["position"], np.zeros((60, 2))], axis=1).astype(np.float32)
    engine_trace = {"reward": passive["reward"], "wm_loss": passive["wm_loss"], "valid": passive["valid"], "obs": obs,
                    "decoded": obs + 0.01}
    np.savez(tmp_path / "passive.npz", **engine_trace)
    with np.load(tmp_path / "passive.npz") as loaded:
        from_npz = {"passive": loaded}
        stats = trajectory_statistics(from_npz, {"passive": route}, bins=20)
        assert stats == trajectory_statistics({"passive": passive}, {"passive": route}, bins=20)
        np.testing.assert_allclose(trace_positions("passive", loaded), passive["position"], atol=1e-6)
        fig = plot_episode_traces(from_npz)
        assert len(fig.axes) == 2  # reward and wm_loss: the trace has no policy_input_loss
        with pytest.raises(KeyError, match="lack some of the quantities"):
            plot_episode_traces(from_npz, ["reward", "policy_input_loss"])
        with pytest.raises(ValueError, match="no trace has obs and decoded"):
            plot_decoded_vs_true(from_npz)
        assert_png(save_figure(plot_maze_figure(random_rows(num_seeds=1), from_npz, {"passive": route}, bins=20),
                               tmp_path / "fig2_from_npz.png"))


def test_max_loss_step_ignores_invalid_steps():
    _, traces = maze_case()
    trace = dict(traces["passive"])  # loss rises to step 59, but steps >= 50 are invalid
    assert max_loss_step(trace) == 49


def test_episode_trace_errors():
    _, traces = maze_case()
    short = dict(traces["active"], wm_loss=np.ones(10))
    with pytest.raises(ValueError, match=r"wm_loss must be a numeric array of shape \(60,\)"):
        plot_episode_traces({"active": short})
    with pytest.raises(KeyError, match="missing \\['valid'\\]"):
        plot_episode_traces({"a": {k: v for k, v in traces["active"].items() if k != "valid"}})
    with pytest.raises(ValueError, match="1-d bool"):
        plot_episode_traces({"a": dict(traces["active"], valid=np.ones(60))})
    with pytest.raises(ValueError, match="highlight"):
        plot_episode_traces(traces, highlights={"active": [(50, 70)]})
    with pytest.raises(KeyError, match="unknown trace quantities"):
        plot_episode_traces(traces, ["reward", "loss"])
    with pytest.raises(ValueError, match="no trace has obs and decoded"):
        plot_decoded_vs_true({"passive": traces["passive"]})
    with pytest.raises(ValueError, match="has no obs/decoded"):
        plot_decoded_vs_true(traces, steps={"passive": [3]})
    with pytest.raises(ValueError, match="must be ints in"):
        plot_decoded_vs_true(traces, steps={"active": [60]})
    with pytest.raises(ValueError, match="uint8"):
        plot_decoded_vs_true({"a": dict(traces["active"], decoded=traces["active"]["decoded"].astype(float))})


def test_score_vs_added_data(tmp_path):
    rows = random_rows(num_seeds=2)
    task_rows = {"a": rows, "b": [dict(r, score=r["score"] / 2) for r in rows]}
    references = score_ranges(task_rows, random_scores={"a": 0.0, "b": 0.0})
    table = score_vs_added_data(task_rows, score_references=references)
    assert {e["label"] for e in table} == {"passive_auto (ood_threshold=1.35)"}  # the only one adding data
    pct = aggregate(rows, "self_generated_pct")["passive_auto (ood_threshold=1.35)"].mean
    np.testing.assert_allclose([e["self_generated_pct"] for e in table], pct)  # same pct in both tasks
    assert_png(save_figure(plot_score_vs_added_data(task_rows, score_references=references), tmp_path / "s15.png"))


def test_save_figure_errors(tmp_path):
    with pytest.raises(ValueError, match="matplotlib Figure"):
        save_figure("not a figure", tmp_path / "x.png")
    fig = plot_curve_grid(two_task_rows(), ["score"])
    with pytest.raises(ValueError, match="suffix"):
        save_figure(fig, tmp_path / "x")
