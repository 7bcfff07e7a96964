"""The public agent API: full updates, gradient paths, slow critic, acting, seed vmapping, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer.actor_critic import make_actor
from tests.dreamer import helpers as H

METRIC_KEYS = {
    "wm_total", "wm_pred", "wm_dyn", "wm_rep", "wm_kl", "wm_reward", "wm_cont", "wm_grad_norm",
    "post_entropy", "prior_entropy", "actor_loss", "actor_grad_norm", "actor_entropy", "critic_loss",
    "critic_grad_norm", "imag_reward", "imag_return", "imag_value", "imag_cont", "imag_weight", "adv_abs",
    "retnorm_low", "retnorm_high", "retnorm_scale", "policy_ae_loss",
}  # fmt: skip  # policy_ae_loss: the policy-input autoencoder is on by default (policy_ae_bottleneck=32)


@pytest.fixture(scope="module")
def point_update():
    state = H.init_point(0)
    new_state, metrics = H.train_step(state, H.point_batch(0), jax.random.PRNGKey(3))
    return state, new_state, jax.device_get(metrics)


@pytest.fixture(scope="module")
def image_update():
    state = H.init_image(0)
    new_state, metrics = H.train_step(state, H.random_image_batch(0), jax.random.PRNGKey(4))
    return state, new_state, jax.device_get(metrics)


@pytest.mark.parametrize("update, decoder", [("point_update", "wm_vector"), ("image_update", "wm_image")])
def test_train_step_reports_finite_scalar_metrics(update, decoder, request):
    state, new_state, metrics = request.getfixturevalue(update)
    assert set(metrics) == METRIC_KEYS | {decoder}
    for name, value in metrics.items():
        assert np.shape(value) == () and np.isfinite(value), name
    assert int(new_state.step) == int(state.step) + 1
    # The return normaliser's EMAs moved from zero towards this batch's percentiles.
    assert set(new_state.return_norm) == {"task"}
    norm = new_state.return_norm["task"]
    assert float(norm.high) >= float(norm.low)
    assert float(norm.high) != 0.0 or float(norm.low) != 0.0


@pytest.mark.parametrize("update", ["point_update", "image_update"])
def test_every_module_is_updated(update, request):
    state, new_state, _ = request.getfixturevalue(update)
    # Adam moves a parameter iff its gradient is non-zero, so a moved module received gradients.
    for module in ("encoder", "rssm", "decoder", "reward", "cont"):
        before, after = state.params["wm"]["params"][module], new_state.params["wm"]["params"][module]
        assert H.max_abs_diff(before, after) > 0, module
    for group in ("actor", "critic"):
        assert H.max_abs_diff(state.params[group], new_state.params[group]) > 0, group
    for tree in (new_state.params, new_state.opt_states):
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(tree))


def test_continuous_actor_learns_through_the_dynamics(point_update):
    """The mean head's only path to the loss is sampled action -> RSSM -> rewards/values."""
    state, new_state, metrics = point_update
    changes = H.leaf_changes(state.params["actor"], new_state.params["actor"])
    assert changes["params/mean/kernel"] > 0 and changes["params/std/kernel"] > 0
    assert metrics["actor_grad_norm"] > 0


def test_discrete_actor_learns_by_reinforce(image_update):
    """Imagined discrete actions are constants and the entropy bonus is off here (IMAGE_CONFIG),
    so the policy head moves only through log pi(a|s) * sg(advantage)."""
    state, new_state, metrics = image_update
    assert H.IMAGE_CONFIG.actor_entropy == 0.0
    changes = H.leaf_changes(state.params["actor"], new_state.params["actor"])
    assert changes["params/logits/kernel"] > 0
    assert metrics["actor_grad_norm"] > 0 and metrics["adv_abs"] > 0


@pytest.mark.parametrize("update", ["point_update", "image_update"])
def test_slow_critic_is_an_ema_of_the_critic_with_rate_002(update, request):
    state, new_state, _ = request.getfixturevalue(update)
    rate = H.POINT_CONFIG.slow_critic_fraction
    assert rate == 0.02
    expected = jax.tree_util.tree_map(
        lambda slow, fast: (1 - rate) * slow + rate * fast, state.params["slow_critic"], new_state.params["critic"]
    )
    assert H.max_abs_diff(expected, new_state.params["slow_critic"]) < 1e-7
    assert H.max_abs_diff(state.params["slow_critic"], new_state.params["slow_critic"]) > 0
    assert H.max_abs_diff(new_state.params["critic"], new_state.params["slow_critic"]) > 0


def test_wrong_batches_are_rejected(point_update):
    state = point_update[0]
    batch = H.point_batch(0)
    with pytest.raises(ValueError, match="action dim"):
        agent.train_step(state, dict(batch, action=np.zeros((H.BATCH, H.LENGTH, 5), np.float32)), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="missing keys"):
        agent.train_step(state, {k: v for k, v in batch.items() if k != "is_terminal"}, jax.random.PRNGKey(0))


# ---------------------------------------------------------------- acting


def _policy_inputs(spec, batch_size, seed):
    rng = np.random.default_rng(seed)
    if spec.is_image:
        return (rng.random((batch_size,) + spec.obs_shape) < 0.3).astype(np.uint8) * 255
    return rng.normal(size=(batch_size,) + spec.obs_shape).astype(np.float32)


