"""How every run starts, as pure functions of its key (the phase programs vmap and jit them).

`StudyModels` holds the static pieces every phase shares: the config, the env spec, the
model configurations (only an exploring Active carries the Plan2Explore ensemble: offline
agents learn the task reward) and the replay schema.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from envs.spec import EnvSpec
from offon_jit.config import RunConfig
from offon_jit.agents import api as agent_lib
from offon_jit.engine import interaction, offline_signals, salts
from offon_jit.engine.chunks import copy_world_model
from offon_jit.engine.run_state import AgentRun, new_run
from offon_jit.engine.transitions import replay_schema
from offon_jit.engine.variants import VARIANTS, Variant
from offon_jit.replay import buffer as replay


@dataclasses.dataclass(frozen=True)
class StudyModels:
    config: RunConfig
    spec: EnvSpec
    # The family's config (DreamerConfig, or a model-free family's: agents/family.py)
    model_config: Any  # every agent but an exploring Active (see `config_for`)
    active_model_config: Any
    signal_model_config: Any  # DreamerV3 with a Plan2Explore ensemble it never acts on

    @classmethod
    def create(cls, config: RunConfig, spec: EnvSpec) -> "StudyModels":
        """An exploring Active learns the disagreement reward (with the decay rule when expl_decay > 0);
        with `signal_ensemble` every other agent trains an ensemble it does not act on (for the
        offline disagreement signal); otherwise agents have no ensemble. Model-free families have none."""
        plain = config.model_config()
        if not config.family.has_world_model:
            return cls(config, spec, plain, plain, plain)
        signal_only = plain.replace(disag_models=config.disag_models, disag_reward=False)
        model_config = signal_only if config.signal_ensemble else plain
        explores = any(w > 0 for w in config.expl_weights)
        active = (plain.replace(disag_models=config.disag_models, expl_rule="decay" if config.expl_decay else "fixed")
                  if explores else model_config)
        return cls(config, spec, model_config, active, signal_only)

    def config_for(self, name: str):
        """A non-Active agent's model: the study's, or one with a signal-only ensemble for a variant armed by the
        ensemble's disagreement (which trains exactly as the plain agent does, so nothing else changes)."""
        variant = VARIANTS[name]
        if variant.arm_signal == "offline" and self.config.offline_signal == offline_signals.ENSEMBLE_SIGNAL:
            return self.signal_model_config
        return self.model_config

    @property
    def schema(self) -> dict:
        return replay_schema(self.spec)


def new_agent(models: StudyModels, key, variant: Variant, model_config, expl_weight=0.0, expl_decay=0.0):
    init_key = jax.random.fold_in(key, variant.salt)
    return init_key, agent_lib.init_agent(init_key, models.spec, model_config, expl_weight=expl_weight,
                                          expl_decay=expl_decay)


def fresh_active(models: StudyModels, key, expl_weight, env=None) -> AgentRun:
    """An Active run before its prefill: agent, empty buffer, envs reset (`env` None: host simulators)."""
    cfg = models.config
    init_key, agent = new_agent(models, key, VARIANTS["active"], models.active_model_config, expl_weight,
                                cfg.expl_decay)
    env_key, run_key = jax.random.split(jax.random.fold_in(init_key, salts.RUN_KEY))
    buffer = replay.init_buffer(models.schema, cfg.capacity, cfg.num_envs)
    carry = agent_lib.initial_policy_carry(agent, cfg.num_envs)
    env_state = env.reset(env_key) if env is not None else None
    return new_run(agent, buffer, env_state, carry, run_key)


def init_follower(models: StudyModels, key, active_agent, *, name: str) -> AgentRun:
    """A lock-step agent (Tandem, Tandem_sameWM): no buffer or envs of its own."""
    init_key, agent = new_agent(models, key, VARIANTS[name], models.config_for(name))
    run = new_run(agent, None, None, None, jax.random.fold_in(init_key, salts.RUN_KEY))
    if VARIANTS[name].world_model == "active_each_step":
        run = copy_world_model(run, active_agent)
    return run


def init_offline(models: StudyModels, key, buffer, hparam, frozen_wm, *, name: str) -> AgentRun:
    """An offline agent on its data; `hparam` is its swept value, `frozen_wm` the Active's final WM or None."""
    variant = VARIANTS[name]
    init_key, agent = new_agent(models, key, variant, models.config_for(name))
    if variant.init == "alpha":
        _, active_init = new_agent(models, key, VARIANTS["active"], models.config_for(name))
        agent = agent_lib.mix_agents(active_init, agent, hparam)
    if frozen_wm is not None:
        agent = agent.replace(params={**agent.params, "wm": frozen_wm})
    schedule = interaction.init_schedule(variant.interaction, hparam) if variant.interaction else None
    return new_run(agent, buffer, None, None, jax.random.fold_in(init_key, salts.RUN_KEY), schedule)
