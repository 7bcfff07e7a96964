"""The distributions and transforms DreamerV3 uses, as pure functions and small pytrees.

* symlog / symexp squash targets of unknown scale;
* two-hot discrete regression over fixed bins (reward head and critic);
* one-hot categoricals with a uniform mix (latents and discrete actions), sampled
  with straight-through gradients;
* the v1 actor's bounded normal for continuous actions;
* Bernoulli log-likelihood (continue head) and free-bits clipping of KL terms.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

sg = jax.lax.stop_gradient


def flat_sample(sampler, key, shape, **kwargs) -> jax.Array:
    """`sampler(key, shape)` drawn as one flat vector, then reshaped.

    Same distribution; the point is compile time: XLA:CPU compiles JAX's partitionable
    threefry for rank-3/4 shapes several times slower than for a vector.
    """
    return sampler(key, (math.prod(shape),), **kwargs).reshape(shape)


def symlog(x: jax.Array) -> jax.Array:
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: jax.Array) -> jax.Array:
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


# ---------------------------------------------------------------- two-hot regression


def twohot_bins(num_bins: int, low: float, high: float) -> jax.Array:
    return jnp.linspace(low, high, num_bins, dtype=jnp.float32)


def twohot(x: jax.Array, bins: jax.Array) -> jax.Array:
    """Weights over `bins` (..., K) on the two bins around x whose expectation is x.

    Values outside the bin range are clipped to the nearest end bin.
    """
    num_bins = bins.shape[0]
    x = jnp.clip(x, bins[0], bins[-1])
    lower = jnp.clip(jnp.searchsorted(bins, x, side="right", method="compare_all") - 1, 0, num_bins - 2)
    low, high = bins[lower], bins[lower + 1]
    weight_high = jnp.clip((x - low) / (high - low), 0.0, 1.0)
    return (
        jax.nn.one_hot(lower, num_bins) * (1.0 - weight_high)[..., None]
        + jax.nn.one_hot(lower + 1, num_bins) * weight_high[..., None]
    )


def twohot_decode(weights: jax.Array, bins: jax.Array) -> jax.Array:
    return jnp.sum(weights * bins, -1)


def twohot_log_prob(logits: jax.Array, target: jax.Array, bins: jax.Array) -> jax.Array:
    """Log-likelihood of `target` (raw scale) under symlog two-hot `logits` (..., K)."""
    weights = twohot(symlog(sg(target)), bins)
    return jnp.sum(weights * jax.nn.log_softmax(logits, -1), -1)


def twohot_mean(logits: jax.Array, bins: jax.Array) -> jax.Array:
    """Predicted value (raw scale): symexp of the expected bin."""
    return symexp(jnp.sum(jax.nn.softmax(logits, -1) * bins, -1))


# ---------------------------------------------------------------- categoricals


def unimix_logits(logits: jax.Array, mix: float) -> jax.Array:
    """Log-probabilities of (1 - mix) * softmax(logits) + mix * uniform."""
    if mix == 0.0:
        return jax.nn.log_softmax(logits, -1)
    probs = jax.nn.softmax(logits, -1)
    probs = (1.0 - mix) * probs + mix / logits.shape[-1]
    return jnp.log(probs)


@struct.dataclass
class OneHotDist:
    """Categorical over the last axis with one-hot samples (straight-through gradients)."""

    logits: jax.Array  # (..., K)

    @property
    def probs(self) -> jax.Array:
        return jax.nn.softmax(self.logits, -1)

    def sample(self, key: jax.Array) -> jax.Array:
        # Gumbel-max sampling (what jax.random.categorical does), noise drawn flat.
        gumbel = flat_sample(jax.random.gumbel, key, self.logits.shape, dtype=self.logits.dtype)
        index = jnp.argmax(self.logits + gumbel, -1)
        onehot = jax.nn.one_hot(index, self.logits.shape[-1], dtype=self.logits.dtype)
        probs = self.probs
        # Forward value is exactly one-hot; the gradient is that of the probabilities.
        return onehot + (probs - sg(probs))

    def mode(self) -> jax.Array:
        return jax.nn.one_hot(jnp.argmax(self.logits, -1), self.logits.shape[-1], dtype=self.logits.dtype)

    def log_prob(self, onehot: jax.Array) -> jax.Array:
        return jnp.sum(onehot * jax.nn.log_softmax(self.logits, -1), -1)

    def entropy(self) -> jax.Array:
        logp = jax.nn.log_softmax(self.logits, -1)
        return -jnp.sum(jnp.exp(logp) * logp, -1)

    def kl(self, other: "OneHotDist") -> jax.Array:
        """KL[self || other] over the last axis."""
        logp = jax.nn.log_softmax(self.logits, -1)
        logq = jax.nn.log_softmax(other.logits, -1)
        return jnp.sum(jnp.exp(logp) * (logp - logq), -1)


# ---------------------------------------------------------------- continuous actions


@struct.dataclass
class BoundedNormalDist:
    """DreamerV3 v1 continuous actor: Normal(tanh(mean), std) with std in [min, max].

    Samples are not squashed (no tanh on samples); the agent clips them to [-1, 1]
    before acting, and the RSSM rescales actions above `action_clip`.
    """

    mean: jax.Array  # (..., D), in [-1, 1]
    std: jax.Array  # (..., D)

    @classmethod
    def from_outputs(cls, mean_raw, std_raw, min_std: float, max_std: float) -> "BoundedNormalDist":
        std = (max_std - min_std) * jax.nn.sigmoid(std_raw + 2.0) + min_std
        return cls(mean=jnp.tanh(mean_raw), std=std)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + self.std * flat_sample(jax.random.normal, key, self.mean.shape, dtype=self.mean.dtype)

    def mode(self) -> jax.Array:
        return self.mean

    def log_prob(self, x: jax.Array) -> jax.Array:
        z = (x - self.mean) / self.std
        return jnp.sum(-0.5 * z**2 - jnp.log(self.std) - 0.5 * math.log(2 * math.pi), -1)

    def entropy(self) -> jax.Array:
        return jnp.sum(0.5 * math.log(2 * math.pi * math.e) + jnp.log(self.std), -1)


# ---------------------------------------------------------------- other likelihoods


def bernoulli_log_prob(logit: jax.Array, target: jax.Array) -> jax.Array:
    return target * jax.nn.log_sigmoid(logit) + (1.0 - target) * jax.nn.log_sigmoid(-logit)


def bernoulli_mode(logit: jax.Array) -> jax.Array:
    return (logit > 0).astype(jnp.float32)


def free_bits(kl: jax.Array, free: float) -> jax.Array:
    """max(free, kl): below `free` nats the loss is constant, so its gradient is zero."""
    return jnp.maximum(kl, free)
