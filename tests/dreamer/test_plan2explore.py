"""Plan2Explore: ensemble disagreement, its training, the Eq. 5 reward mix and key discipline."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer import plan2explore as p2e
from offon_jit.dreamer.optim import make_optimizers
from tests.dreamer import helpers as H

# The tiny point-mass setup of test_agent (whose compiled update PLAIN shares); P2E adds the ensemble.
P2E_CONFIG = H.POINT_CONFIG.replace(disag_models=8)
PLAIN_CONFIG = H.POINT_CONFIG
# The ensemble as a signal only: trained, never rewarded.
SIGNAL_CONFIG = H.POINT_CONFIG.replace(disag_models=4, disag_reward=False)
assert PLAIN_CONFIG.disag_models == 0

disagreement_reward = jax.jit(agent.disagreement_reward)
ensemble_loss = jax.jit(p2e.ensemble_loss, static_argnums=1)


def max_abs_diff(a, b) -> float:
    """Largest |a - b| over two pytrees, in numpy (no per-leaf XLA compiles)."""
    pairs = zip(jax.tree_util.tree_leaves(jax.device_get(a)), jax.tree_util.tree_leaves(jax.device_get(b)))
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in pairs)
agent_latent = jax.jit(agent.agent_latent)


@jax.jit
def _ensemble_steps(params, opt_state, post, action, is_first):
    """20 ensemble updates on one fixed batch (at 10x the default rate, for a short test);
    returns the per-step mean head losses."""
    optimizer = make_optimizers(P2E_CONFIG.replace(expl_lr=1e-3))["disag"]

    def body(carry, _):
        params, opt_state = carry
        params, opt_state, metrics = p2e.ensemble_update(params, opt_state, optimizer, P2E_CONFIG, post, action, is_first)
        return (params, opt_state), metrics["disag_loss"]

    _, losses = jax.lax.scan(body, (params, opt_state), None, length=20)
    return losses


@pytest.fixture(scope="module")
def p2e_state():
    return agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, P2E_CONFIG)


@pytest.fixture(scope="module")
def posterior(p2e_state):
    batch = H.point_batch(0)
    return batch, agent_latent(p2e_state, batch, jax.random.PRNGKey(1))


def test_ensemble_has_independent_heads_with_a_leading_k_axis(p2e_state):
    params = p2e_state.params["disag"]
    kernels = params["params"]["out"]["kernel"]
    assert kernels.shape == (8, P2E_CONFIG.units, P2E_CONFIG.stoch_size)
    assert all(leaf.shape[0] == 8 for leaf in jax.tree_util.tree_leaves(params))
    assert np.abs(np.asarray(kernels[0]) - np.asarray(kernels[1])).max() > 0
    assert set(p2e_state.opt_states) == {"wm", "actor", "critic", "disag", "disag_critic", "policy_ae"}
    # The disagreement term has a critic, a slow copy and a normaliser of its own (v1 `Explore`).
    assert {"disag_critic", "slow_disag_critic"} <= set(p2e_state.params) and set(p2e_state.return_norm) == {"task", "disag"}
    assert max_abs_diff(p2e_state.params["disag_critic"], p2e_state.params["slow_disag_critic"]) == 0.0
    assert p2e_state.expl_weight.shape == () and p2e_state.expl_weight.dtype == jnp.float32


def with_heads(state, make_leaf):
    """state whose ensemble leaves are make_leaf('/'-joined path, numpy leaf with K axis), as float32."""
    def leaf(path, x):
        return make_leaf("/".join(str(k.key) for k in path), np.asarray(x)).astype(np.float32)
    disag = jax.tree_util.tree_map_with_path(leaf, state.params["disag"])
    return state.replace(params={**state.params, "disag": disag})


def test_disagreement_is_zero_when_heads_agree_and_grows_with_their_spread(p2e_state, posterior):
    batch, post = posterior
    action = batch["action"]
    start = np.asarray(disagreement_reward(p2e_state, post, action))
    assert start.shape == (H.BATCH, H.LENGTH) and (start > 0).all()

    clone = lambda path, x: np.repeat(x[:1], len(x), 0)  # every head a copy of head 0
    np.testing.assert_array_equal(disagreement_reward(with_heads(p2e_state, clone), post, action), 0.0)

    # Spread only in the output bias, b_k = b_0 + s * u_k: the std is exactly s * std_k(u_k).
    offsets = np.random.default_rng(5).normal(size=(8, P2E_CONFIG.stoch_size))
    bias_only = lambda s: lambda path, x: clone(path, x) + (s * offsets if path == "params/out/bias" else 0.0)
    expected = np.mean(np.std(offsets, 0))
    for s in (0.01, 0.1, 1.0):
        np.testing.assert_allclose(disagreement_reward(with_heads(p2e_state, bias_only(s)), post, action), s * expected, rtol=2e-3)

    # Spread in every weight: the mean disagreement grows monotonically with the noise scale.
    def all_weights(s):
        rng = np.random.default_rng(6)
        return lambda path, x: clone(path, x) + s * rng.normal(size=x.shape)
    means = [float(np.mean(disagreement_reward(with_heads(p2e_state, all_weights(s)), post, action))) for s in (0.0, 0.003, 0.03, 0.3)]
    print("mean disagreement vs weight noise:", means)
    assert means[0] == 0.0 and all(a < b for a, b in zip(means, means[1:]))


def test_disagreement_function_matches_a_direct_std():
    preds = np.random.default_rng(0).normal(size=(5, 3, 7)).astype(np.float32)
    disagreement = jax.jit(p2e.disagreement)
    np.testing.assert_allclose(disagreement(preds), np.std(preds, 0).mean(-1), rtol=1e-5)
    # Zero spread gives an exact zero with a finite (zero) gradient, for a K that is no power of two.
    same = np.broadcast_to(preds[:1] * np.float32(0.37), (3, 3, 7))
    np.testing.assert_array_equal(disagreement(same), 0.0)
    grad = jax.jit(jax.grad(lambda p: jnp.sum(p2e.disagreement(p))))(same)
    assert np.isfinite(np.asarray(grad)).all()


def test_ensemble_loss_decreases_on_a_fixed_batch(p2e_state, posterior):
    batch, post = posterior
    losses = np.asarray(_ensemble_steps(
        p2e_state.params["disag"], p2e_state.opt_states["disag"], post, jnp.asarray(batch["action"]), batch["is_first"]
    ))  # fmt: skip
    print(f"ensemble loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[-1] < 0.7 * losses[0]
    assert np.all(np.diff(losses[-5:]) < 0)


def test_ensemble_loss_masks_pairs_that_cross_an_episode_start(p2e_state, posterior):
    batch, post = posterior
    params, action = p2e_state.params["disag"], batch["action"]
    first = np.zeros((H.BATCH, H.LENGTH), bool)
    first[:, 0] = True
    base = float(ensemble_loss(params, P2E_CONFIG, post, action, first)[0])
    # Corrupt z_4 in every sequence: the target of pair (3, 4) and the input of pair (4, 5).
    stoch = np.array(post.stoch)
    stoch[:, 4] = np.roll(stoch[:, 4], 1, -1)
    corrupt = post.replace(stoch=stoch)
    assert float(ensemble_loss(params, P2E_CONFIG, corrupt, action, first)[0]) != base
    # is_first[t + 1] masks pair (t, t + 1): with episodes starting at 4 and 5 both corrupted pairs drop out.
    first[:, 4:6] = True
    masked = float(ensemble_loss(params, P2E_CONFIG, post, action, first)[0])
    assert float(ensemble_loss(params, P2E_CONFIG, corrupt, action, first)[0]) == masked


def _train_logged(state, steps=3):
    """`steps` updates on point batches 0.. with keys 20..: the final state and each step's metrics."""
    logged = []
    for i in range(steps):
        state, metrics = H.train_step(state, H.point_batch(i), jax.random.PRNGKey(20 + i))
        logged.append(metrics)
    return state, logged


