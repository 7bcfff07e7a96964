"""n-step TD targets on replay windows, shared by the model-free agent families.

Replay convention (engine/transitions.py): row t holds obs_t, the reward and flags that
arrived with it, and action_t taken after seeing obs_t. The transition of row t is
(obs_t, action_t) -> reward_{t+1}, obs_{t+1}; it exists only if row t+1 continues the
episode (not is_first[t+1]). Its n-step target is

    G_t = sum_{k=1..m} discount^(k-1) reward_{t+k} + discount^m * (1 - is_terminal_{t+m}) * V(obs_{t+m})

with m = n, or fewer when the episode ends first: by termination at row t+m (no bootstrap)
or by truncation (row t+m+1 starts a new episode; the time limit is not part of the state,
so V(obs_{t+m}) bootstraps). A target is *valid* only if it is complete inside the window:
all n steps are there, or the episode's end is seen. Windows of n + 1 rows give exactly one
n-step target per window (row 0); longer windows give one per row that has one.
"""

from __future__ import annotations

import jax.numpy as jnp


def _ahead(x, k: int, fill):
    """x[..., t + k] at position t, `fill` past the window's end."""
    pad = jnp.full(x.shape[:-1] + (min(k, x.shape[-1]),), fill, x.dtype)
    return jnp.concatenate([x[..., k:], pad], axis=-1)


def nstep_bootstrap(reward, is_first, is_terminal, discount: float, n: int):
    """Every row's n-step target without the bootstrap value: (partial, row, weight, valid), each (..., T).

    G_t = partial_t + weight_t * V(obs at row_t): partial is the discounted reward sum, row the window row
    whose value bootstraps it (t + m), weight discount^m, or 0 after a termination. An agent can evaluate
    V at these rows alone. `n` is a static Python int >= 1.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n-step returns need an int n >= 1, got {n!r}")
    length = reward.shape[-1]
    position = jnp.arange(length)
    going = ~_ahead(is_first, 1, True)  # the transition of row t exists
    partial = jnp.zeros(reward.shape, jnp.float32)
    row = jnp.broadcast_to(position, reward.shape).astype(jnp.int32)  # a valid index where nothing bootstraps
    weight = jnp.zeros(reward.shape, jnp.float32)
    valid = jnp.zeros(reward.shape, bool)
    scale = 1.0
    for k in range(1, n + 1):
        terminal = _ahead(is_terminal, k, False)
        partial = partial + jnp.where(going, scale * _ahead(reward, k, 0.0), 0.0)
        scale = scale * discount
        next_first = _ahead(is_first, k + 1, True)  # True past the window: the episode may go on
        seen_end = terminal | (next_first & (position + k + 1 < length))
        stop = going & (terminal | next_first | (k == n))
        row = jnp.where(stop, jnp.minimum(position + k, length - 1), row)
        weight = jnp.where(stop, jnp.where(terminal, 0.0, scale), weight)
        valid = valid | (stop & (seen_end | (k == n)))
        going = going & ~stop
    return partial, row, weight, valid


def nstep_targets(reward, is_first, is_terminal, next_value, discount: float, n: int):
    """(target, valid) of every row's transition, both with the inputs' (..., T) shape.

    `next_value[..., t]` is the bootstrap value V(obs_t) (a target network's estimate); it
    is read only at rows t+1..t+n. `n` is a static Python int >= 1.
    """
    partial, row, weight, valid = nstep_bootstrap(reward, is_first, is_terminal, discount, n)
    return partial + weight * jnp.take_along_axis(next_value, row, axis=-1), valid
