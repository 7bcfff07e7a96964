"""World model: per-step loss structure, stop-gradients of Eq. S1, resets, zero-initialised heads,
the vector encoder/decoder's structure and values."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer.networks import VectorDecoder, VectorEncoder
from offon_jit.dreamer.world_model import init_world_model
from tests.dreamer import helpers as H

TERMS = ("vector", "reward", "cont", "dyn", "rep", "total")


@pytest.fixture(scope="module")
def point_state():
    return H.init_point(0)


@pytest.fixture(scope="module")
def point_outputs(point_state):
    losses, extras = H.wm_outputs(point_state.params["wm"], H.point_batch(0), jax.random.PRNGKey(1), H.POINT_CONFIG)
    return jax.device_get(losses), extras


def test_zero_initialised_reward_and_critic_heads_predict_zero(point_state, point_outputs):
    reward_out = point_state.params["wm"]["params"]["reward"]["out"]
    critic_out = point_state.params["critic"]["params"]["out"]
    for layer in (reward_out, critic_out):
        assert not np.any(np.asarray(layer["kernel"])) and not np.any(np.asarray(layer["bias"]))
    losses, extras = point_outputs
    assert np.abs(np.asarray(extras["reward_pred"])).max() < 1e-6
    values = agent.value_estimate(point_state, extras["post"])
    assert values.shape == (H.BATCH, H.LENGTH)
    assert np.abs(np.asarray(values)).max() < 1e-6
    # A uniform two-hot prediction has log-likelihood -ln(255) for every target.
    np.testing.assert_allclose(losses["reward"], np.log(255.0), rtol=1e-5)


def test_per_step_loss_is_the_weighted_sum_of_its_terms(point_outputs):
    losses, _ = point_outputs
    c = H.POINT_CONFIG
    assert set(losses) == {"total", "pred", "dyn", "rep", "kl", "vector", "reward", "cont"}
    for name, value in losses.items():
        assert value.shape == (H.BATCH, H.LENGTH), name
        assert np.isfinite(value).all(), name
    np.testing.assert_allclose(losses["pred"], losses["vector"] + losses["reward"] + losses["cont"], rtol=1e-6)
    np.testing.assert_allclose(
        losses["total"], c.beta_pred * losses["pred"] + c.beta_dyn * losses["dyn"] + c.beta_rep * losses["rep"], rtol=1e-6
    )
    # dyn and rep share the KL value (they differ only in where gradients stop), clipped at 1 nat.
    np.testing.assert_allclose(losses["dyn"], losses["rep"], rtol=1e-6)
    np.testing.assert_allclose(losses["dyn"], np.maximum(losses["kl"], 1.0), rtol=1e-6)
    assert losses["kl"].min() >= 0.0 and losses["dyn"].min() >= 1.0


def test_is_first_resets_to_the_learned_initial_state(point_state, point_outputs):
    batch = H.point_batch(0)
    _, extras = point_outputs
    deter = np.asarray(extras["post"].deter)
    # After a reset h_t = GRU(h_0, z_0, a = 0): the same for every reset, whatever came before,
    # and equal to the first step of every sequence (each batch starts from the initial state).
    reset = batch["is_first"].copy()
    reset[:, 0] = True
    assert reset[:, 1:].any(), "dataset should contain episode starts inside sequences"
    np.testing.assert_allclose(deter[reset], np.broadcast_to(deter[0, 0], deter[reset].shape), atol=1e-6)
    assert np.abs(deter[~reset] - deter[0, 0]).max() > 1e-3


def test_training_loss_is_the_mean_of_the_per_step_loss(point_state):
    batch, key = H.point_batch(0), jax.random.PRNGKey(7)
    _, metrics = H.train_step(point_state, batch, key)
    wm_key = jax.random.split(key)[0]  # train_step's world-model key
    means = jax.jit(agent.world_model_loss_means, static_argnums=3)(point_state.params["wm"], batch, wm_key, H.POINT_CONFIG)
    for name in ("total", "pred", "dyn", "rep", "kl", "vector", "reward", "cont"):
        np.testing.assert_allclose(metrics[f"wm_{name}"], means[name], rtol=1e-5, err_msg=name)
    per_step = functools.partial(agent.world_model_loss_per_step, config=H.POINT_CONFIG)
    shapes = jax.eval_shape(per_step, point_state.params["wm"], batch, wm_key)
    assert set(shapes) == set(means) and all(v.shape == (H.BATCH, H.LENGTH) for v in shapes.values())


def test_per_step_loss_works_on_image_sequences_of_any_length():
    state = H.init_image(0)
    batch = H.random_image_batch(1, batch=3, length=5)
    per_step = functools.partial(agent.world_model_loss_per_step, config=H.IMAGE_CONFIG)
    shapes = jax.eval_shape(per_step, state.params["wm"], batch, jax.random.PRNGKey(0))
    assert set(shapes) == {"total", "pred", "dyn", "rep", "kl", "image", "reward", "cont"}
    assert all(v.shape == (3, 5) for v in shapes.values())
    bad = dict(batch, reward=batch["reward"][:, :4])
    with pytest.raises(ValueError, match="reward"):
        agent.world_model_loss_per_step(state.params["wm"], bad, jax.random.PRNGKey(0), H.IMAGE_CONFIG)
    with pytest.raises(ValueError, match="missing keys"):
        agent.world_model_loss_per_step(state.params["wm"], {"obs": batch["obs"]}, jax.random.PRNGKey(0), H.IMAGE_CONFIG)


def _term_gradients(wm_params, batch, key, weights):
    """Gradient of sum_k weights[k] * mean(term_k), vmapped over rows of `weights`."""

    def objective(params, w):
        losses = agent.world_model_loss_per_step(params, batch, key, H.POINT_CONFIG)
        return sum(w[i] * jnp.mean(losses[name]) for i, name in enumerate(TERMS[:-1]))

    return jax.vmap(jax.grad(objective), in_axes=(None, 0))(wm_params, weights)


def test_loss_terms_send_gradients_where_eq_s1_says(point_state):
    c = H.POINT_CONFIG
    weights = np.concatenate([np.eye(5), [[c.beta_pred, c.beta_pred, c.beta_pred, c.beta_dyn, c.beta_rep]]]).astype(np.float32)
    grads = jax.jit(_term_gradients)(point_state.params["wm"], H.point_batch(0), jax.random.PRNGKey(2), weights)
    grads = grads["params"]

    def norm(term, *path):
        tree = grads
        for key in path:
            tree = tree[key]
        leaves = [np.asarray(x)[TERMS.index(term)] for x in jax.tree_util.tree_leaves(tree)]
        assert all(np.isfinite(x).all() for x in leaves), (term, path)
        return float(np.sqrt(sum(np.sum(x.astype(np.float64) ** 2) for x in leaves)))

    for module in ("encoder", "rssm", "decoder", "reward", "cont"):
        assert norm("total", module) > 0, module
    assert norm("total", "rssm", "initial_deter") > 0  # the learned initial state is trained
    # Each prediction head is trained only by its own term.
    assert norm("vector", "decoder") > 0 and norm("vector", "reward") == 0 and norm("vector", "cont") == 0
    assert norm("reward", "reward") > 0 and norm("reward", "decoder") == 0 and norm("reward", "cont") == 0
    assert norm("cont", "cont") > 0 and norm("cont", "decoder") == 0 and norm("cont", "reward") == 0
    # Prediction losses shape the representation (encoder) too; the reward loss starts to
    # once its zero-initialised output layer has moved (at init it blocks the path).
    assert norm("vector", "encoder") > 0 and norm("cont", "encoder") > 0
    assert norm("reward", "reward", "out") > 0 and norm("reward", "encoder") == 0
    # rep = KL[q || sg(p)] trains the posterior (encoder) but never the prior's head.
    assert norm("rep", "encoder") > 0 and norm("rep", "rssm", "obs_stats") > 0
    assert norm("rep", "rssm", "img_stats") == 0 and norm("rep", "rssm", "img_out") == 0
    # dyn = KL[sg(q) || p] trains the prior's head; no head sees it.
    assert norm("dyn", "rssm", "img_stats") > 0 and norm("dyn", "decoder") == 0 and norm("dyn", "reward") == 0


def _numpy_hidden_stack(x, mlp_params, eps):
    """v1's `Linear(norm='layer', act='silu')` per layer: no bias, standardise, scale and offset, SiLU."""
    for i in range(len(mlp_params)):
        layer = mlp_params[f"h{i}"]
        x = x @ np.asarray(layer["Dense_0"]["kernel"], np.float64)
        x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
        x = x * np.asarray(layer["LayerNorm_0"]["scale"]) + np.asarray(layer["LayerNorm_0"]["bias"])
        x = x / (1.0 + np.exp(-x))
    return x


