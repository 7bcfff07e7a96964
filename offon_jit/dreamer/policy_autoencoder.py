"""Policy-input autoencoder: an OOD detector for the actor's inputs (paper App. A.3, Eq. S2).

An MLP autoencoder reconstructs the policy's latent input feat = [h, flat z] through a
`policy_ae_bottleneck`-wide code. It is trained on stop-gradient posterior features of
the replayed batches with a unit-variance Gaussian likelihood,

    -ln p(feat | code) = 0.5 * sum_d (feat_d - recon_d)^2 + const,

and novelty is read off as the per-state mean squared error (mean over feature dims).
It never feeds back into acting or the other modules.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.networks import MLP, Dtype, OutputDense

sg = jax.lax.stop_gradient


class PolicyAutoencoder(nn.Module):
    """feat -> MLP -> code (bottleneck) -> MLP -> reconstructed feat."""

    layers: int
    units: int
    bottleneck: int
    feat_size: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, feat):
        x = MLP(self.layers, self.units, self.eps, self.dtype, name="enc")(feat)
        code = OutputDense(self.bottleneck, dtype=self.dtype, name="code")(x)
        x = MLP(self.layers, self.units, self.eps, self.dtype, name="dec")(code)
        return OutputDense(self.feat_size, dtype=self.dtype, name="out")(x)


@functools.lru_cache(maxsize=None)
def make_policy_autoencoder(config: DreamerConfig) -> PolicyAutoencoder:
    if not config.policy_ae_bottleneck:
        raise ValueError("the policy-input autoencoder is off (DreamerConfig.policy_ae_bottleneck=0)")
    return PolicyAutoencoder(
        config.layers, config.units, config.policy_ae_bottleneck, config.feat_size, config.layernorm_eps,
        config.compute_dtype,
    )


def init_policy_autoencoder(key: jax.Array, config: DreamerConfig):
    return make_policy_autoencoder(config).init(key, jnp.zeros((1, config.feat_size), jnp.float32))


def reconstruction_error(params, config: DreamerConfig, feat: jax.Array) -> jax.Array:
    """Per-state mean squared reconstruction error (mean over feature dims), feat's leading shape."""
    if feat.shape[-1] != config.feat_size:
        raise ValueError(f"policy features must have width {config.feat_size} (deter + stoch * classes), got {feat.shape}")
    recon = make_policy_autoencoder(config).apply(params, feat)
    return jnp.mean((recon - feat) ** 2, -1)


def policy_ae_loss(params, config: DreamerConfig, feat: jax.Array):
    """(mean Gaussian NLL with unit variance (constant dropped), mean squared error) over states."""
    feat = sg(feat)
    recon = make_policy_autoencoder(config).apply(params, feat)
    squared = (recon - feat) ** 2
    return jnp.mean(0.5 * jnp.sum(squared, -1)), jnp.mean(squared)


def policy_ae_update(params, opt_state, optimizer: optax.GradientTransformation, config: DreamerConfig, feat):
    """One optimiser step on features (..., feat_size). Returns (params, opt_state, metrics)."""
    (_, mse), grads = jax.value_and_grad(policy_ae_loss, has_aux=True)(params, config, feat)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, {"policy_ae_loss": mse}
