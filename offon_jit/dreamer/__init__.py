"""DreamerV3 (v1 maths) as pure, jittable, vmappable functions over pytrees.

Public API (see README.md in this folder): `DreamerConfig`, `AgentState`, `init_agent`,
`initial_policy_carry`, `policy_step`, `train_step`, `world_model_loss_per_step`, and the
analysis/remedy helpers `disagreement_reward`, `policy_input_loss`, `decode_observation`,
`mix_agents`.
"""

from offon_jit.dreamer.agent import (
    AgentState,
    PolicyCarry,
    agent_latent,
    decode_observation,
    disagreement_reward,
    imagine,
    init_agent,
    initial_policy_carry,
    mix_agents,
    policy_input_loss,
    policy_step,
    train_step,
    value_estimate,
    world_model_loss_means,
    world_model_loss_per_step,
)
from offon_jit.dreamer.config import PRESETS, DreamerConfig, SizePreset, preset_names
from offon_jit.dreamer.rssm import Latent

__all__ = [
    "AgentState",
    "DreamerConfig",
    "Latent",
    "PRESETS",
    "PolicyCarry",
    "SizePreset",
    "agent_latent",
    "decode_observation",
    "disagreement_reward",
    "imagine",
    "init_agent",
    "initial_policy_carry",
    "mix_agents",
    "policy_input_loss",
    "policy_step",
    "preset_names",
    "train_step",
    "value_estimate",
    "world_model_loss_means",
    "world_model_loss_per_step",
]
