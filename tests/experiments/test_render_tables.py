"""Figs. S10, S15 and S16 rendered from saved rows (no training): normalised scores and t-tests, exactly.

Each fake study directory holds the config the runner would write and metrics rows with the
labels the engine gives its runs (engine.runs.run_label), with scores chosen here, so the
expected normalised values and p-values are computed by hand from the same numbers.
"""

import csv

import numpy as np
import pytest
from scipy import stats

from experiments import render
from experiments.catalog import EXPERIMENTS
from experiments.runner import study_dir
from experiments.spec import RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED
from offon_jit.analysis import RandomPolicySetting
from offon_jit.analysis.random_scores import read_cache, write_cache
from offon_jit.engine.runs import phase_runs, run_label
from offon_jit.engine.variants import VARIANTS
from offon_jit.metrics_log import write_rows

SCALE = "smoke"
REACH, MAZE = "debug/point_reach", "dmc/point_mass_maze-proprio"
MAZE_RANDOM = 2.0  # cached beforehand: the maze's MJX rollout is not compiled in this test


def score(task, agent, seed, steps, expl_weight, value):
    """Distinct, hand-checkable scores: an offset per task, agent, seed and exploration weight, rising with steps."""
    base = {REACH: 12.0, MAZE: 40.0}[task] + 3.0 * seed + 2.0 * expl_weight + (value or 0) / 100
    return base + {"active": 6.0, "passive": 1.0, "passive_same_init": 2.0, "tandem": 0.5}.get(agent, 4.0) * steps / 800


def fake_study(root, spec, task):
    run_dir = study_dir(root, SCALE, task, spec)
    config = spec.config(task, SCALE, out_dir=str(run_dir))
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.to_json())
    rows = []
    for agent in config.agents:
        variant = VARIANTS[agent]
        for run in phase_runs(config, variant):
            for steps in range(0, config.env_steps + 1, config.eval_interval):
                row = {"agent": agent, "label": run_label(config, variant, run), "seed": run.seed,
                       "expl_weight": run.expl_weight, "env_steps": steps, "eval_wm_loss": 1.0 + run.seed,
                       "ood_ratio": 1.1,
                       "score": score(task, agent, run.seed, steps, run.expl_weight, run.hparam_value)}
                if variant.hparam:
                    row.update(hparam=variant.hparam_name, hparam_value=run.hparam_value)
                if variant.interaction:
                    row["self_generated_pct"] = steps / 100 * (3.0 if run.hparam_value in (200, 1.35) else 1.0)
                rows.append(row)
    write_rows(run_dir, rows)
    return run_dir


def render_from_fakes(name, root, cache):
    experiment = EXPERIMENTS[name]
    studies = {}
    for task in experiment.tasks_for(SCALE):
        for spec in experiment.studies:
            run_dir = study_dir(root, SCALE, task, spec)
            studies[(task, spec.name)] = run_dir if run_dir.exists() else fake_study(root, spec, task)
    out = root / SCALE / "figures"
    figure = render.render(experiment, studies, out, random_scores_file=cache)
    assert figure.exists() and figure.stat().st_size > 5_000
    with open(out / f"{name}_final.csv") as f:
        final = {(r["task"], r["label"], r["metric"]): r for r in csv.DictReader(f)}
    return experiment, final, (out / f"{name}_final.md").read_text()


def finals(task, agent, expl_weight=0.0):
    return np.array([score(task, agent, seed, 800, expl_weight, None) for seed in (0, 1)])


def expected_normalized(agent, random, expl_weight=0.0):
    """Per seed: the mean over tasks of (final - random) / (Active's mean final - random)."""
    per_task = [(finals(t, agent, expl_weight) - random[t]) / (finals(t, "active").mean() - random[t]) for t in random]
    return np.mean(per_task, axis=0)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiments")
    cache = root / "random_scores.json"
    maze = RandomPolicySetting(MAZE, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, episode_length=50)
    write_cache(cache, {maze.key: {**maze.fields(), "mean": MAZE_RANDOM}})
    return root, cache


