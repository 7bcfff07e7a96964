"""Optimisers: Adam after clipping the gradient's global norm (DreamerV3 v1, no weight decay)."""

from __future__ import annotations

import optax

from offon_jit.dreamer.config import DreamerConfig


def adam_with_clip(lr: float, eps: float, clip: float) -> optax.GradientTransformation:
    return optax.flatten(optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr, eps=eps)))


def trained_groups(config: DreamerConfig) -> tuple[str, ...]:
    """Parameter groups with an optimiser: always 'wm', 'actor', 'critic'; then the optional ones
    (the ensemble 'disag', and its reward term's critic 'disag_critic' unless the ensemble is a
    signal only; 'policy_ae')."""
    groups = ("wm", "actor", "critic")
    if config.disag_models:
        groups += ("disag",)
    if config.disag_reward_on:
        groups += ("disag_critic",)
    if config.policy_ae_bottleneck:
        groups += ("policy_ae",)
    return groups


def make_optimizers(config: DreamerConfig) -> dict[str, optax.GradientTransformation]:
    """One optimiser per trained group (see `trained_groups`); each group has its own Adam state."""
    optimizers = {
        "wm": adam_with_clip(config.wm_lr, config.wm_eps, config.wm_clip),
        "actor": adam_with_clip(config.actor_lr, config.actor_eps, config.actor_clip),
        "critic": adam_with_clip(config.critic_lr, config.critic_eps, config.critic_clip),
    }
    if config.disag_models:
        optimizers["disag"] = adam_with_clip(config.expl_lr, config.expl_eps, config.expl_clip)
    if config.disag_reward_on:
        # The disagreement term's critic learns like the task critic (v1: every VFunction has critic_opt).
        optimizers["disag_critic"] = optimizers["critic"]
    if config.policy_ae_bottleneck:
        optimizers["policy_ae"] = adam_with_clip(config.policy_ae_lr, config.expl_eps, config.expl_clip)
    return optimizers
