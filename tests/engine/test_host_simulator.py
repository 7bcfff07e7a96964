"""Host simulators (the original MinAtar here) run every mechanism of the JAX-native path.

One study on `minatar/breakout --backend host`: Active, then passive_auto swept over two OOD
thresholds (1e-6 always bursts, as TD-loss ratios are positive; 1000 never) and passive_fixed over
N = 16 and 32 (equal run counts, so the two phases share compiled programs). Checked: the Active's
host data, burst sizes and placement, a swept run equals the same run alone (in another sweep
order), and an offline phase killed mid-way and resumed equals the uninterrupted one.

The study uses a small Double DQN: these mechanisms live in the engine's host driver and are the same for
every agent family, and DQN compiles in a fraction of DreamerV3's time. DreamerV3 (a recurrent policy
carry) on a host simulator is covered by tests/envs/test_register.py's gymnasium study.
"""

import numpy as np
import pytest
from flax import serialization

from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine.study import Study
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import read_rows
from offon_jit.replay import load_buffer
from tests.engine.bursts import assert_bursts_follow_active_data
from tests.engine.compare import assert_rows_close, assert_trees_close, run_keeping_final_states
from tests.engine.kills import SimulatedKill, kill_at

HOST = dict(algo="dqn", model_overrides=(("hidden", 32), ("conv_channels", 4)), task="minatar/breakout",
            backend="host", num_seeds=2, env_steps=64, eval_interval=32, prefill=64, batch_size=4, seq_len=16,
            eval_episodes=2, episode_length=30, burst_steps=64, ood_thresholds=(1e-6, 1000.0),
            fixed_intervals=(16, 32))
PER_STREAM = 64 // 4  # one burst: 64 steps over 4 envs


def host_config(tmp_path, name, **changes) -> RunConfig:
    return RunConfig(**{**HOST, "out_dir": str(tmp_path / name), **changes})


@pytest.fixture(scope="module")
def host_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("host")
    config = host_config(root, "full", agents=("active", "passive_auto", "passive_fixed"))
    return run_keeping_final_states(config)


def test_host_active_collects_real_frames_per_seed(host_study):
    study, _, _ = host_study
    rows = [r for r in read_rows(study.run_dir) if r["agent"] == "active"]
    assert sorted((r["seed"], r["env_steps"]) for r in rows) == [(s, t) for s in (0, 1) for t in (0, 32, 64)]
    for row in rows:
        assert np.isfinite(row["score"]) and row["eval_td_loss"] > 0 and 1 <= row["episode_length"] <= 30
    buffers = [load_buffer(study.layout.active_buffer(f"seed{s}")) for s in (0, 1)]
    assert int(buffers[0].total_added) == 64 + 64
    obs = np.asarray(buffers[0].data["obs"])
    assert set(np.unique(obs)) <= {0, 255} and obs.max() == 255  # real MinAtar frames were stored
    assert not np.array_equal(np.asarray(buffers[0].data["action"]), np.asarray(buffers[1].data["action"]))


@pytest.mark.parametrize("agent, runs, bursts", [
    ("passive_fixed", [16, 32], [3, 1]),  # due at env steps 16, 32 and 48; at 32
    # armed by the first evaluation after an update (the step-0 one arms none) only when the threshold is tiny
    ("passive_auto", [1e-6, 1000.0], [1, 0]),
])
def test_host_bursts_have_exact_sizes_and_leave_stored_data_alone(host_study, agent, runs, bursts):
    study, _, finals = host_study
    run = finals[agent][agent]
    for index, expected in enumerate(np.repeat(bursts, 2)):  # value-major: 2 seeds per value
        active = load_buffer(study.layout.active_buffer(f"seed{index % 2}"))
        obs = assert_bursts_follow_active_data(run, index, active, expected, 64, PER_STREAM)
        if expected:
            assert obs.max() == 255  # host frames, not zeros
    rows = [r for r in read_rows(study.run_dir) if r["agent"] == agent and r["env_steps"] == 64]
    assert sorted(r["self_generated_steps"] for r in rows) == sorted(np.repeat(bursts, 2) * 64)


