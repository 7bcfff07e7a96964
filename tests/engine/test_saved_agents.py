"""Saved agents and `offon-jit eval`: rebuilt bit for bit, evaluated as the study evaluates, filmed.

One tiny trained MinAtar study is shared by the module: the Active phase of test_engine.py's (Active
with a lock-step Tandem, 2 seeds, JAX-native), so that in one session its compiled programs come from
the persistent compilation cache. Its last metric rows are the reference the eval command must
reproduce. Bad input is table-driven: every case ends in one line on stderr and exit code 2, with
nothing written.
"""

import argparse
import json
import shutil

import imageio.v3 as iio
import jax
import numpy as np
import pytest

import envs
from offon_jit import saved_agents, video
from offon_jit.atomic import atomic_write
from offon_jit.cli import dispatch
from offon_jit.config import RunConfig
from offon_jit.dreamer.agent import init_agent
from offon_jit.engine.runs import base_runs, phase_runs, run_file_name
from offon_jit.engine.study import Study
from offon_jit.engine.variants import VARIANTS
from offon_jit.engine.host_simulator import HostSimulator
from offon_jit.engine.initial import StudyModels
from offon_jit.engine.phases import plan_phases
from offon_jit.engine.placement import make_placement
from offon_jit.eval_command import add_eval_parser, evaluation_key, read_run_config
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import read_rows
from tests.engine.test_engine import SMALL  # the same study (see the docstring)


def keep_final_agents(study, finals):
    """on_phase_end: the final state of each phase; the study has saved each run's agent by then."""

    def on_phase_end(phase, state):
        finals[phase.name] = state
        for agent in phase.agents:
            for run in study.local_runs(phase):
                stem = run_file_name(study.config, VARIANTS[agent], run)
                assert saved_agents.manifest_path(study.layout, stem).exists()

    return on_phase_end


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = RunConfig(**{**SMALL, "agents": ("active", "tandem"), "checkpoint_every": 0},
                       out_dir=str(tmp_path_factory.mktemp("saved") / "run"))
    finals = {}
    study = Study(config, progress=False)
    study.on_phase_end = keep_final_agents(study, finals)
    study.run()
    return study, {agent: state[agent].agent for state in finals.values() for agent in state}