def _train(state, steps=3):
    state, logged = _train_logged(state, steps)
    return state, logged[-1]


@pytest.fixture(scope="module")
def trained_pair():
    """(plain agent, P2E agent at w=0, P2E agent at w=1), each after 3 updates on the same batches."""
    key = jax.random.PRNGKey(7)
    plain = _train(agent.init_agent(key, H.POINT_SPEC, PLAIN_CONFIG))
    expl0 = _train(agent.init_agent(key, H.POINT_SPEC, P2E_CONFIG, expl_weight=0.0))
    expl1 = _train(agent.init_agent(key, H.POINT_SPEC, P2E_CONFIG, expl_weight=1.0))
    return plain, expl0, expl1


def test_zero_exploration_weight_with_ensemble_equals_the_plain_agent_bitwise(trained_pair):
    (plain, plain_metrics), (expl0, metrics), _ = trained_pair
    assert "disag" not in plain.params and "disag" not in plain.opt_states
    for group in ("wm", "actor", "critic", "slow_critic"):
        for a, b in zip(jax.tree_util.tree_leaves(plain.params[group]), jax.tree_util.tree_leaves(expl0.params[group])):
            np.testing.assert_array_equal(a, b, err_msg=group)
    for group in ("wm", "actor", "critic"):
        for a, b in zip(jax.tree_util.tree_leaves(plain.opt_states[group]), jax.tree_util.tree_leaves(expl0.opt_states[group])):
            np.testing.assert_array_equal(a, b, err_msg=group)
    disag_term = {"imag_disag_reward", "imag_disag_return", "imag_disag_value", "disag_retnorm_low",
                  "disag_retnorm_high", "disag_retnorm_scale", "disag_critic_loss", "disag_critic_grad_norm"}
    assert set(metrics) - set(plain_metrics) == {"disag_loss", "adv_disag_share", *disag_term}
    assert float(metrics["imag_reward"]) == float(plain_metrics["imag_reward"])
    assert float(metrics["adv_disag_share"]) == 0.0
    assert float(metrics["imag_disag_reward"]) > 0 and np.isfinite(float(metrics["disag_loss"]))


