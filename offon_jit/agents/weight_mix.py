"""Eq. S3's weight mix, shared by every agent family: w = (1 - alpha) w_Active + alpha w_Tandem.

A family's `mix_agents` chooses which parameter groups mix and what becomes of the rest (slow or
target copies, optimiser states); this module checks the two agents match and mixes the groups.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mixed_groups(active, tandem, alpha, groups) -> dict:
    """{group: (1 - alpha) * active.params[group] + alpha * tandem.params[group]} for each of `groups`.

    Both agents need one config and one env spec; `alpha` is a scalar, possibly traced (vmap over
    alphas); alpha = 0 gives the Active's weights and alpha = 1 the Tandem's, both exactly.
    """
    if active.config != tandem.config:
        raise ValueError(f"mix_agents needs two agents with the same {type(tandem.config).__name__}")
    if active.spec != tandem.spec:
        raise ValueError(f"mix_agents needs two agents of one env spec, got {active.spec.name} and {tandem.spec.name}")
    if jnp.ndim(alpha) != 0:
        raise ValueError(f"alpha must be a scalar (vmap for several alphas), got shape {jnp.shape(alpha)}")
    alpha = jnp.asarray(alpha, jnp.float32)

    def mix(a, b):
        if a.shape != b.shape:
            raise ValueError(f"cannot mix parameters of shapes {a.shape} and {b.shape}")
        # Not a + alpha * (b - a): that is not exactly b at alpha = 1.
        return ((1.0 - alpha) * a + alpha * b).astype(a.dtype)

    return {name: jax.tree_util.tree_map(mix, active.params[name], tandem.params[name]) for name in groups}
