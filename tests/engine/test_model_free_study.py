"""The engine's equivalences for the model-free families (issue 18): DQN on MinAtar, SAC on a continuous task.

Per family one tiny study (Active with a lock-step Tandem, then a Passive; 2 seeds, 2 chunks) runs
once; the tests compare it with a single-seed run, a Tandem replayed from its batch-index log, the
Active's saved buffers and a copy killed mid-way and resumed.
"""

import jax
import numpy as np
import pytest

from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine.study import Study
from offon_jit.metrics_log import read_rows
from tests.engine.compare import (assert_passive_buffer_is_the_saved_active_one, assert_rows_close, assert_trees_close,
                                  run_keeping_final_states)
from tests.engine.kills import SimulatedKill, kill_at
from tests.engine.test_run_directories import sharing_programs

FAMILIES = {
    "dqn": dict(task="minatar/breakout", episode_length=40, frame_size=10,  # the games' own grid
                model_overrides=(("hidden", 32), ("conv_channels", 4))),
    "sac": dict(task="debug/point_reach", episode_length=16, model_overrides=(("hidden", (16, 16)),)),
}
SMALL = dict(num_seeds=2, env_steps=64, eval_interval=32, prefill=32, batch_size=4, eval_episodes=2, num_envs=4,
             train_every=4, agents=("active", "tandem", "passive"))


def small_config(root, algo, name, **changes) -> RunConfig:
    return RunConfig.from_dict({"algo": algo, **FAMILIES[algo], **SMALL, "out_dir": str(root / f"{algo}_{name}"),
                                **changes})


@pytest.fixture(scope="module", params=list(FAMILIES))
def study(request, tmp_path_factory):
    algo = request.param
    root = tmp_path_factory.mktemp(algo)
    return (algo, root) + run_keeping_final_states(small_config(root, algo, "full"))


def test_study_writes_td_metrics(study):
    algo, _, run, summary, _ = study
    rows = read_rows(run.run_dir)
    assert len(rows) == 3 * 2 * 3  # agents x seeds x eval points
    for row in rows:
        assert np.isfinite(row["score"]) and row["eval_td_loss"] >= 0 and row["replay_td_loss"] > 0
        assert np.isfinite(row["ood_ratio"]) and np.isfinite(row["value_error"]) and "eval_wm_loss" not in row
        assert row["train_steps"] == row["env_steps"] // SMALL["train_every"]
    assert (run.run_dir / "plots" / "eval_td_loss.png").stat().st_size > 1000
    assert summary["final"].keys() == {"active", "passive", "tandem"}


def test_passive_buffer_unchanged_by_training(study):
    algo, _, run, _, finals = study
    passive = finals["passive"]["passive"]
    assert_passive_buffer_is_the_saved_active_one(run.run_dir, passive, SMALL["num_seeds"])
    if algo == "dqn":  # frame_size 10: the games' own grid is what is stored
        assert passive.buffer.data["obs"].shape[-3:] == (10, 10, 4)


def test_tandem_lock_step_equals_replay_from_log(study):
    algo, root, run, _, finals = study
    replay, _, replay_finals = run_keeping_final_states(
        small_config(root, algo, "replay", agents=("tandem",), active_run=str(run.run_dir)))
    assert_trees_close(finals["active"]["tandem"].agent.params, replay_finals["tandem"]["tandem"].agent.params)
    rows_lock = [r for r in read_rows(run.run_dir) if r["agent"] == "tandem"]
    # The replay-batch loss samples the buffer as it is at the eval point (growing in lock-step, final when replaying).
    assert_rows_close(rows_lock, read_rows(replay.run_dir), skip=("replay_td", "ood_ratio"))


def test_vmapped_seed_equals_single_seed_run(study):
    algo, root, run, _, finals = study
    single, _, single_finals = run_keeping_final_states(
        small_config(root, algo, "single", num_seeds=1, seed=1, agents=("active",)))
    seed1 = jax.tree_util.tree_map(lambda x: x[1:2], finals["active"]["active"].agent.params)
    assert_trees_close(seed1, single_finals["active"]["active"].agent.params)
    rows = [r for r in read_rows(run.run_dir) if r["agent"] == "active" and r["seed"] == 1]
    assert_rows_close(rows, read_rows(single.run_dir))