def test_host_sweep_run_equals_the_same_run_alone(host_study, tmp_path):
    """The same two thresholds in the other order: each run's rows and parameters match by value and seed."""
    study, _, _ = host_study
    alone = host_config(tmp_path, "reordered", agents=("passive_auto",), ood_thresholds=(1000.0, 1e-6),
                        active_run=str(study.run_dir))
    Study(alone, progress=False).run()
    assert_rows_close([r for r in read_rows(study.run_dir) if r["agent"] == "passive_auto"], read_rows(alone.run_dir),
                      rtol=1e-5, atol=1e-5)
    for value in ("1e-06", "1000"):
        for seed in (0, 1):
            stem = f"passive_auto_ood_threshold{value}_seed{seed}"
            a, b = (serialization.msgpack_restore(RunLayout(d).agent(stem).read_bytes())
                    for d in (study.run_dir, alone.run_dir))
            assert_trees_close(a, b, rtol=1e-5, atol=1e-6)


def test_host_offline_phase_killed_and_resumed_equals_uninterrupted(host_study, tmp_path, monkeypatch, capsys):
    """Killed in passive_fixed's first chunk (after its step-0 rows, before any checkpoint): a resume starts
    again and writes the step-0 rows once. Killed then in its second chunk (its buffer already holds a burst),
    resumed from the checkpoint after its first: the rows written are exactly the missing ones, with the
    uninterrupted values. Then the final checkpoint's newest replay increment is corrupted: a resume names
    the file, falls back to the checkpoint before, trains the last chunk again and still ends where the
    uninterrupted run does."""
    study, _, _ = host_study
    config = host_config(tmp_path, "killed", agents=("passive_fixed",), active_run=str(study.run_dir))
    kill_at(monkeypatch, Study, "run_chunk", 1)
    with pytest.raises(SimulatedKill):
        Study(config, progress=False).run()
    monkeypatch.undo()
    assert [r["env_steps"] for r in read_rows(config.run_dir)] == [0] * 4
    kill_at(monkeypatch, Study, "run_chunk", 2)
    with pytest.raises(SimulatedKill):
        Study(config, progress=False).run(resume=True)
    monkeypatch.undo()
    assert "no checkpoint" in capsys.readouterr().err
    assert [r["env_steps"] for r in read_rows(config.run_dir)] == [0] * 4 + [32] * 4
    with pytest.raises(ConfigError, match="--resume"):
        Study(config, progress=False).run()
    expected = [r for r in read_rows(study.run_dir) if r["agent"] == "passive_fixed"]
    stem = "passive_fixed_fixed_interval16_seed1"
    reference = serialization.msgpack_restore(study.layout.agent(stem).read_bytes())
    for corrupt in (False, True):
        if corrupt:
            increments = RunLayout(config.run_dir).replay_increments("passive_fixed", "passive_fixed", 1)
            newest = max(increments.glob("rows_*"), key=lambda p: p.name.split("_step_")[1])
            data = bytearray(newest.read_bytes())
            data[-1] ^= 0xFF
            newest.write_bytes(bytes(data))
            RunLayout(config.run_dir).summary.unlink()  # as if killed after the last checkpoint (a finished run stays)
        Study(config, progress=False).run(resume=True)
        if corrupt:
            assert newest.name in capsys.readouterr().err  # the warning names the corrupt file
        assert_rows_close(expected, read_rows(config.run_dir), rtol=1e-5, atol=1e-5)
        resumed = serialization.msgpack_restore(RunLayout(config.run_dir).agent(stem).read_bytes())
        assert_trees_close(resumed, reference, rtol=1e-5, atol=1e-6)


def test_host_studies_stay_in_one_process(tmp_path):
    with pytest.raises(ConfigError, match="one process on one device"):
        Study(host_config(tmp_path, "x", agents=("active",)), progress=False, devices=2)


def test_vision_maze_prefill_stores_the_recorded_position(tmp_path):
    """The host collection keeps the vision maze's (x, y) in the buffer beside the frames (for the heatmaps)."""
    config = RunConfig(task="dmc/point_mass_maze-vision", backend="host", agents=("active",), num_seeds=1, env_steps=16,
                       eval_interval=16, prefill=64, batch_size=2, seq_len=16, eval_episodes=1, episode_length=20,
                       out_dir=str(tmp_path / "maze"))
    study = Study(config, progress=False)
    try:
        buffer = study.program(study.phases[0]).init(None)["active"].buffer
    finally:
        study.simulator.close()
    position = np.asarray(buffer.data["position"][0])[:, :16]  # (envs, prefill steps, 2)
    assert int(buffer.num_added[0]) == 16 and np.abs(position).max() < 0.35  # inside the arena
    assert np.ptp(position, axis=1).max() > 5e-3  # the mass moves under the random policy
    assert np.asarray(buffer.data["obs"][0]).max() > 0  # and frames were stored beside it
