"""Return normalisation by an EMA of the 5th-95th percentile range (DreamerV3 'perc_ema').

    low  <- decay * low  + (1 - decay) * percentile(returns, 5)
    high <- decay * high + (1 - decay) * percentile(returns, 95)
    scale = max(1 / max_scale, high - low)      # returns are divided by this

Both EMAs start at 0 without bias correction, as in DreamerV3 v1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReturnNormState:
    low: jax.Array  # float32 scalar
    high: jax.Array  # float32 scalar


def init_return_norm() -> ReturnNormState:
    return ReturnNormState(low=jnp.zeros((), jnp.float32), high=jnp.zeros((), jnp.float32))


def update_return_norm(
    state: ReturnNormState, returns: jax.Array, decay: float, low_percentile: float, high_percentile: float
) -> ReturnNormState:
    returns = jax.lax.stop_gradient(returns).astype(jnp.float32).reshape(-1)
    low, high = jnp.percentile(returns, jnp.array([low_percentile, high_percentile], jnp.float32))
    return ReturnNormState(
        low=decay * state.low + (1.0 - decay) * low,
        high=decay * state.high + (1.0 - decay) * high,
    )


def return_scale(state: ReturnNormState, max_scale: float = 1.0) -> jax.Array:
    """The divisor for returns and values: max(1 / max_scale, high - low), no gradient."""
    return jax.lax.stop_gradient(jnp.maximum(1.0 / max_scale, state.high - state.low))
