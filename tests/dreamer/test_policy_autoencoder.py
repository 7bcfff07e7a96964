"""Policy-input autoencoder (paper App. A.3, Eq. S2): training, OOD sensitivity, the loss it reports."""

import jax
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer import policy_autoencoder as pae
from offon_jit.dreamer.optim import make_optimizers
from offon_jit.dreamer.rssm import Latent
from tests.dreamer import helpers as H

CONFIG = H.POINT_CONFIG  # the autoencoder is on by default (bottleneck 32)
STEPS = 60

agent_latent = jax.jit(agent.agent_latent)
policy_input_loss = jax.jit(agent.policy_input_loss)


@jax.jit
def _fit(params, opt_state, feat):
    """STEPS autoencoder updates on fixed features (at 10x the default rate, for a short test);
    returns (params, per-step MSE)."""
    optimizer = make_optimizers(CONFIG.replace(policy_ae_lr=1e-3))["policy_ae"]

    def body(carry, _):
        params, opt_state, metrics = pae.policy_ae_update(*carry, optimizer, CONFIG, feat)
        return (params, opt_state), metrics["policy_ae_loss"]

    (params, _), losses = jax.lax.scan(body, (params, opt_state), None, length=STEPS)
    return params, losses


@pytest.fixture(scope="module")
def fitted():
    state = agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, CONFIG)
    post = agent_latent(state, H.point_batch(0), jax.random.PRNGKey(1))
    params, losses = _fit(state.params["policy_ae"], state.opt_states["policy_ae"], post.feat())
    return state, state.replace(params={**state.params, "policy_ae": params}), post, np.asarray(losses)


def test_autoencoder_has_a_bottleneck_and_its_own_optimizer(fitted):
    state = fitted[0]
    params = state.params["policy_ae"]["params"]
    assert params["code"]["kernel"].shape == (CONFIG.units, CONFIG.policy_ae_bottleneck)
    assert params["out"]["kernel"].shape == (CONFIG.units, CONFIG.feat_size)
    assert "policy_ae" in state.opt_states


def test_reconstruction_loss_decreases_on_a_fixed_batch(fitted):
    losses = fitted[3]
    print(f"policy AE MSE {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert losses[-1] < 0.5 * losses[0]


def test_policy_input_loss_is_the_per_state_mse_and_flags_novel_inputs(fitted):
    _, after, post, losses = fitted
    train_mse = np.asarray(policy_input_loss(after, post))
    assert train_mse.shape == (H.BATCH, H.LENGTH)
    # Its batch mean is the MSE the updates reported (the last one is measured before the last step).
    assert float(train_mse.mean()) == pytest.approx(float(losses[-1]), rel=0.1)
    recon = jax.jit(pae.make_policy_autoencoder(CONFIG).apply)(after.params["policy_ae"], post.feat())
    np.testing.assert_allclose(train_mse, np.mean((np.asarray(recon) - np.asarray(post.feat())) ** 2, -1), rtol=1e-5)
    # Far out of distribution: random deterministic states and random (not posterior) categoricals.
    rng = np.random.default_rng(3)
    novel = Latent(
        deter=(2.0 * rng.normal(size=post.deter.shape)).astype(np.float32),
        stoch=np.eye(CONFIG.classes, dtype=np.float32)[rng.integers(0, CONFIG.classes, post.stoch.shape[:-1])],
    )
    novel_mse = np.asarray(policy_input_loss(after, novel))
    print(f"policy-input MSE: training features {train_mse.mean():.4f}, novel features {novel_mse.mean():.4f}")
    assert novel_mse.mean() > 3.0 * train_mse.mean()
    assert np.median(novel_mse) > np.max(train_mse)


def test_nll_is_half_the_summed_squared_error(fitted):
    params = fitted[1].params["policy_ae"]
    feat = np.random.default_rng(1).normal(size=(6, CONFIG.feat_size)).astype(np.float32)
    nll, mse = jax.jit(pae.policy_ae_loss, static_argnums=1)(params, CONFIG, feat)
    recon = jax.jit(pae.make_policy_autoencoder(CONFIG).apply)(params, feat)
    squared = (np.asarray(recon) - feat) ** 2
    np.testing.assert_allclose(nll, 0.5 * squared.sum(-1).mean(), rtol=1e-5)
    np.testing.assert_allclose(mse, squared.mean(), rtol=1e-5)


def test_disabled_autoencoder_is_absent_and_rejected(fitted):
    plain = agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, CONFIG.replace(policy_ae_bottleneck=0))
    assert "policy_ae" not in plain.params and "policy_ae" not in plain.opt_states
    # Same key, with or without the autoencoder: identical world model, actor and critic.
    for group in ("wm", "actor", "critic"):
        for a, b in zip(jax.tree_util.tree_leaves(plain.params[group]), jax.tree_util.tree_leaves(fitted[0].params[group])):
            np.testing.assert_array_equal(a, b, err_msg=group)
    with pytest.raises(ValueError, match="no policy-input autoencoder"):
        agent.policy_input_loss(plain, fitted[2])
    with pytest.raises(ValueError, match="policy_ae_bottleneck must be an integer >= 0"):
        CONFIG.replace(policy_ae_bottleneck=-2)