def eval_cli(capsys, *argv):
    """`offon-jit eval ARGV`: (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="offon-jit")
    add_eval_parser(parser.add_subparsers(dest="command"))
    code = dispatch(parser, ["eval", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def eval_json(capsys, *argv) -> dict:
    code, out, err = eval_cli(capsys, *argv)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def same_leaves(a, b) -> bool:
    pairs = zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    return jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b) and all(
        np.asarray(x).dtype == np.asarray(y).dtype and np.array_equal(np.asarray(x), np.asarray(y)) for x, y in pairs)


@pytest.mark.parametrize("name", ["active", "tandem"])
def test_a_loaded_agent_is_the_final_agent_bit_for_bit(trained, name):
    study, finals = trained
    for i, seed in enumerate((0, 1)):
        agent, model_config, spec, manifest = saved_agents.load_agent(study.run_dir, name, seed)
        expected = jax.tree_util.tree_map(lambda x: np.asarray(x)[i], finals[name].replace(opt_states={}))
        assert same_leaves(agent, expected)  # parameters, normalisers, expl weight, counters
        assert agent.opt_states == {}
        assert model_config == agent.config == study.models.config_for(name)  # precision resolved on this backend
        assert spec == agent.spec == study.simulator.spec
        assert manifest["run"]["seed"] == seed and manifest["stem"] == f"{name}_seed{seed}"
        assert manifest["train_steps"] == int(np.asarray(finals[name].step)[i]) == study.config.env_steps // 2


def test_eval_reproduces_the_studys_last_evaluation(trained, capsys):
    study, _ = trained
    result = eval_json(capsys, study.run_dir, "--agent", "tandem", "--seed", 1)
    row = next(r for r in read_rows(study.run_dir)
               if r["agent"] == "tandem" and r["seed"] == 1 and r["env_steps"] == study.config.env_steps)
    assert result["seed"] == 1 and result["backend"] == "jax" and result["episodes"] == study.config.eval_episodes
    assert result["score"] == row["score"] and result["score_std"] == row["score_std"]
    assert result["score"] == pytest.approx(np.mean(result["scores"]))
    assert np.mean(result["episode_lengths"]) == pytest.approx(row["episode_length"])
    for name in ("eval_wm_loss", "eval_wm_image", "eval_wm_reward", "value_error", "policy_input_loss"):
        np.testing.assert_allclose(result[name], row[name], rtol=1e-5, err_msg=name)
    other = eval_json(capsys, study.run_dir, "--agent", "tandem", "--seed", 1, "--eval-seed", 5)
    assert other["key"] == "eval_seed 5" and other["eval_wm_loss"] != result["eval_wm_loss"]


def test_video_shows_the_observed_and_the_decoded_frames_of_one_episode(trained, capsys, tmp_path):
    study, _ = trained
    path = tmp_path / "episode.gif"
    result = eval_json(capsys, study.run_dir, "--agent", "active", "--video", path)  # seed: the lowest saved
    assert result["seed"] == 0 and result["video"] == str(path)
    frames = iio.imread(path)
    height, width, _ = study.simulator.spec.obs_shape
    factor = video.PANEL_SIZE // height
    assert result["video_frames"] == result["episode_lengths"][0] + 1 == len(frames)
    assert frames.shape[1:] == (video.CAPTION + height * factor, 2 * width * factor + video.GAP, 3)
    left, right = frames[:, video.CAPTION:, : width * factor], frames[:, video.CAPTION:, -width * factor:]
    assert left.max() > 0 and not np.array_equal(left, right)  # a tiny world model reconstructs imperfectly
    assert [p.name for p in tmp_path.iterdir()] == ["episode.gif"]  # no temporary file left


def test_host_backend_evaluates_and_films_the_same_agent(trained, capsys, tmp_path):
    """The run's config with backend host (the original MinAtar, same spec): the host simulator's rollout."""
    study, _ = trained
    run = tmp_path / "host_run"
    shutil.copytree(saved_agents.agents_dir(study.layout), saved_agents.agents_dir(RunLayout(run)))
    atomic_write(RunLayout(run).config, study.config.replace(backend="host", out_dir=str(run)).to_json())
    result = eval_json(capsys, run, "--agent", "active", "--episodes", 3, "--video", tmp_path / "host.mp4")
    assert result["backend"] == "host" and len(result["scores"]) == 3
    assert all(0 <= n <= study.config.episode_length for n in result["episode_lengths"])
    assert np.isfinite(result["eval_wm_loss"]) and result["score_std"] == pytest.approx(np.std(result["scores"]))
    assert len(iio.imread(tmp_path / "host.mp4")) == result["video_frames"] == result["episode_lengths"][0] + 1
    # Its first episode is the one the study's host simulator records (its tracer) with the same key.
    config = read_run_config(run).replace(eval_episodes=3)
    loaded = saved_agents.load_agent(run, "active")
    key, _ = evaluation_key(config, loaded.manifest, None)
    simulator = HostSimulator(config)
    try:
        record = simulator.tracer(StudyModels.create(config, simulator.spec), plan_phases(config)[0], make_placement(1))
        trace = jax.tree_util.tree_map(np.asarray, record(jax.tree_util.tree_map(lambda x: x[None], loaded.agent),
                                                          key[None]))
    finally:
        simulator.close()
    assert trace["valid"][0].sum() - 1 == result["episode_lengths"][0]
    assert trace["reward"][0][trace["valid"][0]].sum() == result["scores"][0]


# -- saved agents of hand-made runs (untrained agents on debug/point_reach: nothing is trained) ----------
@pytest.fixture(scope="module")
def vector_run(tmp_path_factory):
    """A run directory of debug/point_reach with an Active and passive_fixed swept over two intervals."""
    root = tmp_path_factory.mktemp("vector") / "run"
    config = RunConfig(out_dir=str(root), agents=("active", "passive_fixed"), num_seeds=2, fixed_intervals=(500, 1000))
    layout = RunLayout(root)
    atomic_write(layout.config, config.to_json())
    agent = init_agent(jax.random.PRNGKey(0), envs.get_task(config.task).spec, config.model_config())
    for run in base_runs(config):
        saved_agents.write_agent(layout, config, "active", run, agent)
    for run in phase_runs(config, VARIANTS["passive_fixed"]):
        saved_agents.write_agent(layout, config, "passive_fixed", run, agent)
    return layout


def test_agents_are_found_by_variant_swept_value_or_stem(vector_run):
    find = saved_agents.find_manifest
    assert find(vector_run, "active")["stem"] == "active_seed0"  # the lowest seed by default
    assert find(vector_run, "active", 1)["stem"] == "active_seed1"
    assert find(vector_run, "passive_fixed_fixed_interval1000", 1)["run"]["hparam_value"] == 1000
    assert find(vector_run, "passive_fixed_fixed_interval500_seed0")["stem"] == "passive_fixed_fixed_interval500_seed0"
    with pytest.raises(saved_agents.SavedAgentError, match="interval500_seed1, passive_fixed_fixed_interval1000_seed1"):
        find(vector_run, "passive_fixed", 1)


def test_params_from_another_save_are_refused(vector_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(vector_run.root, run)
    layout = RunLayout(run)
    params = layout.agent("active_seed0")
    params.write_bytes(layout.agent("passive_fixed_fixed_interval500_seed1").read_bytes()[:-1] + b"\0")
    with pytest.raises(saved_agents.SavedAgentError, match="does not match its manifest"):
        saved_agents.load_agent(run, "active", 0)


def _without_manifests(vector_run, tmp_path):
    run = tmp_path / "old_run"
    shutil.copytree(vector_run.root, run)
    for manifest in saved_agents.agents_dir(RunLayout(run)).glob("*.json"):
        manifest.unlink()
    return run


def _with_a_truncated_manifest(vector_run, tmp_path):
    run = tmp_path / "cut_run"
    shutil.copytree(vector_run.root, run)
    manifest = saved_agents.manifest_path(RunLayout(run), "active_seed1")
    manifest.write_text(manifest.read_text()[:100])
    return run


BAD_INPUT = [  # (case, argv after `eval` with {run}/{tmp} filled in, the message's telling part)
    ("missing run dir", ["{tmp}/nowhere", "--agent", "active"], "no run directory at"),
    ("not a run dir", ["{tmp}", "--agent", "active"], "is not a run directory: it has no config.json"),
    ("unknown agent", ["{run}", "--agent", "tandem"],
     "no saved agent 'tandem' in {run}; saved: active (seeds 0, 1), passive_fixed_fixed_interval500 (seeds 0, 1), "
     "passive_fixed_fixed_interval1000 (seeds 0, 1)"),
    ("unknown seed", ["{run}", "--agent", "active", "--seed", "7"],
     "no saved active agent with seed 7 in {run}; its seeds: 0, 1"),
    ("ambiguous", ["{run}", "--agent", "passive_fixed"], "2 saved agents match --agent passive_fixed with seed 0"),
    ("bad suffix", ["{run}", "--agent", "active", "--video", "{tmp}/a.avi"], "must end in .mp4 or .gif"),
    ("video exists", ["{run}", "--agent", "active", "--video", "{run}/config.json.gif"], "the file exists"),
    ("no episodes", ["{run}", "--agent", "active", "--episodes", "0"], "--episodes must be >= 1, got 0"),
    ("no frames", ["{run}", "--agent", "active", "--video", "{tmp}/a.mp4"],
     "debug/point_reach has vector observations, and frames of it cannot be rendered"),
    ("before manifests", ["{old}", "--agent", "active"], "was saved before agents carried manifests"),
    ("cut manifest", ["{cut}", "--agent", "active"], "active_seed1.json is not a readable agent manifest"),
]


@pytest.mark.parametrize("case, argv, message", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_one_line_and_exit_2(vector_run, tmp_path, capsys, case, argv, message):
    (vector_run.root / "config.json.gif").write_bytes(b"")  # an existing file to refuse overwriting
    names = {"run": vector_run.root, "tmp": tmp_path, "old": _without_manifests(vector_run, tmp_path),
             "cut": _with_a_truncated_manifest(vector_run, tmp_path)}
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = eval_cli(capsys, *(a.format(**names) for a in argv))
    assert code == 2 and out == ""
    assert err.startswith("offon-jit eval: ") and err.count("\n") == 1, err
    assert message.format(**names) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no video, nothing else written


# -- frames ----------------------------------------------------------------------------------------------
def test_object_channels_get_one_colour_each_and_panels_are_captioned():
    frames = np.zeros((2, 4, 4, 4), np.uint8)
    frames[0, 1, 2, 3] = 255  # one object of channel 3
    frames[1, 0, 0, 0] = 128  # channel 0 at half intensity
    rgb = video.to_rgb(frames)
    colours = np.round(video.channel_colours(4) * 255).astype(np.uint8)
    np.testing.assert_array_equal(rgb[0, 1, 2], colours[3])
    np.testing.assert_array_equal(rgb[1, 0, 0], np.round(colours[0] * (128 / 255)).astype(np.uint8))
    assert rgb[0].sum() == colours[3].sum() and len({tuple(c) for c in colours}) == 4
    np.testing.assert_array_equal(video.to_rgb(frames[..., :3]), frames[..., :3])  # RGB as is
    np.testing.assert_array_equal(video.to_rgb(frames[..., :1]), np.repeat(frames[..., :1], 3, axis=-1))
    joined = video.side_by_side({"a": frames, "b": frames})
    factor = video.PANEL_SIZE // 4
    assert joined.shape == (2, video.CAPTION + 4 * factor, 2 * 4 * factor + video.GAP, 3)
    scaled = np.repeat(np.repeat(rgb, factor, axis=1), factor, axis=2)
    np.testing.assert_array_equal(joined[:, video.CAPTION:, : 4 * factor], scaled)
    assert joined[:, : video.CAPTION].max() > 200  # the caption's white text
