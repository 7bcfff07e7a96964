"""DreamerV3's recurrent state-space model (RSSM).

    h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])        sequence model (LayerNorm GRU)
    z_t ~ q(z_t | h_t, embed(x_t))                posterior (`obs_step`)
    z_t ~ p(z_t | h_t)                            prior (`img_step`)

z is `stoch` categoricals with `classes` classes each, mixed with 1% uniform and
sampled with straight-through gradients. The initial state is learned: h_0 =
tanh(w) for a parameter w, z_0 = the prior's mode at h_0 (v1 'initial: learned').
Under mixed precision the layers compute in `dtype`, while the recurrent state h, the
GRU's gating and the latent logits stay float32.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from offon_jit.dreamer.distributions import OneHotDist, unimix_logits
from offon_jit.dreamer.networks import DenseNormAct, Dtype, OutputDense, hidden_init, to_float32


@struct.dataclass
class Latent:
    """Model state s = (h, z) with any leading batch/time axes."""

    deter: jax.Array  # (..., deter)
    stoch: jax.Array  # (..., stoch, classes), one-hot values

    def feat(self) -> jax.Array:
        """Features fed to heads, actor and critic: [h, flat z]."""
        flat = self.stoch.reshape(self.stoch.shape[:-2] + (-1,))
        return jnp.concatenate([self.deter, flat], -1)


class LayerNormGRU(nn.Module):
    """GRU whose gates come from one Dense + LayerNorm; the update gate has bias -1."""

    size: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs, deter):
        x = jnp.concatenate([deter, inputs.astype(deter.dtype)], -1)
        x = nn.Dense(3 * self.size, use_bias=False, kernel_init=hidden_init, dtype=self.dtype, name="dense")(x)
        x = nn.LayerNorm(epsilon=self.eps, dtype=self.dtype, name="norm")(x)
        # The gates and the state update in float32: h accumulates over hundreds of steps.
        reset, cand, update = jnp.split(to_float32(x), 3, -1)
        reset = jax.nn.sigmoid(reset)
        cand = jnp.tanh(reset * cand)
        update = jax.nn.sigmoid(update - 1.0)  # starts biased towards keeping the state
        return update * cand + (1.0 - update) * deter


class RSSM(nn.Module):
    deter: int
    units: int
    stoch: int
    classes: int
    unimix: float = 0.01
    action_clip: float = 1.0
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    def setup(self):
        self.img_in = DenseNormAct(self.units, self.eps, self.dtype)
        self.gru = LayerNormGRU(self.deter, self.eps, self.dtype)
        self.img_out = DenseNormAct(self.units, self.eps, self.dtype)
        self.img_stats = OutputDense(self.stoch * self.classes, dtype=self.dtype)
        self.obs_out = DenseNormAct(self.units, self.eps, self.dtype)
        self.obs_stats = OutputDense(self.stoch * self.classes, dtype=self.dtype)
        self.initial_deter = self.param("initial_deter", nn.initializers.zeros, (self.deter,))

    def _logits(self, x):
        logits = x.reshape(x.shape[:-1] + (self.stoch, self.classes))
        return unimix_logits(logits, self.unimix)

    def prior_logits(self, deter):
        return self._logits(self.img_stats(self.img_out(deter)))

    def initial(self, batch_size: int) -> Latent:
        deter = jnp.broadcast_to(jnp.tanh(self.initial_deter), (batch_size, self.deter))
        # The initial z is the prior's mode at h_0: a constant, no gradient through it.
        stoch = OneHotDist(self.prior_logits(jax.lax.stop_gradient(deter))).mode()
        return Latent(deter=deter, stoch=stoch)

    def _clip_action(self, action):
        # v1: shrink actions beyond the clip to it, without blocking their gradient direction.
        scale = self.action_clip / jnp.maximum(self.action_clip, jnp.abs(action))
        return action * jax.lax.stop_gradient(scale)

    def transition(self, prev: Latent, prev_action) -> jax.Array:
        """Deterministic part: h_t from (h_{t-1}, z_{t-1}, a_{t-1})."""
        flat = prev.stoch.reshape(prev.stoch.shape[:-2] + (-1,))
        x = self.img_in(jnp.concatenate([flat, self._clip_action(prev_action)], -1))
        return self.gru(x, prev.deter)

    def img_step(self, prev: Latent, prev_action, key) -> tuple[Latent, jax.Array]:
        """One imagined step: h_t, then z_t sampled from the prior. Returns (latent, prior logits)."""
        deter = self.transition(prev, prev_action)
        logits = self.prior_logits(deter)
        return Latent(deter=deter, stoch=OneHotDist(logits).sample(key)), logits

    def obs_step(self, prev: Latent, prev_action, embed, key) -> tuple[Latent, jax.Array, jax.Array]:
        """One filtering step: h_t, prior logits, posterior z_t from the embedding.

        Returns (posterior latent, posterior logits, prior logits). Episode resets are
        applied beforehand by `reset_where_first`.
        """
        deter = self.transition(prev, prev_action)
        prior = self.prior_logits(deter)
        post = self.posterior_logits(deter, embed)
        return Latent(deter=deter, stoch=OneHotDist(post).sample(key)), post, prior

    def posterior_logits(self, deter, embed):
        """q(z_t | h_t, e_t): the representation model's logits."""
        return self._logits(self.obs_stats(self.obs_out(jnp.concatenate([deter, embed], -1))))


def reset_where_first(prev: Latent, prev_action, is_first, initial: Latent):
    """Replace the carried state by the initial state and the action by zeros where is_first."""

    def select(init, value):
        mask = is_first.reshape(is_first.shape + (1,) * (value.ndim - is_first.ndim))
        return jnp.where(mask, init, value)

    latent = jax.tree_util.tree_map(select, initial, prev)
    return latent, select(jnp.zeros_like(prev_action), prev_action)