@pytest.mark.parametrize("kind", ["point", "image"])
def test_policy_step_gives_valid_actions_and_resets_on_is_first(kind):
    state = H.init_point(1) if kind == "point" else H.init_image(1)
    spec, n = state.spec, 5
    carry = agent.initial_policy_carry(state, n)
    obs = _policy_inputs(spec, n, 0)
    first = np.ones(n, bool)
    action, carry = H.policy_step(state, carry, obs, first, jax.random.PRNGKey(0), mode="explore")
    if spec.action.is_discrete:
        assert action.shape == (n,) and action.dtype == jnp.int32
        assert ((0 <= np.asarray(action)) & (np.asarray(action) < spec.action.num_actions)).all()
        np.testing.assert_array_equal(carry.prev_action, np.eye(spec.action.num_actions)[np.asarray(action)])
    else:
        assert action.shape == (n, spec.action.dim) and action.dtype == jnp.float32
        assert np.abs(np.asarray(action)).max() <= 1.0
        np.testing.assert_array_equal(carry.prev_action, action)

    # A step with is_first ignores whatever the carry held: same output as from a fresh carry.
    garbage = jax.tree_util.tree_map(lambda x: x + 0.7, carry)
    obs2, key = _policy_inputs(spec, n, 1), jax.random.PRNGKey(1)
    fresh = agent.initial_policy_carry(state, n)
    a_reset, c_reset = H.policy_step(state, garbage, obs2, first, key, mode="explore")
    a_fresh, c_fresh = H.policy_step(state, fresh, obs2, first, key, mode="explore")
    np.testing.assert_array_equal(a_reset, a_fresh)
    assert H.max_abs_diff(c_reset, c_fresh) == 0.0
    _, c_cont = H.policy_step(state, garbage, obs2, ~first, key, mode="explore")
    assert H.max_abs_diff(c_cont.latent.deter, c_fresh.latent.deter) > 1e-4

    # Eval mode takes the actor's mode (argmax / mean) at the new latent.
    a_eval, c_eval = H.policy_step(state, carry, obs2, ~first, key, mode="eval")
    policy = make_actor(state.config, spec.action.dim, spec.action.is_discrete).apply(
        state.params["actor"], c_eval.latent.feat()
    )
    if spec.action.is_discrete:
        np.testing.assert_array_equal(a_eval, np.argmax(np.asarray(policy.logits), -1))
    else:
        np.testing.assert_allclose(a_eval, np.clip(np.asarray(policy.mean), -1, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown policy mode"):
        agent.policy_step(state, carry, obs2, first, key, mode="train")


# ---------------------------------------------------------------- seeds as a vmap axis


def test_vmapped_update_over_seeds_equals_separate_updates():
    seeds = 3
    keys = jax.random.split(jax.random.PRNGKey(11), seeds)
    states = jax.vmap(lambda k: agent.init_agent(k, H.POINT_SPEC, H.POINT_CONFIG))(keys)
    batches = [H.point_batch(s) for s in range(seeds)]
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *batches)
    step_keys = jax.random.split(jax.random.PRNGKey(12), seeds)
    vmapped_states, vmapped_metrics = H.train_step_seeds(states, stacked, step_keys)
    for i in range(seeds):
        single = agent.init_agent(keys[i], H.POINT_SPEC, H.POINT_CONFIG)
        assert H.max_abs_diff(single.params, jax.tree_util.tree_map(lambda x: x[i], states.params)) < 1e-6
        new_single, metrics = H.train_step(single, batches[i], step_keys[i])
        mine = jax.tree_util.tree_map(lambda x: x[i], vmapped_states)
        for a, b in zip(jax.tree_util.tree_leaves(new_single), jax.tree_util.tree_leaves(mine)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        for name, value in metrics.items():
            np.testing.assert_allclose(value, vmapped_metrics[name][i], rtol=1e-4, atol=1e-5, err_msg=name)
    # Different seeds really are different agents.
    assert H.max_abs_diff(vmapped_states.params["actor"], jax.tree_util.tree_map(lambda x: x[::-1], vmapped_states.params["actor"])) > 0


# ---------------------------------------------------------------- learning


def test_world_model_learns_the_point_mass_and_its_rewards():
    data = H.point_dataset()
    held_out = H.take(data, slice(H.TRAIN_SEQUENCES, H.TRAIN_SEQUENCES + H.BATCH))
    state = H.init_point(5)
    eval_key = jax.random.PRNGKey(99)
    before, _ = H.wm_outputs(state.params["wm"], held_out, eval_key, H.POINT_CONFIG)
    rng = np.random.default_rng(5)
    for i in range(150):
        index = rng.choice(H.TRAIN_SEQUENCES, H.BATCH, replace=False)
        state, metrics = H.train_step(state, H.take(data, index), jax.random.PRNGKey(1000 + i))
    after, extras = H.wm_outputs(state.params["wm"], held_out, eval_key, H.POINT_CONFIG)
    loss_before, loss_after = float(np.mean(before["total"])), float(np.mean(after["total"]))
    print(f"held-out world-model loss {loss_before:.3f} -> {loss_after:.3f}")
    assert loss_after < 0.5 * loss_before
    for term in ("vector", "reward", "cont"):
        assert float(np.mean(after[term])) < float(np.mean(before[term])), term
    # Rewards predicted from the filtered latents track the real ones on held-out steps.
    valid = ~held_out["is_first"]
    r = np.corrcoef(np.asarray(extras["reward_pred"])[valid], held_out["reward"][valid])[0, 1]
    print(f"held-out reward correlation {r:.3f}")
    assert r > 0.5
    assert np.isfinite(metrics["actor_loss"]) and np.isfinite(metrics["critic_loss"])
