"""Uniform random actions for a spec, in JAX (inside jit) and numpy (host backends)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.spec import ActionSpec


def random_actions(key: jax.Array, action: ActionSpec, batch_shape: tuple[int, ...] = ()) -> jax.Array:
    if action.is_discrete:
        return jax.random.randint(key, batch_shape, 0, action.num_actions, jnp.int32)
    return jax.random.uniform(key, (*batch_shape, *action.shape), jnp.float32, action.low, action.high)


def random_actions_np(rng: np.random.Generator, action: ActionSpec, batch_size: int) -> np.ndarray:
    if action.is_discrete:
        return rng.integers(0, action.num_actions, size=batch_size).astype(np.int32)
    return rng.uniform(action.low, action.high, size=(batch_size, *action.shape)).astype(np.float32)