def test_killed_in_passive_phase_resumes_to_the_uninterrupted_outputs(study, monkeypatch):
    algo, root, run, _, _ = study
    killed = small_config(root, algo, "killed")
    with monkeypatch.context() as patch:
        kill_at(patch, Study, "run_chunk", 4)  # chunks 1-2: the Active phase, 3-4: the Passive's
        with pytest.raises(SimulatedKill):
            sharing_programs(killed, run).run()
    sharing_programs(killed, run).run(resume=True)
    expected, resumed = read_rows(run.run_dir), read_rows(killed.run_dir)
    assert len(resumed) == len(expected)
    assert_rows_close(resumed, expected, rtol=0, atol=0)


@pytest.mark.parametrize("agents,problem", [
    (("active", "tandem_same_wm"), "world model"),
    (("active", "passive_frozen_wm"), "world model"),
    (("active", "passive_offline_auto"), "offline_signal"),
])
def test_world_model_variants_refuse_model_free_families(tmp_path, agents, problem):
    with pytest.raises(ConfigError, match=problem):
        small_config(tmp_path, "dqn", "refused", agents=agents)


def test_family_refuses_a_task_it_cannot_act_in(tmp_path):
    with pytest.raises(ConfigError, match="algo dqn on debug/point_reach"):
        small_config(tmp_path, "dqn", "continuous", task="debug/point_reach", frame_size=0)
    with pytest.raises(ConfigError, match="Plan2Explore"):
        small_config(tmp_path, "sac", "explore", expl_weights=(0.5,))


def test_saved_agent_reloads_and_reproduces_the_last_evaluation(study, tmp_path):
    """`offon-jit eval` on a model-free agent: the saved final agent is the trained one, its evaluation
    repeats the study's last row, and an image task films the environment alone (no world model)."""
    from offon_jit import saved_agents
    from offon_jit.eval_command import evaluate_saved_agent

    algo, _, run, _, finals = study
    loaded = saved_agents.load_agent(run.run_dir, "tandem", 1)
    expected = jax.tree_util.tree_map(lambda x: np.asarray(x)[1], finals["active"]["tandem"].agent.params)
    assert_trees_close(loaded.agent.params, expected, rtol=0, atol=0)
    assert loaded.manifest["algo"] == algo and loaded.model_config == run.config.model_config()
    video = tmp_path / "episode.mp4" if loaded.spec.is_image else None
    result = evaluate_saved_agent(run.run_dir, "tandem", seed=1, video=video)
    row = next(r for r in read_rows(run.run_dir)
               if r["agent"] == "tandem" and r["seed"] == 1 and r["env_steps"] == SMALL["env_steps"])
    assert result["score"] == row["score"]
    np.testing.assert_allclose(result["eval_td_loss"], row["eval_td_loss"], rtol=1e-5)
    if video is not None:
        assert video.stat().st_size > 1000


def test_eval_td_loss_reads_no_row_after_an_episode_ends():
    """Eval rollouts keep stepping a finished env (its rows are undefined and masked): no TD target may read them."""
    from envs.spec import ActionSpec, EnvSpec
    from offon_jit.agents import dqn
    from offon_jit.engine import evaluate

    spec = EnvSpec("synthetic/vector", (4,), "float32", ActionSpec("discrete", 3), 100)
    agent = dqn.init_agent(jax.random.PRNGKey(0), spec, dqn.CONFIG.from_preset("tiny", hidden=8))
    length, end = 12, 6  # episode 0 terminates at row 6; episode 1 runs to the time limit
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    rows = {"obs": jax.random.normal(keys[0], (2, length, 4)),
            "action": jax.nn.one_hot(jax.random.randint(keys[1], (2, length), 0, 3), 3),
            "reward": jax.random.normal(keys[2], (2, length)),
            "is_first": np.zeros((2, length), bool), "is_terminal": np.zeros((2, length), bool)}
    rows["is_first"][:, 0] = True
    rows["is_terminal"][0, end] = True
    valid = np.ones((2, length), bool)
    valid[0, end + 1:] = False
    garbage = {**rows, "obs": rows["obs"].at[0, end + 1:].set(1e3), "reward": rows["reward"].at[0, end + 1:].set(1e3)}
    clean, dirty = (evaluate.episode_metrics(agent, r, valid, jax.random.PRNGKey(2)) for r in (rows, garbage))
    assert float(clean["eval_td_loss"]) == float(dirty["eval_td_loss"]) and float(clean["eval_td_loss"]) > 0
    assert float(clean["score"]) == float(dirty["score"])