def test_fig_s10_normalises_by_random_and_the_active_final_score_and_tests_against_the_active(rendered):
    root, cache = rendered
    experiment, final, markdown = render_from_fakes("figS10", root, cache)
    entries = read_cache(cache)
    reach = RandomPolicySetting(REACH, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, episode_length=50)
    assert set(entries) == {reach.key, f"{MAZE}|episodes=100|seed=0|episode_length=50|sticky_prob=0"}
    random = {REACH: entries[reach.key]["mean"], MAZE: MAZE_RANDOM}
    assert 0 < random[REACH] < finals(REACH, "active").mean()  # a measured rollout of the reach task

    for agent in ("active", "passive", "passive_same_init", "tandem"):
        values = expected_normalized(agent, random)
        entry = final[("normalized_mean", agent, "score")]
        assert float(entry["mean"]) == pytest.approx(values.mean(), rel=1e-9)
        if agent == "active":
            assert float(entry["mean"]) == pytest.approx(1.0) and entry["test_note"] == "reference"
        else:
            expected = stats.ttest_ind(values, expected_normalized("active", random), equal_var=False)
            assert float(entry["p_value"]) == pytest.approx(float(expected.pvalue), rel=1e-6)
    passive = final[(REACH, "passive", "score")]
    expected = stats.ttest_ind(finals(REACH, "passive"), finals(REACH, "active"), equal_var=False)
    assert float(passive["p_value"]) == pytest.approx(float(expected.pvalue), rel=1e-9)
    assert passive["n_reference"] == "2" and passive["num_seeds"] == "2"
    assert f"(p = {float(expected.pvalue):.3f}, n = 2 vs 2)" in markdown
    assert experiment.title_for(SCALE) in markdown


def test_fig_s16_draws_the_exploration_agents_against_the_task_oriented_active(rendered):
    root, cache = rendered
    experiment, final, _ = render_from_fakes("figS16", root, cache)
    random = {REACH: read_cache(cache)[RandomPolicySetting(REACH, 100, 0, 50).key]["mean"], MAZE: MAZE_RANDOM}
    assert {label for (_, label, _) in final} == {*experiment.labels, "active"}
    entry = final[("normalized_mean", "passive [expl_data]", "score")]
    values = expected_normalized("passive", random, expl_weight=1.0)
    assert float(entry["mean"]) == pytest.approx(values.mean(), rel=1e-9)
    assert entry["reference"] == "active"  # the task-oriented Active: the dashed baseline and the normalised 1


def test_fig_s15_plots_normalised_score_against_added_data(rendered):
    root, cache = rendered
    experiment, final, _ = render_from_fakes("figS15", root, cache)
    random = {REACH: read_cache(cache)[RandomPolicySetting(REACH, 100, 0, 50).key]["mean"], MAZE: MAZE_RANDOM}
    with open(root / SCALE / "figures" / "figS15.csv") as f:
        points = [r for r in csv.DictReader(f) if r["env_steps"] == "800"]
    by_label = {r["label"]: r for r in points}
    assert set(by_label) == {"passive_fixed (fixed_interval=200)", "passive_fixed (fixed_interval=400)", "passive_auto"}
    auto = by_label["passive_auto"]
    assert float(auto["self_generated_pct"]) == pytest.approx(8 * 3.0)
    auto_finals = {t: np.array([score(t, "passive_auto", s, 800, 0.0, 1.35) for s in (0, 1)]) for t in random}
    expected = np.mean([(auto_finals[t] - random[t]) / (finals(t, "active").mean() - random[t]) for t in random])
    assert float(auto["normalized_score"]) == pytest.approx(expected, rel=1e-9)
    assert float(final[("normalized_mean", "passive_auto", "score")]["mean"]) == pytest.approx(expected, rel=1e-9)


