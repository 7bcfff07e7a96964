"""SAC family (offon_jit/agents/sac.py): temperature, tanh-Gaussian, targets, updates, API contract.

Small networks (one hidden layer of 32) keep every compile and update cheap; the maths does not
depend on width.
Jitted functions live at module level so tests share compiled executables.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.spec import ActionSpec, EnvSpec
from offon_jit.agents import sac

SPEC = EnvSpec(name="synthetic/vec", obs_shape=(5,), obs_dtype="float32",
               action=ActionSpec(kind="continuous", shape=(2,)), episode_length=100)  # fmt: skip
CONFIG = sac.CONFIG.from_preset("tiny", hidden=(32,))
B, T = 4, 3

train_step = jax.jit(sac.train_step)
step_losses = jax.jit(sac.step_losses)
value_estimate = jax.jit(sac.value_estimate)
act = jax.jit(sac.policy_step, static_argnames="mode")


def make_batch(key, spec=SPEC, batch=B, length=T):
    k = jax.random.split(key, 4)
    return {
        "obs": jax.random.normal(k[0], (batch, length) + spec.obs_shape),
        "action": jax.random.uniform(k[1], (batch, length, spec.action.dim), minval=-1.0, maxval=1.0),
        "reward": jax.random.normal(k[2], (batch, length)),
        "is_first": jnp.zeros((batch, length), bool).at[:, 0].set(True),
        "is_terminal": jnp.zeros((batch, length), bool).at[1, 2].set(True),
    }


def np_params(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def np_mlp(variables, x):
    """networks.MLP in float64 numpy: Dense_i in order, ReLU between."""
    layers = variables["params"]
    for i in range(len(layers)):
        x = x @ layers[f"Dense_{i}"]["kernel"] + layers[f"Dense_{i}"]["bias"]
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def np_critic(critic, i, obs, action):
    one = jax.tree_util.tree_map(lambda x: x[i], critic)
    return np_mlp(one, np.concatenate([obs, action], -1))[..., 0]


def np_tanh_gaussian_log_prob(mean, log_std, noise):
    std = np.exp(log_std)
    u = mean + std * noise
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.sum(log_normal - np.log(1.0 - np.tanh(u) ** 2), -1)


@pytest.fixture(scope="module")
def state():
    return sac.init_agent(jax.random.PRNGKey(0), SPEC, CONFIG)


# --- temperature -------------------------------------------------------------------------------


def test_alpha_loss_and_two_adam_steps_match_hand_computation():
    lr, eps, b1, b2 = CONFIG.alpha_lr, CONFIG.adam_eps, 0.9, 0.999
    target_entropy = CONFIG.target_entropy(2)
    assert target_entropy == -2.0  # -dim(A)
    assert sac.CONFIG.from_preset("tiny", target_entropy_per_dim=-0.5).target_entropy(6) == -3.0
    log_alpha = jnp.float32(0.3)
    opt = sac.init_agent(jax.random.PRNGKey(0), SPEC, CONFIG).opt_state["log_alpha"]
    log_probs = [np.array([-1.0, 0.5, 2.0], np.float32), np.array([-4.0, -3.5], np.float32)]
    m = v = 0.0
    expected = 0.3
    for step, log_prob in enumerate(log_probs, start=1):
        loss_hand = np.mean(-expected * (log_prob + target_entropy))
        grad = -(np.mean(log_prob) + target_entropy)  # d loss / d log_alpha
        m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
        m_hat, v_hat = m / (1 - b1**step), v / (1 - b2**step)
        expected = expected - lr * m_hat / (math.sqrt(v_hat) + eps)
        log_alpha, opt, loss = sac.temperature_update(log_alpha, opt, jnp.asarray(log_prob), CONFIG, target_entropy)
        np.testing.assert_allclose(float(loss), loss_hand, rtol=1e-6)
        np.testing.assert_allclose(float(log_alpha), expected, rtol=0, atol=1e-7)
    # entropy 2.25 > target -2 at step 1 and 3.75 at step 2: alpha falls both times
    assert float(log_alpha) < 0.3


def test_train_step_moves_log_alpha_by_one_adam_step(state):
    batch = make_batch(jax.random.PRNGKey(1))
    new, metrics = train_step(state, batch, jax.random.PRNGKey(2))
    grad = float(metrics["entropy"]) - CONFIG.target_entropy(2)  # -(mean log pi + target)
    expected = float(state.params["log_alpha"]) - CONFIG.alpha_lr * grad / (abs(grad) + CONFIG.adam_eps)
    np.testing.assert_allclose(float(new.params["log_alpha"]), expected, rtol=0, atol=1e-7)
    assert float(metrics["alpha"]) == pytest.approx(CONFIG.init_alpha)  # the update used the old alpha


# --- tanh-Gaussian -------------------------------------------------------------------------------


def test_tanh_gaussian_log_prob_matches_numpy():
    mean = np.array([0.3, -1.2, 0.0], np.float32)
    log_std = np.array([-0.5, 0.2, -2.0], np.float32)
    noise = np.array([0.7, -1.1, 0.4], np.float32)
    action, log_prob = sac.tanh_gaussian(jnp.asarray(mean), jnp.asarray(log_std), jnp.asarray(noise))
    u = mean.astype(np.float64) + np.exp(log_std.astype(np.float64)) * noise
    np.testing.assert_allclose(np.asarray(action), np.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(float(log_prob), np_tanh_gaussian_log_prob(mean, log_std, noise), rtol=1e-5)
    # Saturated pre-tanh values: the naive log(1 - tanh^2) is -inf in float32, the stable form is not.
    _, far = sac.tanh_gaussian(jnp.array([20.0]), jnp.array([0.0]), jnp.array([0.0]))
    np.testing.assert_allclose(float(far), -0.5 * np.log(2 * np.pi) - 2 * (np.log(2) - 20 - np.log1p(np.exp(-40))),
                               rtol=1e-6)  # fmt: skip


def test_actor_log_std_is_clipped(state):
    actor = jax.tree_util.tree_map(jnp.zeros_like, state.params["actor"])
    last = f"Dense_{len(CONFIG.hidden)}"  # the output layer: (mean, log std)
    actor["params"][last]["bias"] = actor["params"][last]["bias"].at[2:].set(jnp.array([-50.0, 50.0]))
    mean, log_std = sac.actor_outputs(actor, jnp.zeros((1, 5)), CONFIG, 2)
    np.testing.assert_array_equal(np.asarray(mean), 0.0)
    np.testing.assert_array_equal(np.asarray(log_std), [[CONFIG.log_std_min, CONFIG.log_std_max]])


# --- critic target and loss ----------------------------------------------------------------------


def test_critic_target_and_row_losses_match_numpy(state):
    """n = 1, episode 0 terminates at row 1 (row 2 starts a new one), episode 1 runs on."""
    params = dict(state.params)
    params["target_critic"] = jax.tree_util.tree_map(lambda x: x * 1.3 + 0.01, params["target_critic"])
    params["log_alpha"] = jnp.float32(math.log(0.3))
    st = state.replace(params=params)
    batch = make_batch(jax.random.PRNGKey(3), batch=2)
    batch["is_first"] = jnp.array([[True, False, True], [False, False, False]])
    batch["is_terminal"] = jnp.array([[False, True, False], [False, False, False]])
    key = jax.random.PRNGKey(4)
    losses, valid = step_losses(st, batch, key)

    p = np_params(params)
    obs, action, reward = (np.asarray(batch[k], np.float64) for k in ("obs", "action", "reward"))
    out = np_mlp(p["actor"], obs)
    mean, log_std = out[..., :2], np.clip(out[..., 2:], CONFIG.log_std_min, CONFIG.log_std_max)
    noise = np.asarray(jax.random.normal(jax.random.split(key)[0], (2, 3, 2)), np.float64)  # train_step's split
    next_action = np.tanh(mean + np.exp(log_std) * noise)
    next_q = np.minimum(*(np_critic(p["target_critic"], i, obs, next_action) for i in range(2)))
    next_value = next_q - 0.3 * np_tanh_gaussian_log_prob(mean, log_std, noise)
    gamma = CONFIG.discount
    target = np.zeros((2, 3))
    target[0, 0] = reward[0, 1]  # terminal: no bootstrap
    target[1, 0] = reward[1, 1] + gamma * next_value[1, 1]
    target[1, 1] = reward[1, 2] + gamma * next_value[1, 2]
    expected_valid = np.array([[True, False, False], [True, True, False]])
    np.testing.assert_array_equal(np.asarray(valid), expected_valid)
    q = [np_critic(p["critic"], i, obs, action) for i in range(2)]
    expected = np.where(expected_valid, (q[0] - target) ** 2 + (q[1] - target) ** 2, 0.0)
    np.testing.assert_allclose(np.asarray(losses["total"]), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(losses["q1"] + losses["q2"]), np.asarray(losses["total"]), rtol=1e-6)


def test_critic_loss_falls_on_a_fixed_batch():
    config = CONFIG.replace(critic_lr=3e-3)
    st = sac.init_agent(jax.random.PRNGKey(5), SPEC, config)
    batch = make_batch(jax.random.PRNGKey(6), batch=16)
    key = jax.random.PRNGKey(7)

    def td_loss(s):
        losses, valid = step_losses(s, batch, key)
        return float(jnp.sum(losses["total"]) / jnp.sum(valid))

    losses = [td_loss(st)]
    for i in range(40):
        st, _ = train_step(st, batch, jax.random.fold_in(key, i))
        if i % 10 == 9:
            losses.append(td_loss(st))
    assert int(st.step) == 40
    assert all(b < a for a, b in zip(losses, losses[1:])), losses  # falls at every check, not just overall
    assert losses[-1] < 0.6 * losses[0], losses


def test_train_step_loss_order_and_polyak(state):
    # Targets apart from the critics, so that the Polyak mix is visible.
    state = state.replace(params={**state.params, "target_critic": jax.tree_util.tree_map(
        lambda x: 0.5 * x, state.params["target_critic"])})  # fmt: skip
    batch = make_batch(jax.random.PRNGKey(8))
    key = jax.random.PRNGKey(9)
    losses, valid = step_losses(state, batch, key)
    new, metrics = train_step(state, batch, key)
    masked = float(jnp.sum(jnp.where(valid, losses["total"], 0.0)) / jnp.sum(valid))
    np.testing.assert_allclose(float(metrics["loss"]), masked, rtol=1e-6)
    assert float(metrics["critic_loss"]) == float(metrics["loss"])
    # Polyak: the new target is (1 - tau) old target + tau new critic, to float32 rounding (XLA may fuse
    # the multiply-add, a one-ulp difference).
    keep, tau = np.float32(1.0 - CONFIG.tau), np.float32(CONFIG.tau)
    expected = jax.tree_util.tree_map(lambda t, o: keep * np.asarray(t) + tau * np.asarray(o),
                                      state.params["target_critic"], new.params["critic"])  # fmt: skip
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, rtol=3e-7, atol=1e-9),
                           new.params["target_critic"], expected)  # fmt: skip
    # Order critic -> actor: the actor loss is evaluated through the UPDATED critics, at the old alpha.
    action, log_prob = sac.sample_action(state.params["actor"], batch["obs"], jax.random.split(key)[1], CONFIG, 2)
    q_new = jnp.min(sac.q_values(new.params["critic"], batch["obs"], action, CONFIG), axis=0)
    alpha = jnp.exp(state.params["log_alpha"])
    np.testing.assert_allclose(float(metrics["actor_loss"]), float(jnp.mean(alpha * log_prob - q_new)), rtol=1e-5)
    assert int(new.step) == 1 and set(metrics) >= {"loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q_mean"}
    assert all(v.dtype == jnp.float32 and v.shape == () for v in metrics.values())


def test_value_estimate_is_min_q_of_the_mean_action(state):
    batch = make_batch(jax.random.PRNGKey(10))
    value = value_estimate(state, batch)
    assert value.shape == (B, T) and value.dtype == jnp.float32
    p = np_params(state.params)
    obs = np.asarray(batch["obs"], np.float64)
    mean_action = np.tanh(np_mlp(p["actor"], obs)[..., :2])
    expected = np.minimum(*(np_critic(p["critic"], i, obs, mean_action) for i in range(2)))
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-4, atol=1e-5)


# --- the protocol: vmap, mixing, policy, errors --------------------------------------------------


def test_vmapped_seeds_equal_single_runs():
    keys = jax.random.split(jax.random.PRNGKey(11), 2)
    batches = jax.vmap(make_batch)(jax.random.split(jax.random.PRNGKey(12), 2))
    step_keys = jax.random.split(jax.random.PRNGKey(13), 2)
    states = jax.vmap(lambda k: sac.init_agent(k, SPEC, CONFIG))(keys)
    together = jax.jit(jax.vmap(sac.train_step))(states, batches, step_keys)
    for i in range(2):  # the single runs reuse the module's compiled train_step
        alone = train_step(sac.init_agent(keys[i], SPEC, CONFIG), jax.tree_util.tree_map(lambda x: x[i], batches),
                           step_keys[i])  # fmt: skip
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), rtol=1e-6,
                                                                       atol=1e-6), together, alone)  # fmt: skip


def test_mix_agents_exact_at_the_ends_and_resets_targets_and_optimisers(state):
    other, _ = train_step(sac.init_agent(jax.random.PRNGKey(14), SPEC, CONFIG), make_batch(jax.random.PRNGKey(15)),
                          jax.random.PRNGKey(16))  # fmt: skip
    for alpha, source in ((0.0, state), (1.0, other)):
        mixed = sac.mix_agents(state, other, alpha)
        for group in ("actor", "critic", "log_alpha"):
            jax.tree_util.tree_map(np.testing.assert_array_equal, mixed.params[group], source.params[group])
        jax.tree_util.tree_map(np.testing.assert_array_equal, mixed.params["target_critic"], source.params["critic"])
        assert int(mixed.step) == 1  # the tandem's
    fresh = sac.init_agent(jax.random.PRNGKey(0), SPEC, CONFIG).opt_state
    mixed = jax.jit(jax.vmap(sac.mix_agents, in_axes=(None, None, 0)))(state, other, jnp.array([0.25, 1.0]))
    half = (0.75 * state.params["log_alpha"] + 0.25 * other.params["log_alpha"])
    np.testing.assert_allclose(float(mixed.params["log_alpha"][0]), float(half), rtol=1e-6)
    for group in ("actor", "critic"):  # fresh Adam: zero moments, zero count
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(np.asarray(a)[1], np.asarray(b)),
                               mixed.opt_state[group], fresh[group])  # fmt: skip


def test_policy_actions_in_range_and_eval_deterministic(state):
    obs = 50.0 * jax.random.normal(jax.random.PRNGKey(17), (6, 5))  # large inputs saturate the tanh
    carry = sac.initial_policy_carry(state, 6)
    first = jnp.zeros((6,), bool)
    explore = [act(state, carry, obs, first, jax.random.PRNGKey(i), mode="explore")[0] for i in range(2)]
    evals = [act(state, carry, obs, first, jax.random.PRNGKey(i), mode="eval") for i in range(2)]
    for action in explore + [a for a, _ in evals]:
        assert action.shape == (6, 2) and action.dtype == jnp.float32
        assert float(jnp.max(jnp.abs(action))) <= 1.0
    assert float(jnp.min(jnp.abs(explore[0]))) == 1.0  # saturated, still in range
    np.testing.assert_array_equal(np.asarray(evals[0][0]), np.asarray(evals[1][0]))
    moderate = obs / 50.0  # unsaturated: samples of two keys differ
    samples = [act(state, carry, moderate, first, jax.random.PRNGKey(i), mode="explore")[0] for i in range(2)]
    assert float(jnp.min(jnp.abs(samples[0] - samples[1]))) > 0.0
    np.testing.assert_array_equal(np.asarray(evals[0][1]), np.zeros(6, np.int32))  # the carry passes through


def test_bad_inputs_raise_clear_errors(state):
    image = EnvSpec(name="minatar/x", obs_shape=(10, 10, 4), obs_dtype="uint8",
                    action=ActionSpec(kind="continuous", shape=(2,)), episode_length=10)  # fmt: skip
    discrete = EnvSpec(name="synthetic/d", obs_shape=(5,), obs_dtype="float32",
                       action=ActionSpec(kind="discrete", num_actions=3), episode_length=10)  # fmt: skip
    with pytest.raises(ValueError, match="minatar/x: SAC takes vector observations"):
        sac.init_agent(jax.random.PRNGKey(0), image, CONFIG)
    with pytest.raises(ValueError, match="synthetic/d: SAC needs continuous actions"):
        sac.init_agent(jax.random.PRNGKey(0), discrete, CONFIG)
    obs, first, key = jnp.zeros((3, 5)), jnp.zeros((3,), bool), jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="unknown policy mode"):
        sac.policy_step(state, None, obs, first, key, "greedy")
    with pytest.raises(ValueError, match=r"obs must be \(B, \*\(5,\)\)"):
        sac.policy_step(state, None, jnp.zeros((3, 4)), first, key, "eval")
    with pytest.raises(ValueError, match="is_first must be"):
        sac.policy_step(state, None, obs, jnp.zeros((2,), bool), key, "eval")
    batch = make_batch(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="missing"):
        sac.train_step(state, {k: v for k, v in batch.items() if k != "reward"}, key)
    with pytest.raises(ValueError, match="T >= 2"):
        sac.step_losses(state, jax.tree_util.tree_map(lambda x: x[:, :1], batch), key)
    with pytest.raises(ValueError, match="batch action must be"):
        sac.train_step(state, {**batch, "action": batch["action"][..., :1]}, key)
    with pytest.raises(ValueError, match="batch obs must be"):
        sac.value_estimate(state, {"obs": batch["obs"][..., :4]})
    with pytest.raises(ValueError, match="same SACConfig"):
        sac.mix_agents(state, state.replace(config=CONFIG.replace(tau=0.01)), 0.5)
    with pytest.raises(ValueError, match="alpha must be a scalar"):
        sac.mix_agents(state, state, jnp.ones(2))


def test_config_presets_and_validation():
    config = sac.CONFIG.from_preset("tiny")
    assert (config.hidden, config.preset) == ((256, 256), "tiny")  # the standard 256 x 256
    assert sac.CONFIG.from_preset("tiny", hidden=[16, 8]).hidden == (16, 8)  # JSON lists become tuples
    assert config.discount == 0.99 and hash(config) == hash(sac.CONFIG.from_preset("tiny"))
    assert "tiny" in sac.PRESETS and "target_entropy_per_dim" in sac.CONFIG.field_names()
    assert config.replace(tau=0.01).tau == 0.01
    with pytest.raises(ValueError, match="unknown SACConfig fields \\['width'\\]"):
        sac.CONFIG.from_preset("tiny", width=3)
    with pytest.raises(ValueError, match="unknown SAC preset 'huge'"):
        sac.CONFIG.from_preset("huge")
    for bad, message in (({"tau": 0.0}, "tau"), ({"hidden": (8, 0)}, "hidden"), ({"hidden": ()}, "hidden"),
                         ({"hidden": 64}, "hidden"), ({"n_step": True}, "n_step"), ({"actor_lr": -1.0}, "actor_lr"),
                         ({"log_std_min": 3.0}, "log_std_min < log_std_max"),
                         ({"discount": 1.5}, "discount")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            sac.CONFIG.from_preset("tiny", **bad)


def test_run_defaults_make_a_valid_run_config():
    from offon_jit.config import RunConfig

    run = RunConfig(task="dmc/cheetah_run-proprio", algo="sac", **sac.RUN_DEFAULTS)
    assert run.seq_len == sac.CONFIG.from_preset("tiny").n_step + 1  # one n-step target per window
    assert run.eval_policy == "mode"
