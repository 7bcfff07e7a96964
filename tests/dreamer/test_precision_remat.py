"""Mixed precision (DreamerConfig.precision) and rematerialisation (DreamerConfig.remat).

bf16 changes the compute dtype of matmuls and activations only: the update it gives must
stay close to the float32 one on the same inputs, keep every parameter and optimiser leaf
float32, and still learn. Rematerialisation changes only what the backward pass stores:
every policy must give the same update up to float reassociation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer.remat import over_time, rematerialised
from offon_jit.engine.transitions import replay_schema
from tests.dreamer import helpers as H

BF16_POINT = H.POINT_CONFIG.replace(precision="bf16")


def flat(tree) -> np.ndarray:
    return np.concatenate([np.asarray(x, np.float64).ravel() for x in jax.tree_util.tree_leaves(tree)])


def cosine(a, b) -> float:
    a, b = flat(a), flat(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def wm_loss_and_grads(config, params, batch):
    def objective(p):
        losses, _ = agent.world_model_outputs(p, batch, jax.random.PRNGKey(3), config)
        return jnp.mean(losses["total"]), losses

    return jax.jit(jax.value_and_grad(objective, has_aux=True))(params)


@pytest.mark.parametrize("kind", ["point", "image"])
def test_bf16_losses_and_gradients_are_close_to_f32(kind):
    """bf16 keeps 8 mantissa bits (relative rounding 2^-9 = 0.2% per op): on fixed inputs the
    world-model loss terms agree within 2% and its gradient keeps its direction (cosine > 0.99)."""
    if kind == "point":
        f32, state, batch = H.POINT_CONFIG, H.init_point(0), H.point_batch(0)
    else:
        f32, state, batch = H.IMAGE_CONFIG, H.init_image(0), H.random_image_batch(0)
    bf16 = f32.replace(precision="bf16")
    (total32, losses32), grads32 = wm_loss_and_grads(f32, state.params["wm"], batch)
    (total16, losses16), grads16 = wm_loss_and_grads(bf16, state.params["wm"], batch)
    for name in ("total", "reward", "cont", "dyn", "rep", "image" if kind == "image" else "vector"):
        a, b = float(jnp.mean(losses32[name])), float(jnp.mean(losses16[name]))
        assert abs(a - b) <= 0.02 * abs(a) + 1e-3, (name, a, b)
    assert losses16["total"].dtype == jnp.float32
    assert cosine(grads32, grads16) > 0.99
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads16))


def test_bf16_update_is_close_to_f32_and_keeps_float32_state():
    """A whole update (world model, actor, critics) in bf16 against f32 from the same state,
    batch and key: losses and gradient norms within 5% (the actor-critic terms pass through
    15 imagined steps); parameters, optimiser state and normaliser stay float32. (Adam's
    first step is about lr * sign(gradient), so parameter steps are not compared: any
    near-zero gradient component flips sign under rounding.)"""
    state, batch, key = H.init_point(1), H.point_batch(1), jax.random.PRNGKey(7)
    state16 = state.replace(config=BF16_POINT)
    _, metrics32 = H.train_step(state, batch, key)
    new16, metrics16 = H.train_step(state16, batch, key)
    for name in ("wm_total", "wm_reward", "critic_loss", "imag_return", "wm_grad_norm", "actor_grad_norm",
                 "critic_grad_norm"):  # fmt: skip
        a, b = float(metrics32[name]), float(metrics16[name])
        assert abs(a - b) <= 0.05 * abs(a) + 1e-3, (name, a, b)
    leaves = jax.tree_util.tree_leaves((new16.params, new16.opt_states, new16.return_norm))
    assert all(x.dtype in (jnp.float32, jnp.int32) for x in leaves)


def test_bf16_world_model_learns_the_point_mass():
    """The learning-signal test of test_agent.py, in bf16."""
    data = H.point_dataset()
    held_out = H.take(data, slice(H.TRAIN_SEQUENCES, H.TRAIN_SEQUENCES + H.BATCH))
    state = agent.init_agent(jax.random.PRNGKey(5), H.POINT_SPEC, BF16_POINT)
    eval_key = jax.random.PRNGKey(99)
    before, _ = H.wm_outputs(state.params["wm"], held_out, eval_key, BF16_POINT)
    rng = np.random.default_rng(5)
    for i in range(150):
        index = rng.choice(H.TRAIN_SEQUENCES, H.BATCH, replace=False)
        state, metrics = H.train_step(state, H.take(data, index), jax.random.PRNGKey(1000 + i))
    after, extras = H.wm_outputs(state.params["wm"], held_out, eval_key, BF16_POINT)
    assert float(np.mean(after["total"])) < 0.5 * float(np.mean(before["total"]))
    valid = ~held_out["is_first"]
    r = np.corrcoef(np.asarray(extras["reward_pred"])[valid], held_out["reward"][valid])[0, 1]
    assert r > 0.5
    assert np.isfinite(metrics["actor_loss"]) and np.isfinite(metrics["critic_loss"])


@pytest.mark.parametrize("kind", ["point", "image"])
def test_remat_policies_give_the_same_update(kind):
    """none, dots and full store different activations but compute the same update (continuous
    actor through the dynamics, discrete actor by Reinforce)."""
    if kind == "point":
        state, batch = H.init_point(2), H.point_batch(2)
    else:
        state, batch = H.init_image(2), H.random_image_batch(2)
    results = {}
    for remat in ("none", "dots", "full"):
        results[remat] = H.train_step(state.replace(config=state.config.replace(remat=remat)), batch, jax.random.PRNGKey(4))
    base_state, base_metrics = results["none"]
    for remat in ("dots", "full"):
        new_state, metrics = results[remat]
        for name, value in base_metrics.items():
            np.testing.assert_allclose(metrics[name], value, rtol=1e-4, atol=1e-6, err_msg=f"{remat}: {name}")
        assert H.max_abs_diff(new_state.params, base_state.params) < 1e-6, remat


def test_over_time_maps_slices_and_matches_one_call_with_gradients():
    w = jax.random.normal(jax.random.PRNGKey(0), (6, 5))
    xs = jax.random.normal(jax.random.PRNGKey(1), (4, 3, 6))

    def loss(w, remat):
        return jnp.sum(jnp.tanh(over_time(lambda x: x @ w, xs, remat)) ** 2)

    value, grad = jax.value_and_grad(loss)(w, "none")
    for remat in ("dots", "full"):
        other_value, other_grad = jax.value_and_grad(loss)(w, remat)
        np.testing.assert_allclose(other_value, value, rtol=1e-5)
        np.testing.assert_allclose(other_grad, grad, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="unknown remat policy"):
        rematerialised(lambda x: x, "some")


def test_bad_precision_and_remat_are_rejected():
    for field, value in (("precision", "f16"), ("remat", "everything")):
        with pytest.raises(ValueError, match=f"DreamerConfig.{field} must be one of"):
            H.POINT_CONFIG.replace(**{field: value})


def test_image_observations_stay_uint8_in_replay():
    """Pixels are stored and sampled as uint8 (a quarter of float32's bytes); the world model
    converts a sampled batch to float inside the update."""
    assert replay_schema(H.IMAGE_SPEC)["obs"][1] == np.uint8
    assert replay_schema(H.POINT_SPEC)["obs"][1] == np.float32


def test_runs_default_to_bf16_on_accelerators_and_f32_on_cpu():
    from offon_jit.config import RunConfig
    from offon_jit.dreamer.config import default_precision

    assert [default_precision(b) for b in ("cpu", "gpu", "cuda", "tpu")] == ["f32", "bf16", "bf16", "bf16"]
    plain = RunConfig(task="debug/point_reach", preset="tiny", out_dir="/nonexistent/unused")
    assert plain.model_config().precision == default_precision(jax.default_backend())
    pinned = RunConfig(task="debug/point_reach", preset="tiny", out_dir="/nonexistent/unused",
                       model_overrides=(("precision", "bf16"),))  # fmt: skip
    assert pinned.model_config().precision == "bf16"
