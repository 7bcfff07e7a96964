"""Plan2Explore ensemble disagreement (Sekar et al. 2020, as in DreamerV3 v1 `expl.py` 'Disag').

K independent MLP heads predict the next flat stochastic state z_{t+1} from
(h_t, flat z_t, a_t). They are trained on the posterior sequence of each batch with a
squared-error loss (v1's 'mse' head), and their disagreement is an intrinsic reward:

    r_disag(s_t, a_t) = mean_d std_k f_k(h_t, z_t, a_t)_d

The actor learns it as v1's `Explore` behaviour does: a reward term of its own, with its
own critic and return normaliser, whose normalised advantage is weighted against the
task's by Eq. 5's weights (see `actor_critic.py`). With DreamerConfig.disag_reward = False
the ensemble is a signal only: trained the same way, never rewarded.
`data_disagreement` is the mean disagreement on a batch's own transitions (the adaptive
exploration weight's input, `expl_schedule.py`).

The K heads are one set of parameters with a leading K axis (init and apply are
`jax.vmap`ed), so the ensemble costs one batched matmul per layer.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.networks import MLP, Dtype, OutputDense
from offon_jit.dreamer.rssm import Latent

sg = jax.lax.stop_gradient


class DisagHead(nn.Module):
    """One ensemble member: MLP -> linear prediction of the flat next stochastic state."""

    layers: int
    units: int
    out_size: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = MLP(self.layers, self.units, self.eps, self.dtype, name="mlp")(x)
        return OutputDense(self.out_size, dtype=self.dtype, name="out")(x)


@functools.lru_cache(maxsize=None)
def make_disag_head(config: DreamerConfig) -> DisagHead:
    return DisagHead(config.disag_head_layers, config.disag_head_units, config.stoch_size, config.layernorm_eps,
                     config.compute_dtype)  # fmt: skip


def _check_enabled(config: DreamerConfig) -> None:
    if config.disag_models < 2:
        raise ValueError(f"the Plan2Explore ensemble is off (DreamerConfig.disag_models={config.disag_models}); set it >= 2")


def ensemble_inputs(latent: Latent, action: jax.Array) -> jax.Array:
    """[h_t, flat z_t, a_t] with any leading axes."""
    if action.shape[:-1] != latent.deter.shape[:-1]:
        raise ValueError(f"action {action.shape} must share the latent's leading axes {latent.deter.shape[:-1]}")
    flat = latent.stoch.reshape(latent.stoch.shape[:-2] + (-1,))
    return jnp.concatenate([latent.deter, flat, action.astype(jnp.float32)], -1)


def init_ensemble(key: jax.Array, config: DreamerConfig, action_dim: int):
    """Variables of the K heads, every leaf with a leading K axis (independent initialisations)."""
    _check_enabled(config)
    inputs = jnp.zeros((1, config.feat_size + int(action_dim)), jnp.float32)
    head = make_disag_head(config)
    return jax.vmap(lambda k: head.init(k, inputs))(jax.random.split(key, config.disag_models))


def ensemble_predictions(params, config: DreamerConfig, inputs: jax.Array) -> jax.Array:
    """(K, *lead, stoch_size) predictions of every head for inputs (*lead, F + A)."""
    head = make_disag_head(config)
    return jax.vmap(head.apply, in_axes=(0, None))(params, inputs)


def disagreement(predictions: jax.Array) -> jax.Array:
    """Std across heads (axis 0), averaged over the last axis; exactly 0 when all heads agree.

    Deviations are taken from head 0 before the two-pass variance, so identical predictions
    give exactly zero for any K, and the square root has a zero (not infinite) gradient there.
    """
    shifted = predictions - predictions[:1]
    centred = shifted - jnp.mean(shifted, 0, keepdims=True)
    var = jnp.mean(centred**2, 0)
    positive = var > 0
    std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
    return jnp.mean(std, -1)


def disagreement_of(params, config: DreamerConfig, latent: Latent, action: jax.Array) -> jax.Array:
    """r_disag(s, a) with the latent's leading shape."""
    _check_enabled(config)
    return disagreement(ensemble_predictions(params, config, ensemble_inputs(latent, action)))


def _transition_pairs(post: Latent, action: jax.Array, is_first: jax.Array):
    """The batch's transitions (s_t, a_t) -> z_{t+1}, t < T-1: (inputs (B, T-1, F + A),
    flat targets (B, T-1, D), valid (B, T-1) float). Pairs with is_first[t+1] are invalid:
    there s_{t+1} starts a new episode and is no successor of (s_t, a_t)."""
    head_of = lambda x: x[:, :-1]
    inputs = ensemble_inputs(jax.tree_util.tree_map(head_of, sg(post)), action[:, :-1])
    successor = sg(post.stoch[:, 1:])
    target = successor.reshape(successor.shape[:2] + (-1,))
    valid = 1.0 - is_first[:, 1:].astype(jnp.float32)
    return inputs, target, valid


def ensemble_loss(params, config: DreamerConfig, post: Latent, action: jax.Array, is_first: jax.Array):
    """Sum over heads of each head's mean squared error (summed over target dims), as v1.

    post: posterior latents (B, T, ...); action (B, T, A) with action[t] taken after
    obs[t]; is_first (B, T). Pairs (t, t+1) with is_first[t+1] are masked: there s_{t+1}
    starts a new episode and is no successor of (s_t, a_t). Returns (objective, mean
    per-head loss).
    """
    inputs, target, valid = _transition_pairs(post, action, is_first)
    preds = ensemble_predictions(params, config, inputs)  # (K, B, T-1, D)
    error = jnp.sum((preds - target) ** 2, -1)  # (K, B, T-1)
    per_head = jnp.sum(error * valid, (1, 2)) / jnp.maximum(jnp.sum(valid), 1.0)
    return jnp.sum(per_head), jnp.mean(per_head)


def ensemble_update(params, opt_state, optimizer: optax.GradientTransformation, config: DreamerConfig,
                    post: Latent, action: jax.Array, is_first: jax.Array):  # fmt: skip
    """One optimiser step of all heads. Returns (params, opt_state, metrics)."""
    (_, mean_loss), grads = jax.value_and_grad(ensemble_loss, has_aux=True)(params, config, post, action, is_first)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, {"disag_loss": mean_loss}


def data_disagreement(params, config: DreamerConfig, post: Latent, action: jax.Array, is_first: jax.Array):
    """Mean r_disag over the batch's own transitions (s_t, a_t) with the data's actions: the pairs
    `ensemble_loss` trains on, masked alike (0 when no pair is valid). Shapes as `ensemble_loss`."""
    _check_enabled(config)
    inputs, _, valid = _transition_pairs(post, action, is_first)
    per_pair = disagreement(ensemble_predictions(params, config, inputs))  # (B, T-1)
    return jnp.sum(per_pair * valid) / jnp.maximum(jnp.sum(valid), 1.0)
