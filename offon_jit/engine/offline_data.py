"""The data an offline variant trains on, made from its Active's final buffers (host-side).

  full        the whole buffer (Passive, Tandem)
  expert      the second half of every env stream, suboptimal the first half
  mixed       a uniform random half, in chunks of `mixed_chunk_len` steps   (Fig. 4 / S8)
Interactive variants (Alg. 2) get room for the most self-generated data they can add.
"""

from __future__ import annotations

import jax
import numpy as np

from offon_jit.config import RunConfig
from offon_jit.engine import interaction, salts
from offon_jit.engine.variants import Variant
from offon_jit.replay import buffer as replay

SPLITS = {"expert": (0.5, 1.0), "suboptimal": (0.0, 0.5)}
MIXED_FRACTION = 0.5


def variant_buffers(config: RunConfig, variant: Variant, buffers, keys):
    """`buffers` and `keys` carry a leading run axis; returns numpy buffers for the variant."""
    if variant.data in SPLITS:
        buffers = replay.select_time_range(buffers, *SPLITS[variant.data])
    elif variant.data == "mixed":
        split_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(np.asarray(keys), salts.MIXED_SPLIT)
        buffers = replay.subsample(buffers, split_keys, MIXED_FRACTION, config.mixed_chunk_len)
    elif variant.data != "full":
        raise ValueError(f"{variant.name}: unknown data split {variant.data!r}")
    if variant.interaction:
        values = getattr(config, variant.hparam)
        extra = interaction.extra_capacity(variant.interaction, values, config.burst_steps, config.env_steps,
                                           config.eval_interval, config.num_envs)
        buffers = replay.with_capacity(buffers, buffers.capacity + extra)
    return jax.tree_util.tree_map(np.asarray, buffers)
