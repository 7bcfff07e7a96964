"""Weight mixing of two agents (paper App. A.7, Eq. S3): w = (1 - alpha) w_Active + alpha w_Tandem.

Used to initialise Tandem agents whose world model and policy start a controlled
distance from the Active's. Works on any `AgentState` (duck-typed: `params`,
`opt_states`, `config`, `spec`, `replace`), so this module does not import `agent`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from offon_jit.agents.weight_mix import mixed_groups
from offon_jit.dreamer.optim import make_optimizers

MIXED_GROUPS = ("wm", "actor", "critic")


def mix_agents(active, tandem, alpha):
    """The Tandem agent with wm/actor/critic = (1 - alpha) * Active + alpha * Tandem.

    The slow critic becomes a copy of the mixed critic and the three mixed groups get fresh
    optimiser states. Everything else (ensemble and policy-autoencoder parameters and their
    optimiser states, return normaliser, step, expl_weight, expl_decay and disag_level) is the
    Tandem's. `alpha` is a
    scalar, possibly traced (vmap over alphas); alpha = 0 gives the Active's weights and
    alpha = 1 the Tandem's, both exactly.
    """
    mixed = mixed_groups(active, tandem, alpha, MIXED_GROUPS)
    mixed["slow_critic"] = jax.tree_util.tree_map(jnp.copy, mixed["critic"])
    optimizers = make_optimizers(tandem.config)
    fresh_opt = {name: optimizers[name].init(mixed[name]) for name in MIXED_GROUPS}
    return tandem.replace(params={**tandem.params, **mixed}, opt_states={**tandem.opt_states, **fresh_opt})
