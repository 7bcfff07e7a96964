"""JAX twin of `dm_control.utils.rewards.tolerance`, shared by the Playground tasks and our MJX ports."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_VALUE_AT_MARGIN = 0.1  # dm_control's default


def _sigmoid(x: jax.Array, value_at_1: float, sigmoid: str) -> jax.Array:
    """1 at x=0, `value_at_1` at |x|=1 (dm_control's `_sigmoids`)."""
    if sigmoid == "gaussian":
        if not 0.0 < value_at_1 < 1.0:
            raise ValueError(f"gaussian sigmoid needs 0 < value_at_1 < 1, got {value_at_1}")
        scale = np.sqrt(-2.0 * np.log(value_at_1))
        return jnp.exp(-0.5 * (x * scale) ** 2)
    if sigmoid in ("linear", "quadratic"):
        if not 0.0 <= value_at_1 < 1.0:
            raise ValueError(f"{sigmoid} sigmoid needs 0 <= value_at_1 < 1, got {value_at_1}")
        if sigmoid == "linear":
            scaled = x * (1.0 - value_at_1)
            return jnp.where(jnp.abs(scaled) < 1.0, 1.0 - scaled, 0.0)
        scaled = x * np.sqrt(1.0 - value_at_1)
        return jnp.where(jnp.abs(scaled) < 1.0, 1.0 - scaled**2, 0.0)
    raise ValueError(f"unsupported sigmoid {sigmoid!r}; expected 'gaussian', 'linear' or 'quadratic'")


def tolerance(
    x: jax.Array,
    bounds: tuple[float, float] = (0.0, 0.0),
    margin: float = 0.0,
    sigmoid: str = "gaussian",
    value_at_margin: float = DEFAULT_VALUE_AT_MARGIN,
) -> jax.Array:
    """1 inside `bounds`, decaying with `sigmoid` to `value_at_margin` at `margin` outside."""
    lower, upper = bounds
    if lower > upper:
        raise ValueError(f"tolerance bounds need lower <= upper, got {bounds}")
    if margin < 0:
        raise ValueError(f"tolerance margin must be non-negative, got {margin}")
    x = jnp.asarray(x, jnp.float32)
    in_bounds = jnp.logical_and(lower <= x, x <= upper)
    if margin == 0:
        return jnp.where(in_bounds, 1.0, 0.0)
    # An infinite bound makes the unused branch +-inf; every sigmoid maps that to 0, not NaN.
    distance = jnp.where(x < lower, lower - x, x - upper) / margin
    return jnp.where(in_bounds, 1.0, _sigmoid(distance, value_at_margin, sigmoid))
