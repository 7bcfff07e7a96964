"""Optimisers: Adam after clipping the gradient's global norm (DreamerV3 v1, no weight decay)."""

from __future__ import annotations

import optax

from offon_jit.dreamer.config import DreamerConfig


def adam_with_clip(lr: float, eps: float, clip: float) -> optax.GradientTransformation:
    return optax.flatten(optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr, eps=eps)))


def make_optimizers(config: DreamerConfig) -> dict[str, optax.GradientTransformation]:
    """One optimiser per trained module group: world model, actor, critic."""
    return {
        "wm": adam_with_clip(config.wm_lr, config.wm_eps, config.wm_clip),
        "actor": adam_with_clip(config.actor_lr, config.actor_eps, config.actor_clip),
        "critic": adam_with_clip(config.critic_lr, config.critic_eps, config.critic_clip),
    }
