"""The jitted engine end to end on a tiny MinAtar study (2 seeds, 2 eval chunks).

One module-scoped study (Active + lock-step Tandem, then Passive) is shared by most
tests; the others rerun parts of it and compare exactly.
"""

import json

import jax
import numpy as np
import pytest

from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine.study import Study, TrainingDivergedError
from offon_jit.metrics_log import read_rows
from offon_jit.replay import load_buffer
from tests.engine.compare import (assert_passive_buffer_is_the_saved_active_one, assert_rows_close, assert_trees_close,
                                  run_keeping_final_states)

SMALL = dict(
    task="minatar/breakout",
    num_seeds=2,
    env_steps=64,
    eval_interval=32,
    prefill=64,
    batch_size=4,
    seq_len=16,
    eval_episodes=2,
    episode_length=40,
)
def small_config(tmp_path, name, **changes) -> RunConfig:
    return RunConfig(**{**SMALL, "out_dir": str(tmp_path / name), **changes})


@pytest.fixture(scope="module")
def full_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    return run_keeping_final_states(small_config(root, "full"))


def test_outputs_written(full_study):
    study, summary, _ = full_study
    run_dir = study.run_dir
    rows = read_rows(run_dir)
    assert len(rows) == 3 * 2 * 3  # agents x seeds x eval points (env step 0, then one per chunk)
    assert {r["agent"] for r in rows} == {"active", "passive", "tandem"}
    assert sorted({r["env_steps"] for r in rows}) == [0, 32, 64]
    csv_lines = (run_dir / "metrics.csv").read_text().strip().splitlines()
    assert len(csv_lines) == len(rows) + 1
    assert RunConfig.from_json((run_dir / "config.json").read_text()) == study.config
    assert list((run_dir / "tensorboard").iterdir())
    for name in ("score.png", "eval_wm_loss.png"):
        assert (run_dir / "plots" / name).stat().st_size > 1000
    assert (run_dir / "buffers" / "active_seed0.npz").exists() and (run_dir / "buffers" / "active_seed1.npz").exists()
    for row in rows:
        assert np.isfinite(row["score"]) and row["eval_wm_loss"] > 0 and row["ood_ratio"] > 0
        assert row["train_steps"] == row["env_steps"] // 2  # one update every 2nd env step
    assert summary["final"].keys() == {"active", "passive", "tandem"}


def test_step_zero_rows_evaluate_the_initial_agents(full_study):
    """Each phase writes a row per agent and seed at env step 0, before any update: the evaluation of
    the phase's initial state (initial parameters; for the Active phase, the prefilled buffer)."""
    study, _, finals = full_study
    rows = [r for r in read_rows(study.run_dir) if r["env_steps"] == 0]
    assert sorted((r["agent"], r["seed"]) for r in rows) == [(a, s) for a in ("active", "passive", "tandem")
                                                             for s in (0, 1)]
    for row in rows:  # a measurement before training: no update, no train metrics
        assert row["train_steps"] == 0 and not [k for k in row if k.startswith("train_") and k != "train_steps"]
    for phase in study.phases:
        state = study.initial_state(phase)
        metrics = study.program(phase).evaluate_initial(state)
        for agent in phase.agents:
            initial, final = state[agent].agent.params["actor"], finals[phase.name][agent].agent.params["actor"]
            assert not all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(initial),
                                                                 jax.tree_util.tree_leaves(final)))
            for i, run in enumerate(study.local_runs(phase)):
                row = next(r for r in rows if r["agent"] == agent and r["seed"] == run.seed)
                assert metrics[agent].keys() <= row.keys()
                for name, values in metrics[agent].items():
                    np.testing.assert_allclose(row[name], float(values[i]), rtol=1e-5, atol=1e-6, err_msg=name)


def test_active_buffer_holds_every_step(full_study):
    study, _, _ = full_study
    buffer = load_buffer(study.run_dir / "buffers" / "active_seed0.npz")
    assert int(buffer.total_added) == SMALL["prefill"] + SMALL["env_steps"]
    # is_first marks episode starts: the very first row of each stream, and after each episode end.
    first = np.asarray(buffer.data["is_first"])
    assert first[:, 0].all()


