"""The evaluation's estimators on hand-made arrays and a tiny untrained agent.

Value error: the bootstrapped Monte-Carlo return on synthetic chains whose value is known in
closed form. OOD ratio: its replay denominator is the mean over k training-shaped batches, and
the ratio is about 1 when eval episodes and replay data come from the same policy. Eval policy:
"sample" draws the actor's samples, "mode" its mode, on the JAX and host paths.

Jitted helpers here take the agent as an argument: on the CPU (jax 0.10.2) a jitted world-model loss
that closes over the parameters (so XLA folds them in as constants) returned a NaN reward loss.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from offon_jit.config import ConfigError, RunConfig
from offon_jit.dreamer import agent as agent_lib
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.engine import evaluate
from offon_jit.engine.transitions import replay_schema
from offon_jit.replay import buffer as replay

GAMMA = 0.99


def chain(length: int, reward: float, rows: int | None = None, terminal: bool = False):
    """One episode in the replay convention: row 0 the reset (reward 0), rows 1..length carry `reward`;
    `rows` > length + 1 pads with masked rows whose values must not count."""
    rows = rows or length + 1
    rewards = np.where(np.arange(rows) >= 1, reward, 0.0).astype(np.float32)
    rewards[length + 1:] = 1000.0  # after the episode: masked, must be ignored
    valid = np.arange(rows) <= length
    is_terminal = np.zeros(rows, bool)
    is_terminal[length] = terminal
    return rewards[None], valid[None], is_terminal[None]


def returns(reward, valid, is_terminal, values):
    return float(jax.jit(partial(evaluate.bootstrapped_returns, discount=GAMMA))(reward, valid, is_terminal, values)[0])


@pytest.mark.parametrize("length", [1, 7, 500])
def test_truncated_constant_chain_bootstrapped_with_its_true_value_gives_the_infinite_sum(length):
    r = 0.5
    reward, valid, is_terminal = chain(length, r)
    values = np.full(valid.shape, r / (1 - GAMMA), np.float32)  # the true value of an endless chain
    np.testing.assert_allclose(returns(reward, valid, is_terminal, values), r / (1 - GAMMA), rtol=1e-5)


def test_terminated_chain_gives_the_finite_geometric_sum_without_bootstrap():
    r, length = 2.0, 10
    reward, valid, is_terminal = chain(length, r, rows=16, terminal=True)
    values = np.full(valid.shape, 123.0, np.float32)  # must not enter: nothing follows a termination
    expected = r * (1 - GAMMA**length) / (1 - GAMMA)
    np.testing.assert_allclose(returns(reward, valid, is_terminal, values), expected, rtol=1e-5)


def test_bootstrap_reads_the_value_at_the_last_valid_row_of_each_episode():
    """Two episodes cut at different rows: each bootstraps with V at its own last step n, weighted gamma^n."""
    reward = np.array([[0, 1, 1, 1, 9], [0, 2, 2, 9, 9]], np.float32)
    valid = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], bool)
    is_terminal = np.zeros((2, 5), bool)
    values = np.array([[0, 0, 0, 5, 7], [0, 0, 3, 7, 7]], np.float32)
    got = jax.jit(partial(evaluate.bootstrapped_returns, discount=GAMMA))(reward, valid, is_terminal, values)
    expected = [1 + GAMMA + GAMMA**2 + GAMMA**3 * 5, 2 + 2 * GAMMA + GAMMA**2 * 3]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


def test_replay_batch_count_covers_the_eval_steps():
    assert evaluate.replay_batch_count(4 * 501, 16, 64) == 2  # the paper: 2004 eval steps, 1024 per batch
    assert evaluate.replay_batch_count(1024, 16, 64) == 1
    assert evaluate.replay_batch_count(1025, 16, 64) == 2
    assert evaluate.replay_batch_count(4 * 2501, 16, 64) == 10  # MinAtar's 2500-step episodes


# -- a tiny untrained agent on debug/point_reach ---------------------------------------------------------
LENGTH, BATCH, SEQ = 20, 4, 8


@pytest.fixture(scope="module")
def tiny():
    env = envs.make("debug/point_reach", "jax", auto_reset=False, episode_length=LENGTH)
    agent = agent_lib.init_agent(jax.random.PRNGKey(0), env.spec, DreamerConfig.from_preset("tiny"))
    rollout = jax.jit(evaluate.rollout_episodes, static_argnums=(1, 3, 4))
    return env, agent, rollout


def same_policy_buffer(agent, env, rollout, key, episodes: int):
    """A replay buffer of `episodes` streams, each one episode of the agent's sampled policy."""
    rows, valid = rollout(agent, env, key, episodes, "sample")
    assert bool(valid.all())  # point_reach never terminates: every row is data
    buffer = replay.init_buffer(replay_schema(env.spec), episodes * (LENGTH + 1), episodes)
    return replay.add_chunk(buffer, jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), rows))


