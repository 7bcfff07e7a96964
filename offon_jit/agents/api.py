"""The agent functions the engine calls, for every family (agents/family.py).

Each call dispatches in Python on the type of the agent state (or of the config for
`init_agent`), so a jitted program contains only its family's code. DreamerV3 calls go
straight to `offon_jit.dreamer.agent` with the same arguments: its programs are unchanged.
"""

from __future__ import annotations

from offon_jit.agents.family import family_of, family_of_config
from offon_jit.dreamer import agent as dreamer


def init_agent(key, spec, model_config, expl_weight=0.0, expl_decay=0.0):
    family = family_of_config(model_config)
    if family.has_world_model:
        return dreamer.init_agent(key, spec, model_config, expl_weight=expl_weight, expl_decay=expl_decay)
    return family.module.init_agent(key, spec, model_config)


def initial_policy_carry(agent_state, batch_size: int):
    return family_of(agent_state).module.initial_policy_carry(agent_state, batch_size)


def policy_step(agent_state, carry, obs, is_first, key, mode: str):
    return family_of(agent_state).module.policy_step(agent_state, carry, obs, is_first, key, mode)


def train_step(agent_state, batch: dict, key, train_world_model: bool = True):
    family = family_of(agent_state)
    if family.has_world_model:
        return dreamer.train_step(agent_state, batch, key, train_world_model=train_world_model)
    if not train_world_model:
        raise ValueError(f"{family.name} has no world model to freeze")
    return family.module.train_step(agent_state, batch, key)


def mix_agents(active, tandem, alpha):
    return family_of(tandem).module.mix_agents(active, tandem, alpha)