def test_an_active_below_the_random_policy_leaves_the_normalised_score_undefined(tmp_path):
    """A smoke-length Active may not beat the random policy: its task's normalised score is NaN (warned), so
    the normalised mean is missing, while every task's own numbers and tests stay."""
    cache = tmp_path / "random_scores.json"
    reach = RandomPolicySetting(REACH, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, episode_length=50)
    maze = RandomPolicySetting(MAZE, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, episode_length=50)
    write_cache(cache, {reach.key: {**reach.fields(), "mean": 5.0}, maze.key: {**maze.fields(), "mean": 1000.0}})
    with pytest.warns(UserWarning, match=f"{MAZE}: reference 47.5 <= random 1000"):
        _, final, _ = render_from_fakes("figS10", tmp_path, cache)
    assert not any(task == "normalized_mean" for task, _, _ in final)
    assert final[(MAZE, "passive", "score")]["p_value"]
    with open(tmp_path / SCALE / "figures" / "figS10_normalization.csv") as f:
        rows = {r["task"]: r for r in csv.DictReader(f)}
    assert rows[MAZE]["defined"] == "False" and rows[REACH]["defined"] == "True"
    assert float(rows[REACH]["reference_score"]) == pytest.approx(finals(REACH, "active").mean())
    with pytest.warns(UserWarning, match="undefined"):
        figure = render.render(EXPERIMENTS["figS15"], {(t, "self_generated"): fake_study(tmp_path, EXPERIMENTS[
            "figS15"].studies[0], t) for t in (REACH, MAZE)}, tmp_path / SCALE / "figures", random_scores_file=cache)
    assert figure.exists() and not (tmp_path / SCALE / "figures" / "figS15_final.csv").exists()


def test_evidence_renders_every_finding_and_the_four_figures_from_saved_rows(tmp_path):
    """`offon-jit experiment evidence` from fake studies: a valid evidence.json whose claims use the rows' numbers."""
    import json

    from offon_jit.analysis import evidence

    cache = tmp_path / "random_scores.json"
    reach = RandomPolicySetting(REACH, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, 50)
    write_cache(cache, {reach.key: {**reach.fields(), "mean": 3.0}})
    experiment = EXPERIMENTS["evidence"]
    (task,) = experiment.tasks_for(SCALE)
    studies = {(task, spec.name): fake_study(tmp_path, spec, task) for spec in experiment.studies}
    out = tmp_path / SCALE / "figures"
    out.mkdir(parents=True)
    assert render.render(experiment, studies, out, random_scores_file=cache) == out / "evidence.png"
    document = json.loads((out / "evidence.json").read_text())
    evidence.validate_evidence(document)
    assert document["tasks"][task]["random_policy_score"] == 3.0
    above = document["active_above_random"][task]
    assert above["difference"] == pytest.approx(finals(task, "active").mean() - 3.0)
    (claim_a, _) = document["findings"]["a"]["per_task"][task]["claims"]
    assert claim_a["higher_values"]["values"] == pytest.approx(list(finals(task, "active")))
    assert claim_a["lower_values"]["values"] == pytest.approx(list(finals(task, "passive")))
    assert claim_a["verdict"] == "inconclusive"  # active - passive = 4 + 3 seed spread over 2 seeds: wide interval
    assert document["findings"]["b"]["verdict"] == "not reproduced"  # equal eval losses and OOD ratios
    claims_e = document["findings"]["e"]["per_task"][task]["claims"]
    assert [c["factor"] for c in claims_e] == [evidence.RECOVERY, 1.0, 1.0]  # recovery + two fixed schedules
    for name in ("fig3", "fig4", "fig6", "fig8"):
        assert (out / f"evidence_{name}.png").stat().st_size > 5_000
        assert (out / f"evidence_{name}.csv").exists()
    assert "| e |" in (out / "evidence.md").read_text()