def test_vector_encoder_and_decoder_are_v1s_mlps():
    """v1's MultiEncoder/MultiDecoder MLPs at a vector size unlike the preset's: symlog inputs, hidden
    layers whose last output is the embedding (no projection), a biased linear decoder output."""
    config = H.POINT_CONFIG.replace(vector_mlp_layers=3, vector_mlp_units=48)
    obs_dim, feat_size, eps = H.POINT_SPEC.obs_shape[0], config.feat_size, config.layernorm_eps
    # The world model's parameter structure (shapes only).
    shapes = jax.eval_shape(
        lambda key: init_world_model(key, config, (obs_dim,), H.POINT_SPEC.action.dim), jax.random.PRNGKey(0)
    )["params"]
    encoder, decoder = shapes["encoder"], shapes["decoder"]
    assert set(encoder) == {"mlp"} and set(encoder["mlp"]) == {"h0", "h1", "h2"}
    assert set(encoder["mlp"]["h0"]) == {"Dense_0", "LayerNorm_0"} and set(encoder["mlp"]["h0"]["Dense_0"]) == {"kernel"}
    assert encoder["mlp"]["h0"]["Dense_0"]["kernel"].shape == (obs_dim, 48)
    assert set(decoder) == {"mlp", "out"} and set(decoder["mlp"]) == {"h0", "h1", "h2"}
    assert decoder["mlp"]["h0"]["Dense_0"]["kernel"].shape == (feat_size, 48)
    assert decoder["out"]["kernel"].shape == (48, obs_dim) and decoder["out"]["bias"].shape == (obs_dim,)
    assert shapes["rssm"]["obs_out"]["Dense_0"]["kernel"].shape[0] == config.deter + 48  # reads the embedding

    # Values of the modules the world model builds, with random parameters of those shapes, against NumPy.
    rng = np.random.default_rng(0)
    random_like = lambda tree: jax.tree_util.tree_map(lambda x: rng.normal(0.0, 0.3, x.shape).astype(np.float32), tree)
    enc, dec = random_like(encoder), random_like(decoder)
    obs = rng.normal(0.0, 30.0, (6, obs_dim)).astype(np.float32)  # large values: symlog matters
    feat = rng.normal(0.0, 1.0, (6, feat_size)).astype(np.float32)
    embed = VectorEncoder(config.vector_layers, config.vector_units, eps).apply({"params": enc}, obs)
    decoded = VectorDecoder(obs_dim, config.vector_layers, config.vector_units, eps).apply({"params": dec}, feat)
    symlog_obs = np.sign(obs) * np.log1p(np.abs(obs))
    np.testing.assert_allclose(embed, _numpy_hidden_stack(symlog_obs, enc["mlp"], eps), rtol=1e-4, atol=1e-5)
    expected = _numpy_hidden_stack(feat, dec["mlp"], eps) @ dec["out"]["kernel"] + dec["out"]["bias"]
    np.testing.assert_allclose(decoded, expected, rtol=1e-4, atol=1e-4)
