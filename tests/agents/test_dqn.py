"""Double DQN family (agents/dqn.py): n-step Double DQN targets, update, target copies, epsilon, seeds, mixing."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from envs.spec import ActionSpec, EnvSpec
from offon_jit.agents import dqn, nstep

# MinAtar-shaped frames (32 x 32 x 4 uint8, 3 actions) and a vector task with discrete actions.
IMAGE_SPEC = EnvSpec("synthetic/minatar", (32, 32, 4), "uint8", ActionSpec("discrete", 3), 1000)
VECTOR_SPEC = EnvSpec("synthetic/vector", (4,), "float32", ActionSpec("discrete", 3), 100)
SMALL = dqn.CONFIG.from_preset("tiny", conv_channels=4, hidden=16)  # cheap compiles

# Module-level jits: every test in this file reuses the compiled programs.
train_step = jax.jit(dqn.train_step)
step_losses = jax.jit(dqn.step_losses)
policy_step = jax.jit(dqn.policy_step, static_argnames="mode")
q_values = jax.jit(dqn.q_values, static_argnames="network")


@functools.partial(jax.jit, static_argnames=("spec", "batch", "length", "episode_ends"))  # eager: seconds of op compiles
def random_batch(key, spec, batch=8, length=6, episode_ends=True):
    obs_key, action_key, reward_key, first_key, terminal_key = jax.random.split(key, 5)
    if spec.is_image:
        obs = jax.random.randint(obs_key, (batch, length, *spec.obs_shape), 0, 256).astype(jnp.uint8)
    else:
        obs = jax.random.normal(obs_key, (batch, length, *spec.obs_shape))
    action = jax.random.randint(action_key, (batch, length), 0, spec.action.num_actions)
    flags = (batch, length)
    return {
        "obs": obs,
        "action": jax.nn.one_hot(action, spec.action.num_actions, dtype=jnp.float32),
        "reward": jax.random.normal(reward_key, flags),
        "is_first": jax.random.bernoulli(first_key, 0.15 if episode_ends else 0.0, flags),
        "is_terminal": jax.random.bernoulli(terminal_key, 0.1 if episode_ends else 0.0, flags),
    }


# -- the toy chain: rows 0-2 end by termination, 3-5 by truncation, 6-9 run past the window --
# reward[t] arrives with obs t; V[t] = 10 (t + 1) is the bootstrap value of obs t; n = 3, discount 0.5.
CHAIN = {
    "reward": jnp.arange(10, dtype=jnp.float32)[None],
    "is_first": jnp.array([[1, 0, 0, 1, 0, 0, 1, 0, 0, 0]], bool),
    "is_terminal": jnp.array([[0, 0, 1, 0, 0, 0, 0, 0, 0, 0]], bool),
}
CHAIN_V = 10.0 * (jnp.arange(10, dtype=jnp.float32) + 1.0)[None]
CHAIN_VALID = np.array([[1, 1, 0, 1, 1, 0, 1, 0, 0, 0]], bool)
CHAIN_TARGET = {
    0: 1 + 0.5 * 2,  # r1 + g r2, terminal at row 2: no bootstrap
    1: 2.0,  # r2, terminal at row 2
    3: 4 + 0.5 * 5 + 0.25 * 60,  # r4 + g r5 + g^2 V5: row 6 starts a new episode (truncation)
    4: 5 + 0.5 * 60,  # r5 + g V5, truncated
    6: 7 + 0.5 * 8 + 0.25 * 9 + 0.125 * 100,  # the full 3-step return bootstrapped by V9
}
# Rows 2 and 5 have no transition (the next row starts an episode); 7-9 run out of the window.


def check_chain(target, valid):
    np.testing.assert_array_equal(np.asarray(valid), CHAIN_VALID)
    for row, expected in CHAIN_TARGET.items():
        assert float(target[0, row]) == pytest.approx(expected, abs=1e-5), row


def chain_targets(next_value):
    return nstep.nstep_targets(CHAIN["reward"], CHAIN["is_first"], CHAIN["is_terminal"], next_value, 0.5, 3)


def test_nstep_targets_match_hand_computed_chain():
    same = jnp.stack([CHAIN_V, CHAIN_V - 1.0], -1)  # online and target agree: action 0, value V
    check_chain(*chain_targets(dqn.double_q_value(same, same)))
    # The bootstrap row and weight of each valid row: terminations weigh 0, truncations discount^m.
    _, row, weight, _ = nstep.nstep_bootstrap(CHAIN["reward"], CHAIN["is_first"], CHAIN["is_terminal"], 0.5, 3)
    for start, (expected_row, expected_weight) in {0: (2, 0.0), 1: (2, 0.0), 3: (5, 0.25), 4: (5, 0.5),
                                                   6: (9, 0.125)}.items():
        assert (int(row[0, start]), float(weight[0, start])) == (expected_row, expected_weight), start


def test_bootstrap_uses_online_argmax_and_target_value():
    # The online net prefers action 1 everywhere; the target net values action 0 far higher.
    q_online = jnp.broadcast_to(jnp.array([0.0, 1.0]), (1, 10, 2))
    q_target = jnp.stack([CHAIN_V + 100.0, CHAIN_V], -1)
    check_chain(*chain_targets(dqn.double_q_value(q_online, q_target)))
    # Plain DQN (target argmax) or swapped roles bootstrap differently: the check above discriminates.
    for wrong in (jnp.max(q_target, -1), dqn.double_q_value(q_target, q_online)):
        target, _ = chain_targets(wrong)
        assert float(target[0, 6]) != pytest.approx(CHAIN_TARGET[6])


def test_step_losses_bootstrap_with_online_argmax_and_target_network():
    """Computed from Q at the trained rows and their bootstrap rows alone, the loss equals the all-rows
    Double DQN target on the first T - n rows. The agent's target network is another agent's online
    network: the two disagree."""
    state = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, SMALL)
    other = dqn.init_agent(jax.random.PRNGKey(1), VECTOR_SPEC, SMALL)
    state = state.replace(params={"online": state.params["online"], "target": other.params["online"]})
    batch = random_batch(jax.random.PRNGKey(2), VECTOR_SPEC)
    losses, valid = step_losses(state, batch, jax.random.PRNGKey(3))
    q_online, q_target = q_values(state, batch["obs"], "online"), q_values(state, batch["obs"], "target")
    assert not np.array_equal(np.argmax(q_online, -1), np.argmax(q_target, -1))  # they disagree somewhere
    def targets(online, target):
        return nstep.nstep_targets(batch["reward"], batch["is_first"], batch["is_terminal"],
                                   dqn.double_q_value(online, target), SMALL.discount, SMALL.n_step)

    target, expected_valid = targets(q_online, q_target)
    trained = dqn.trained_rows(batch["obs"].shape[1], SMALL.n_step)
    expected_valid = expected_valid.at[:, trained:].set(False)  # the last n rows do not train
    q_taken = jnp.sum(q_online * batch["action"], -1)
    expected = jnp.where(expected_valid, optax.huber_loss(q_taken, target, delta=1.0), 0.0)
    np.testing.assert_array_equal(np.asarray(valid), np.asarray(expected_valid))
    assert valid.any() and not valid.all()
    np.testing.assert_allclose(losses["total"], expected, rtol=1e-5, atol=1e-6)
    swapped, _ = targets(q_target, q_online)
    assert not np.allclose(np.where(valid, swapped, 0.0), np.where(valid, target, 0.0))


def test_loss_falls_on_a_fixed_minatar_batch():
    config = dqn.CONFIG.from_preset("tiny", lr=1e-3, target_update_every=1000)
    state = dqn.init_agent(jax.random.PRNGKey(0), IMAGE_SPEC, config)
    batch = random_batch(jax.random.PRNGKey(1), IMAGE_SPEC, batch=32, length=4, episode_ends=False)

    @jax.jit
    def fifty_updates(state):
        return jax.lax.fori_loop(0, 50, lambda _, s: dqn.train_step(s, batch, None)[0], state)

    def mean_loss(state):
        losses, valid = step_losses(state, batch, None)
        return float(jnp.sum(losses["total"]) / jnp.sum(valid))

    start, end = mean_loss(state), mean_loss(fifty_updates(state))
    assert end < 0.5 * start, (start, end)


def test_native_10x10_frames_give_the_q_values_and_update_of_their_32x32_upscale():
    """RunConfig.frame_size 10 stores MinAtar's own grid: the network (image_size 10) sees the same input,
    so Q values and one update are bitwise those of the 32 x 32 frames."""
    from envs.minatar_frames import nearest_indices

    native_spec = dataclasses.replace(IMAGE_SPEC, obs_shape=(10, 10, 4))
    native = random_batch(jax.random.PRNGKey(1), native_spec, batch=8, length=4)
    index = nearest_indices(10, 32)
    upscaled = {**native, "obs": native["obs"][:, :, index[:, None], index[None, :]]}
    small, big = (dqn.init_agent(jax.random.PRNGKey(0), spec, SMALL) for spec in (native_spec, IMAGE_SPEC))
    jax.tree_util.tree_map(np.testing.assert_array_equal, small.params, big.params)  # same parameter shapes and init
    np.testing.assert_array_equal(q_values(small, native["obs"]), q_values(big, upscaled["obs"]))
    (small, small_metrics), (big, big_metrics) = train_step(small, native, None), train_step(big, upscaled, None)
    jax.tree_util.tree_map(np.testing.assert_array_equal, (small.params, small_metrics), (big.params, big_metrics))


def test_train_loss_is_masked_mean_of_step_losses_and_metrics_are_scalars():
    state = dqn.init_agent(jax.random.PRNGKey(0), IMAGE_SPEC, SMALL)
    batch = random_batch(jax.random.PRNGKey(1), IMAGE_SPEC)
    losses, valid = step_losses(state, batch, jax.random.PRNGKey(2))
    assert 0 < int(valid.sum()) < valid.size
    assert np.all(np.asarray(losses["total"])[~np.asarray(valid)] == 0.0)
    new_state, metrics = train_step(state, batch, jax.random.PRNGKey(2))
    masked_mean = jnp.sum(jnp.where(valid, losses["total"], 0.0)) / jnp.sum(valid)
    assert float(metrics["td_loss"]) == pytest.approx(float(masked_mean), rel=1e-6)
    assert int(new_state.step) == 1
    for name, value in metrics.items():
        assert value.dtype == jnp.float32 and value.shape == () and np.isfinite(value), name


def test_target_network_copies_exactly_every_k_updates():
    state = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, SMALL.replace(target_update_every=3))
    batch = random_batch(jax.random.PRNGKey(1), VECTOR_SPEC)
    leaves = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)])
    last_copy = leaves(state.params["online"])  # the target starts as the online net's copy
    for update in range(1, 8):
        state, metrics = train_step(state, batch, None)
        online, target = leaves(state.params["online"]), leaves(state.params["target"])
        if update % 3 == 0:
            np.testing.assert_array_equal(target, online)
            last_copy = online
            assert float(metrics["target_copied"]) == 1.0
        else:
            np.testing.assert_array_equal(target, last_copy)
            assert not np.array_equal(target, online)
            assert float(metrics["target_copied"]) == 0.0


def test_epsilon_schedule_is_linear_in_updates():
    config = SMALL.replace(eps_start=1.0, eps_end=0.1, eps_decay_updates=100)
    state = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, config)
    for step, expected in ((0, 1.0), (50, 0.55), (100, 0.1), (5000, 0.1)):
        assert float(dqn.epsilon(state.replace(step=jnp.int32(step)))) == pytest.approx(expected), step
    flat = state.replace(config=config.replace(eps_decay_updates=0))
    assert float(dqn.epsilon(flat)) == pytest.approx(0.1)


def test_explore_and_eval_action_frequencies():
    config = SMALL.replace(eps_start=1.0, eps_end=0.2, eps_decay_updates=10)
    state = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4000, 4))
    greedy = np.argmax(np.asarray(q_values(state, obs, "online")), -1)
    carry = dqn.initial_policy_carry(state, 4000)
    first = jnp.zeros((4000,), bool)

    def agreement(state, mode, seed):
        action, new_carry = policy_step(state, carry, obs, first, jax.random.PRNGKey(seed), mode=mode)
        assert action.dtype == jnp.int32 and action.shape == (4000,)
        np.testing.assert_array_equal(new_carry, carry)
        return float(np.mean(np.asarray(action) == greedy)), np.asarray(action)

    share, action = agreement(state, "explore", 2)  # epsilon 1: uniform actions
    assert share == pytest.approx(1 / 3, abs=0.03)
    assert set(action.tolist()) == {0, 1, 2}
    late = state.replace(step=jnp.int32(10))  # epsilon 0.2
    assert agreement(late, "explore", 3)[0] == pytest.approx(0.8 + 0.2 / 3, abs=0.03)
    share, action = agreement(state, "eval", 4)  # eval_epsilon 0: the argmax, exactly
    np.testing.assert_array_equal(action, greedy)
    noisy_eval = state.replace(config=config.replace(eval_epsilon=0.5))
    assert agreement(noisy_eval, "eval", 5)[0] == pytest.approx(0.5 + 0.5 / 3, abs=0.03)


def test_vmapped_seeds_equal_single_runs():
    # init + 3 train_steps + policy_step for 2 seeds, vmapped as the engine does, against each seed alone.
    init = lambda key: dqn.init_agent(key, VECTOR_SPEC, SMALL)  # vectors: the cheapest compiles
    act = lambda state, obs, key: dqn.policy_step(state, dqn.initial_policy_carry(state, 8), obs,
                                                  jnp.zeros((8,), bool), key, "explore")[0]
    keys = jax.random.split(jax.random.PRNGKey(7), 2)
    two_batches = jax.jit(jax.vmap(lambda k: random_batch(k, VECTOR_SPEC)))
    batches = [two_batches(jax.random.split(jax.random.PRNGKey(i), 2)) for i in range(3)]
    obs = batches[0]["obs"][:, :, 0]  # (seed, 8, 4)
    vmapped_train = jax.jit(jax.vmap(dqn.train_step))
    state = jax.vmap(init)(keys)
    for batch in batches:
        state, metrics = vmapped_train(state, batch, keys)
    batched = (state, metrics, jax.jit(jax.vmap(act))(state, obs, keys))
    for seed in range(2):
        pick = lambda tree: jax.tree_util.tree_map(lambda x: x[seed], tree)
        state = init(keys[seed])
        for batch in batches:
            state, metrics = train_step(state, pick(batch), keys[seed])
        alone = (state, metrics, jax.jit(act)(state, obs[seed], keys[seed]))
        for got, want in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(alone)):
            np.testing.assert_allclose(got[seed], want, rtol=1e-6, atol=1e-6)


def test_mix_agents_is_exact_at_the_ends_and_resets_target_and_optimiser():
    active = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, SMALL)
    tandem, _ = train_step(dqn.init_agent(jax.random.PRNGKey(1), VECTOR_SPEC, SMALL),
                           random_batch(jax.random.PRNGKey(2), VECTOR_SPEC), None)
    same = lambda a, b: jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, a, b))
    mixed = jax.jit(jax.vmap(dqn.mix_agents, in_axes=(None, None, 0)))(active, tandem, jnp.array([0.0, 0.5, 1.0]))
    pick = lambda i: jax.tree_util.tree_map(lambda x: x[i], mixed)
    assert same(pick(0).params["online"], active.params["online"])
    assert same(pick(2).params["online"], tandem.params["online"])
    half = jax.tree_util.tree_map(lambda a, b: 0.5 * a + 0.5 * b, active.params["online"], tandem.params["online"])
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.allclose, pick(1).params["online"], half))
    fresh = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, SMALL).opt_state  # Adam's init is zeros
    for i in range(3):
        assert same(pick(i).params["target"], pick(i).params["online"])
        assert same(pick(i).opt_state, fresh)
        assert int(pick(i).step) == int(tandem.step) == 1


def test_bad_inputs_raise_clear_errors():
    continuous = EnvSpec("synthetic/reach", (4,), "float32", ActionSpec("continuous", shape=(2,)), 100)
    with pytest.raises(ValueError, match="discrete action space"):
        dqn.init_agent(jax.random.PRNGKey(0), continuous, SMALL)
    state = dqn.init_agent(jax.random.PRNGKey(0), VECTOR_SPEC, SMALL)
    obs = jnp.zeros((2, 4))
    with pytest.raises(ValueError, match="unknown policy mode 'sample'"):
        dqn.policy_step(state, dqn.initial_policy_carry(state, 2), obs, jnp.zeros((2,), bool), jax.random.PRNGKey(0),
                        "sample")
    with pytest.raises(ValueError, match="unknown DQN preset 'huge'"):
        dqn.CONFIG.from_preset("huge")
    with pytest.raises(ValueError, match=r"unknown DQNConfig fields \['learning_rate'\]"):
        dqn.CONFIG.from_preset("tiny", learning_rate=1e-3)
    for field, value in (("n_step", 0), ("discount", 1.5), ("eps_end", -0.1), ("hidden", 1.5), ("lr", 0.0)):
        with pytest.raises(ValueError, match=f"DQNConfig.{field}"):
            dqn.CONFIG.from_preset("tiny", **{field: value})
    short = random_batch(jax.random.PRNGKey(0), VECTOR_SPEC, length=3)  # n_step 3 needs 4 rows
    with pytest.raises(ValueError, match="seq_len must be >= n_step"):
        dqn.step_losses(state, short, None)
    other = dqn.init_agent(jax.random.PRNGKey(1), VECTOR_SPEC, SMALL.replace(hidden=8))
    with pytest.raises(ValueError, match="same DQNConfig"):
        dqn.mix_agents(state, other, 0.5)


def test_config_protocol_and_run_defaults():
    config = dqn.CONFIG.from_preset("tiny", n_step=5)
    assert config.n_step == 5 and config.preset == "tiny" and config.discount == 0.99
    assert hash(config) == hash(dqn.CONFIG.from_preset("tiny", n_step=5))  # a static jit argument
    assert set(dqn.CONFIG.field_names()) == {f.name for f in dataclasses.fields(dqn.CONFIG)}
    assert set(dqn.PRESETS["tiny"]) == set(dqn.CONFIG.field_names()) - {"preset"}
    defaults = dqn.RUN_DEFAULTS
    assert defaults["seq_len"] == dqn.CONFIG.from_preset("tiny").n_step + 1
    assert defaults["prefill"] % defaults["num_envs"] == 0 and defaults["prefill"] // defaults["num_envs"] >= 4
