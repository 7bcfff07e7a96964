"""Controls and analyses: frozen-world-model updates, weight mixing (Eq. S3), decoded observations."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer.rssm import Latent
from tests.dreamer import helpers as H

# Equal to test_plan2explore.P2E_CONFIG, so one pytest process compiles its update once.
P2E_CONFIG = H.POINT_CONFIG.replace(disag_models=8)

train_step_frozen_wm = jax.jit(functools.partial(agent.train_step, train_world_model=False))
agent_latent = jax.jit(agent.agent_latent)
decode_observation = jax.jit(agent.decode_observation)
mix_agents = jax.jit(agent.mix_agents)


def numpy_leaves(tree) -> list:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


def leaves_equal(a, b) -> bool:
    flat_a, flat_b = numpy_leaves(a), numpy_leaves(b)
    return len(flat_a) == len(flat_b) and all(np.array_equal(x, y) for x, y in zip(flat_a, flat_b))


def max_abs_diff(a, b) -> float:
    """Largest |a - b| over two pytrees, in numpy (no per-leaf XLA compiles)."""
    return max(float(np.max(np.abs(x - y))) for x, y in zip(numpy_leaves(a), numpy_leaves(b)))


@pytest.fixture(scope="module")
def frozen_updates():
    """A P2E agent before and after two frozen-world-model updates, plus one normal update for comparison."""
    state = agent.init_agent(jax.random.PRNGKey(0), H.POINT_SPEC, P2E_CONFIG, expl_weight=0.5)
    frozen, metrics = train_step_frozen_wm(state, H.point_batch(0), jax.random.PRNGKey(1))
    frozen, metrics = train_step_frozen_wm(frozen, H.point_batch(1), jax.random.PRNGKey(2))
    _, normal_metrics = H.train_step(state, H.point_batch(0), jax.random.PRNGKey(1))
    return state, frozen, jax.device_get(metrics), jax.device_get(normal_metrics)


def test_frozen_world_model_stays_bitwise_while_the_rest_learns(frozen_updates):
    state, frozen, metrics, normal_metrics = frozen_updates
    assert leaves_equal(state.params["wm"], frozen.params["wm"])
    assert leaves_equal(state.opt_states["wm"], frozen.opt_states["wm"])
    for group in ("actor", "critic", "slow_critic", "disag", "policy_ae"):
        assert max_abs_diff(state.params[group], frozen.params[group]) > 0, group
    assert int(frozen.step) == 2
    assert set(metrics) == set(normal_metrics)
    assert metrics["wm_grad_norm"] == 0.0 and normal_metrics["wm_grad_norm"] > 0
    assert all(np.isfinite(v) for v in metrics.values())


def test_frozen_update_reports_the_same_world_model_loss_as_a_normal_one(frozen_updates):
    state, _, _, normal_metrics = frozen_updates
    _, first = train_step_frozen_wm(state, H.point_batch(0), jax.random.PRNGKey(1))
    # Both evaluate the loss at the same (pre-update) parameters on the same batch and key.
    for name in ("wm_total", "wm_vector", "wm_kl", "policy_ae_loss", "disag_loss"):
        np.testing.assert_allclose(first[name], normal_metrics[name], rtol=1e-5, err_msg=name)


def test_train_world_model_must_be_a_python_bool(frozen_updates):
    with pytest.raises(TypeError, match="must be a Python bool"):
        agent.train_step(frozen_updates[0], H.point_batch(0), jax.random.PRNGKey(0), train_world_model=np.bool_(False))


# ---------------------------------------------------------------- weight mixing (Eq. S3)


@pytest.fixture(scope="module")
def two_agents():
    active = agent.init_agent(jax.random.PRNGKey(10), H.POINT_SPEC, P2E_CONFIG)
    tandem = agent.init_agent(jax.random.PRNGKey(11), H.POINT_SPEC, P2E_CONFIG, expl_weight=0.25)
    # Give the Tandem non-trivial optimiser states and normaliser, so "fresh" and "kept" are distinguishable.
    tandem, _ = H.train_step(tandem, H.point_batch(2), jax.random.PRNGKey(12))
    return active, tandem


def test_mixing_is_exact_at_both_ends_and_averages_at_the_midpoint(two_agents):
    active, tandem = two_agents
    at0, at1, half = (mix_agents(active, tandem, jnp.float32(a)) for a in (0.0, 1.0, 0.5))
    for group in ("wm", "actor", "critic"):
        assert leaves_equal(at0.params[group], active.params[group]), group
        assert leaves_equal(at1.params[group], tandem.params[group]), group
        average = [(a + b) / 2 for a, b in zip(numpy_leaves(active.params[group]), numpy_leaves(tandem.params[group]))]
        assert max(np.abs(m - a).max() for m, a in zip(numpy_leaves(half.params[group]), average)) < 1e-6, group
        assert max_abs_diff(half.params[group], active.params[group]) > 0, group
    for mixed in (at0, half):
        assert leaves_equal(mixed.params["slow_critic"], mixed.params["critic"])


def test_mixing_keeps_the_tandems_other_fields_and_resets_mixed_optimisers(two_agents):
    active, tandem = two_agents
    mixed = mix_agents(active, tandem, 0.3)
    for group in ("disag", "policy_ae"):
        assert leaves_equal(mixed.params[group], tandem.params[group])
        assert leaves_equal(mixed.opt_states[group], tandem.opt_states[group])
    assert leaves_equal(mixed.return_norm, tandem.return_norm)
    assert int(mixed.step) == int(tandem.step) == 1 and float(mixed.expl_weight) == 0.25
    fresh = agent.init_agent(jax.random.PRNGKey(11), H.POINT_SPEC, P2E_CONFIG)
    for group in ("wm", "actor", "critic"):  # fresh Adam: zero count and moments
        assert all(not np.any(x) for x in numpy_leaves(mixed.opt_states[group])), group
        assert jax.tree_util.tree_structure(mixed.opt_states[group]) == jax.tree_util.tree_structure(fresh.opt_states[group])


def test_mixing_vmaps_over_alpha_and_rejects_mismatched_agents(two_agents):
    active, tandem = two_agents
    alphas = jnp.array([0.0, 0.5, 1.0], jnp.float32)
    mixed = jax.jit(jax.vmap(agent.mix_agents, in_axes=(None, None, 0)))(active, tandem, alphas)
    kernel = lambda s: s.params["actor"]["params"]["mean"]["kernel"]
    np.testing.assert_array_equal(kernel(mixed)[0], kernel(active))
    np.testing.assert_array_equal(kernel(mixed)[2], kernel(tandem))
    with pytest.raises(ValueError, match="same DreamerConfig"):
        agent.mix_agents(active, tandem.replace(config=H.POINT_CONFIG), 0.5)
    with pytest.raises(ValueError, match="alpha must be a scalar"):
        agent.mix_agents(active, tandem, jnp.ones(2))


# ---------------------------------------------------------------- decoded observations (Fig. S4)


def test_decoded_images_are_uint8_frames_of_any_leading_shape():
    state, config = H.init_image(0), H.IMAGE_CONFIG
    rng = np.random.default_rng(0)
    latent = Latent(
        deter=np.tanh(rng.normal(size=(2, 3, config.deter))).astype(np.float32),
        stoch=np.eye(config.classes, dtype=np.float32)[rng.integers(0, config.classes, (2, 3, config.stoch))],
    )
    image = decode_observation(state, latent)
    assert image.shape == (2, 3) + H.IMAGE_SPEC.obs_shape and image.dtype == jnp.uint8
    one = decode_observation(state, Latent(deter=latent.deter[0, 0], stoch=latent.stoch[0, 0]))
    assert one.shape == H.IMAGE_SPEC.obs_shape
    np.testing.assert_array_equal(one, image[0, 0])
    # The untrained decoder predicts about 0.5 everywhere, i.e. mid-grey uint8 values.
    assert 64 < float(np.mean(np.asarray(image))) < 192


def test_decoded_vectors_approach_the_true_observations_with_training():
    state = agent.init_agent(jax.random.PRNGKey(3), H.POINT_SPEC, P2E_CONFIG)
    batch, key = H.point_batch(4), jax.random.PRNGKey(5)

    def decode_error(state):
        decoded = decode_observation(state, agent_latent(state, batch, key))
        assert decoded.shape == batch["obs"].shape and decoded.dtype == jnp.float32
        return float(np.mean((np.asarray(decoded) - batch["obs"]) ** 2))

    before = decode_error(state)
    for i in range(30):
        state, _ = H.train_step(state, batch, jax.random.PRNGKey(100 + i))
    after = decode_error(state)
    print(f"decoded-observation MSE {before:.4f} -> {after:.4f}")
    assert after < 0.3 * before