def test_replay_denominator_is_the_mean_over_k_training_batches(tiny):
    env, agent, rollout = tiny
    buffer = same_policy_buffer(agent, env, rollout, jax.random.PRNGKey(1), 8)
    key, k = jax.random.PRNGKey(2), 3
    got = jax.jit(partial(evaluate.replay_wm_losses, batch_size=BATCH, seq_len=SEQ, num_batches=k))(agent, buffer, key)
    # The same k batches drawn and scored one by one, as a training step draws and scores its batch.
    loss_per_step = jax.jit(lambda wm, batch, loss_key: agent_lib.world_model_loss_per_step(
        wm, batch, loss_key, agent.config)["total"])
    totals = []
    for batch_key in jax.random.split(key, k):
        sample_key, loss_key = jax.random.split(batch_key)
        batch, _ = replay.sample(buffer, sample_key, BATCH, SEQ)
        totals.append(np.asarray(loss_per_step(agent.params["wm"], batch, loss_key)))
    assert np.stack(totals).shape == (k, BATCH, SEQ)
    np.testing.assert_allclose(float(got["total"]), np.mean(totals), rtol=1e-5)


def test_ood_ratio_is_about_one_when_eval_and_replay_come_from_the_same_policy(tiny):
    """Eval episodes and the buffer's episodes are draws of one sampled policy: the ratio of the per-step
    losses is 1 up to sampling noise and the window-start effect (tolerance 0.1; measured 0.985-1.032)."""
    env, agent, rollout = tiny
    buffer = same_policy_buffer(agent, env, rollout, jax.random.PRNGKey(3), 32)
    # 32 fresh episodes of the same policy, evaluated as 4 groups of 8 eval episodes.
    rows, valid = jax.tree_util.tree_map(lambda x: x.reshape(4, 8, *x.shape[1:]),
                                         rollout(agent, env, jax.random.PRNGKey(4), 32, "sample"))
    # The agent and buffer go in as arguments (see the module docstring).
    metrics = jax.jit(jax.vmap(partial(evaluate.trajectory_metrics, batch_size=BATCH, seq_len=SEQ),
                               in_axes=(None, 0, 0, None, 0)))
    ratios = np.asarray(metrics(agent, rows, valid, buffer, jax.random.split(jax.random.PRNGKey(5), 4))["ood_ratio"])
    print("OOD ratios, same policy and buffer:", ratios)
    assert np.all(np.abs(ratios - 1.0) < 0.1), ratios


# -- the eval policy ------------------------------------------------------------------------------------
def test_eval_policy_samples_by_default_and_mode_keeps_the_actor_mode(tiny):
    env, agent, rollout = tiny
    key = jax.random.PRNGKey(5)
    sampled, _ = rollout(agent, env, key, 4, "sample")
    mode, _ = rollout(agent, env, key, 4, "mode")
    # Same reset and latent at t = 0: only the action rule differs.
    np.testing.assert_array_equal(np.asarray(sampled["obs"][:, 0]), np.asarray(mode["obs"][:, 0]))
    assert not np.allclose(np.asarray(sampled["action"][:, 0]), np.asarray(mode["action"][:, 0]))
    again, _ = rollout(agent, env, key, 4, "mode")
    np.testing.assert_array_equal(np.asarray(again["action"]), np.asarray(mode["action"]))
    assert RunConfig().eval_policy == "sample"
    with pytest.raises(ConfigError, match="eval_policy must be one of sample, mode, got 'greedy'"):
        RunConfig(eval_policy="greedy")


@pytest.mark.parametrize("eval_policy, policy_mode", [("sample", "explore"), ("mode", "eval")])
def test_every_eval_path_acts_in_the_configured_mode(tiny, monkeypatch, eval_policy, policy_mode):
    """JAX-native evaluation, its traces and the host simulator's rollouts call the policy in one mode
    (traced only: jax.eval_shape compiles nothing)."""
    from offon_jit.engine.host_simulator import HostSimulator

    env, agent, rollout = tiny
    buffer = same_policy_buffer(agent, env, rollout, jax.random.PRNGKey(6), 4)
    modes, original = [], agent_lib.policy_step
    monkeypatch.setattr(agent_lib, "policy_step", lambda *args: modes.append(args[-1]) or original(*args))
    key = jax.random.PRNGKey(7)
    jax.eval_shape(partial(evaluate.evaluate, env=env, episodes=2, batch_size=BATCH, seq_len=SEQ,
                           eval_policy=eval_policy), agent, buffer, key)
    jax.eval_shape(partial(evaluate.episode_trace, env=env, eval_policy=eval_policy), agent, key)
    config = RunConfig(task="minatar/breakout", backend="host", eval_episodes=2, eval_policy=eval_policy,
                       episode_length=5, preset="tiny")
    simulator = HostSimulator(config)
    try:
        host_agent = jax.eval_shape(jax.vmap(lambda k: agent_lib.init_agent(k, simulator.spec, config.model_config())),
                                    jax.random.split(key, 1))
        carry = jax.eval_shape(simulator._eval_carry, host_agent)
        obs = jnp.zeros((1, 2, *simulator.spec.obs_shape), simulator.spec.obs_dtype)
        jax.eval_shape(simulator._eval_policy, host_agent, carry, obs, jnp.ones((1, 2), bool),
                       jax.random.split(key, 1))
    finally:
        simulator.close()
    assert len(modes) == 3 and set(modes) == {policy_mode}