def test_signal_only_ensemble_trains_without_changing_the_plain_agent(trained_pair):
    """disag_reward=False: the ensemble trains on the batch's posterior as with the reward, but there is
    no disagreement term, so everything else is the plain agent's, bitwise, whatever expl_weight says."""
    (plain, plain_metrics), _, _ = trained_pair
    fresh = agent.init_agent(jax.random.PRNGKey(7), H.POINT_SPEC, SIGNAL_CONFIG, expl_weight=1.0)
    assert set(fresh.params) == set(plain.params) | {"disag"} and set(fresh.opt_states) == set(plain.opt_states) | {"disag"}
    assert set(fresh.return_norm) == {"task"}
    signal, logged = _train_logged(fresh)
    metrics = jax.device_get(logged[-1])
    for field in ("params", "opt_states"):
        plain_groups, signal_groups = getattr(plain, field), getattr(signal, field)
        for group in plain_groups:
            for a, b in zip(jax.tree_util.tree_leaves(plain_groups[group]), jax.tree_util.tree_leaves(signal_groups[group])):
                np.testing.assert_array_equal(a, b, err_msg=f"{field}/{group}")
    for a, b in zip(jax.tree_util.tree_leaves(plain.return_norm), jax.tree_util.tree_leaves(signal.return_norm)):
        np.testing.assert_array_equal(a, b)
    assert int(signal.step) == int(plain.step) == 3
    assert set(metrics) - set(plain_metrics) == {"disag_loss"} and set(plain_metrics) <= set(metrics)
    for name in plain_metrics:
        assert float(metrics[name]) == float(plain_metrics[name]), name
    # The ensemble learns: its loss on each update's batch falls, and its heads moved from their initialisation.
    losses = [float(m["disag_loss"]) for m in logged]
    print("signal-only ensemble loss per update:", losses)
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert max_abs_diff(fresh.params["disag"], signal.params["disag"]) > 0
    assert signal.params["disag"]["params"]["out"]["kernel"].shape[0] == 4
    # Its disagreement stays measurable on the agent's own data.
    batch = H.point_batch(0)
    post = agent_latent(signal, batch, jax.random.PRNGKey(1))
    assert (np.asarray(disagreement_reward(signal, post, jnp.asarray(batch["action"]))) > 0).all()


def test_full_exploration_weight_changes_the_actor_update(trained_pair):
    _, (expl0, _), (expl1, metrics1) = trained_pair
    assert float(expl1.expl_weight) == 1.0
    # The ensembles see the same data either way; the actor (and hence the critic) learn a different reward.
    assert max_abs_diff(expl0.params["disag"], expl1.params["disag"]) == 0.0
    assert max_abs_diff(expl0.params["actor"], expl1.params["actor"]) > 0
    # At w = 1 the task term's advantage has weight 0: the actor follows the disagreement alone.
    assert float(metrics1["adv_disag_share"]) == 1.0


def test_exploration_weight_is_a_vmappable_array_and_validated():
    weights = jnp.array([0.0, 0.5, 1.0])
    init_weight = lambda w: agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, P2E_CONFIG, w).expl_weight
    np.testing.assert_array_equal(jax.jit(jax.vmap(init_weight))(weights), weights)
    with pytest.raises(ValueError, match="expl_weight must lie in"):
        agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, P2E_CONFIG, 1.5)


def test_ensemble_config_is_validated_and_absent_modules_raise(posterior):
    with pytest.raises(ValueError, match="disag_models must be 0"):
        H.POINT_CONFIG.replace(disag_models=1)
    with pytest.raises(ValueError, match="disag_units must be an integer >= 0"):
        H.POINT_CONFIG.replace(disag_units=-1)
    with pytest.raises(ValueError, match="expl_lr must be a positive"):
        H.POINT_CONFIG.replace(expl_lr=0.0)
    with pytest.raises(ValueError, match=r"disag_reward must be a bool \(true or false\), got 0"):
        H.POINT_CONFIG.replace(disag_models=4, disag_reward=0)
    assert not SIGNAL_CONFIG.disag_reward_on and P2E_CONFIG.disag_reward_on and not PLAIN_CONFIG.disag_reward_on
    assert P2E_CONFIG.replace(disag_layers=3).disag_head_layers == 3 and P2E_CONFIG.disag_head_units == P2E_CONFIG.units
    batch, post = posterior
    plain = agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, PLAIN_CONFIG)
    with pytest.raises(ValueError, match="no Plan2Explore ensemble"):
        agent.disagreement_reward(plain, post, jnp.asarray(batch["action"]))