def test_passive_buffer_unchanged_by_training(full_study):
    study, _, finals = full_study
    passive = finals["passive"]["passive"]
    assert_passive_buffer_is_the_saved_active_one(study.run_dir, passive, SMALL["num_seeds"])


def test_tandem_lock_step_equals_replay_from_log(full_study, tmp_path):
    """Same indices at every update: replaying the logged indices reproduces the lock-step Tandem."""
    study, _, finals = full_study
    logged = np.stack([
        np.concatenate([np.load(p) for p in sorted((study.run_dir / "batch_indices" / f"seed{seed}").glob("*.npy"))])
        for seed in (0, 1)
    ])
    assert logged.shape == (2, SMALL["env_steps"] // 2, SMALL["batch_size"], 2)
    replay, _, replay_finals = run_keeping_final_states(
        small_config(tmp_path, "replay", agents=("tandem",), active_run=str(study.run_dir)))
    lock_step = finals["active"]["tandem"]
    replayed = replay_finals["tandem"]["tandem"]
    assert_trees_close(lock_step.agent.params, replayed.agent.params)
    rows_lock = [r for r in read_rows(study.run_dir) if r["agent"] == "tandem"]
    # The replay-batch loss (and so the OOD ratio and the offline signals) samples the buffer as it is at
    # the eval point: the Active's growing buffer in lock-step, its final buffer when replaying. All else matches.
    assert_rows_close(rows_lock, read_rows(replay.run_dir), skip=("replay_wm", "ood_ratio", "offline_"))


@pytest.mark.slow  # a second full Active study (~40 s); offline chunks check the same property in test_remedies.py
def test_vmapped_seed_equals_single_seed_run(full_study, tmp_path):
    study, _, finals = full_study
    single, _, single_finals = run_keeping_final_states(
        small_config(tmp_path, "single", num_seeds=1, seed=1, agents=("active",)))
    vmapped = finals["active"]["active"]
    alone = single_finals["active"]["active"]
    seed1 = jax.tree_util.tree_map(lambda x: x[1:2], vmapped.agent.params)
    assert_trees_close(seed1, alone.agent.params)
    rows = [r for r in read_rows(study.run_dir) if r["agent"] == "active" and r["seed"] == 1]
    assert_rows_close(rows, read_rows(single.run_dir))


def test_existing_run_needs_resume(full_study):
    """Kill-and-resume equivalence is tested on a sharded run in test_sharding.py."""
    study, _, _ = full_study
    with pytest.raises(ConfigError, match="--resume"):
        Study(study.config, progress=False).run()


def test_nan_stops_with_named_metric_and_keeps_checkpoint(tmp_path, monkeypatch):
    # The full study's seeds and Active programs (compiled once, then from the persistent cache).
    config = small_config(tmp_path, "nan", agents=("active", "tandem"))
    original = Study._rows

    poison_at = {"step": 64}

    def poisoned(self, phase, state, out, metrics, clock):
        rows = original(self, phase, state, out, metrics, clock)
        if rows[0]["env_steps"] == poison_at["step"]:  # the second eval point
            rows[0]["train_wm_total"] = float("nan")
        return rows

    monkeypatch.setattr(Study, "_rows", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"active agent, seed 0: train_wm_total = nan at env step 64"):
        Study(config, progress=False).run()
    checkpoints = sorted(p.name for p in (tmp_path / "nan" / "checkpoints").iterdir() if p.name.isdigit())
    assert checkpoints == ["1"]  # the chunk-1 (good) state; the diverged chunk was not saved
    # Both agents' and seeds' rows of the step-0 and the first (good) eval points.
    assert sorted(r["env_steps"] for r in read_rows(tmp_path / "nan")) == [0] * 4 + [32] * 4
    # Diverged at the first evaluation: no checkpoint exists, and the message does not claim one.
    poison_at["step"] = 0
    with pytest.raises(TrainingDivergedError, match="seed 0: train_wm_total = nan at env step 0") as error:
        Study(small_config(tmp_path, "nan0", agents=("active", "tandem")), progress=False).run()
    assert "checkpoint" not in str(error.value)


def test_ood_ratio_is_one_when_eval_data_is_replay_data(full_study):
    """The ratio uses the training loss on both sides: identical data gives ~1."""
    from offon_jit.engine import evaluate
    from offon_jit.replay import buffer as replay

    _, _, finals = full_study
    active = jax.tree_util.tree_map(lambda x: x[0], finals["active"]["active"])
    seq_len = SMALL["seq_len"]
    # A buffer whose only sampleable windows are one fixed sequence: every stream holds it.
    window = replay.gather(active.buffer, np.array([[0, 20]]), seq_len)
    schema = replay.schema_of(active.buffer)
    one = replay.init_buffer(schema, capacity=seq_len * 4, num_envs=4)
    for t in range(seq_len):
        one = replay.add(one, {k: np.repeat(v[:, t], 4, axis=0) for k, v in window.items()})
    rows = {k: np.repeat(v, 4, axis=0) for k, v in window.items()}
    valid = np.ones((4, seq_len), bool)
    metrics = jax.jit(
        lambda a, r, v, b, k: evaluate.trajectory_metrics(a, r, v, b, k, batch_size=8, seq_len=seq_len)
    )(active.agent, rows, valid, one, jax.random.PRNGKey(0))
    assert abs(float(metrics["ood_ratio"]) - 1.0) < 0.05
    # And it is the same function the model trains with: train_step's wm_total on this batch matches.
    from offon_jit.dreamer import agent as agent_lib

    _, train_metrics = jax.jit(agent_lib.train_step)(active.agent, rows, jax.random.PRNGKey(1))
    np.testing.assert_allclose(float(train_metrics["wm_total"]), float(metrics["eval_wm_loss"]), rtol=0.05)


def test_bad_inputs_give_clear_errors(full_study, tmp_path):
    study, _, _ = full_study
    with pytest.raises(ConfigError, match="unknown task"):
        small_config(tmp_path, "x", task="minatar/pong")
    with pytest.raises(ConfigError, match="agents is empty"):
        small_config(tmp_path, "x", agents=())
    with pytest.raises(ConfigError, match="need active_run"):
        small_config(tmp_path, "x", agents=("passive",))
    with pytest.raises(ConfigError, match="nowhere is not a directory"):
        Study(small_config(tmp_path, "x", agents=("passive",), active_run=str(tmp_path / "nowhere")), progress=False).run()
    assert not (tmp_path / "x").exists()  # refused before anything was written
    # An Active run of another task (or other settings) does not fit this one: named field by field.
    other = Study(small_config(tmp_path, "y", task="minatar/freeway", agents=("passive",), env_steps=96,
                               active_run=str(study.run_dir)), progress=False)
    with pytest.raises(ConfigError, match="task: 'minatar/breakout' -> 'minatar/freeway'; env_steps: 64 -> 96"):
        other.run()
    config_json = json.loads((study.run_dir / "config.json").read_text())
    assert config_json["task"] == "minatar/breakout"


def test_cli_flags_map_onto_the_config_and_plot_regenerates(full_study, tmp_path):
    from offon_jit import cli

    study, _, _ = full_study
    parser = cli.build_parser()
    args = parser.parse_args(["run", "--task", "minatar/freeway", "--agents", "active,tandem", "--num-seeds", "3",
                              "--env-steps", "8000", "--model", "imag_horizon=10", "--eval-policy", "mode",
                              "--out-dir", str(tmp_path / "cli")])
    from offon_jit.run_command import config_from_args

    config = config_from_args(args)
    assert config.task == "minatar/freeway" and config.agents == ("active", "tandem") and config.num_seeds == 3
    assert config.model_overrides == (("imag_horizon", 10),) and config.eval_policy == "mode"
    assert config_from_args(parser.parse_args(["run"])) == RunConfig()  # no arguments: the main job
    for png in (study.run_dir / "plots").glob("*.png"):
        png.unlink()
    assert cli.main(["plot", str(study.run_dir)]) == 0
    assert (study.run_dir / "plots" / "score.png").exists()
