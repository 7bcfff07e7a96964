"""Adaptive exploration weight (DreamerConfig.expl_rule = "decay"): w_expl shrinks as the
Plan2Explore ensemble's disagreement on the agent's own training data falls below its peak.

The paper leaves w_expl a task-dependent hyperparameter (its open question Q3). This rule keeps
the swept w_0 (AgentState.expl_weight) as the ceiling and scales it by how far the model's
uncertainty about the data it trains on has come down since its high point:

    m_t    = EMA of the ensemble's mean disagreement on the batch's transitions (rate `rate`),
             started at the first measurement
    peak_t = max_{i <= t} m_i
    w_t    = w_0 * (1 - decay * (1 - m_t / peak_t))          (m_t / peak_t := 1 while peak_t = 0)

decay in [0, 1] (AgentState.expl_decay): 0 keeps w_0 exactly, 1 gives w_0 * m_t / peak_t. With
w_0, decay in [0, 1] and disagreements >= 0, w_t lies in [0, w_0]. The level (peak, m) is an
AgentState leaf of shape (2,), zeros before the first update. Pure functions on arrays: vmappable
over seeds, weights and decays.
"""

from __future__ import annotations

import jax.numpy as jnp

PEAK, LEVEL = 0, 1  # indices into the (2,) disagreement level


def init_disag_level() -> jnp.ndarray:
    """(peak, EMA) before any measurement."""
    return jnp.zeros((2,), jnp.float32)


def update_disag_level(level: jnp.ndarray, disagreement, rate: float, first) -> jnp.ndarray:
    """(peak, EMA) after one measured mean disagreement (>= 0); `first` (bool) starts the EMA at it.

    The new EMA is clipped to the interval between the old one and the measurement, where the
    exact value lies: rounding then never moves it outside, so a falling sequence of
    measurements gives a non-increasing level (and w), a rising one a non-decreasing level.
    """
    disagreement, previous = jnp.asarray(disagreement, jnp.float32), level[LEVEL]
    ema = previous + jnp.asarray(rate, jnp.float32) * (disagreement - previous)
    ema = jnp.clip(ema, jnp.minimum(previous, disagreement), jnp.maximum(previous, disagreement))
    ema = jnp.where(first, disagreement, ema)
    return jnp.stack([jnp.maximum(level[PEAK], ema), ema])


def level_ratio(level: jnp.ndarray) -> jnp.ndarray:
    """m / peak in [0, 1]; 1 while the peak is 0 (nothing measured yet, or only zeros)."""
    peak = level[PEAK]
    positive = peak > 0
    return jnp.where(positive, level[LEVEL] / jnp.where(positive, peak, 1.0), 1.0)


def effective_weight(expl_weight, expl_decay, level: jnp.ndarray) -> jnp.ndarray:
    """w_t = w_0 * (1 - decay * (1 - m / peak)); exactly w_0 when decay = 0."""
    return expl_weight * (1.0 - expl_decay * (1.0 - level_ratio(level)))
