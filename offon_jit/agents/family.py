"""The agent protocol: what the engine needs from an agent family, and the registry of families.

An agent family is a module of pure functions over its own state pytree (a flax struct with
`params`, `step`, and static `config` and `spec` fields), all vmappable over a leading seed axis:

  init_agent(key, spec, config) -> state
  initial_policy_carry(state, batch_size) -> carry          per-env policy state (recurrent or not)
  policy_step(state, carry, obs, is_first, key, mode) -> (action, carry)
                                                             mode "explore" (training) or "eval";
                                                             int32 (B,) indices or float32 (B, dim) in [-1, 1]
  train_step(state, batch, key) -> (state, metrics)         one update on a (B, T) replay batch
  step_losses(state, batch, key) -> (losses, valid)         the training loss of every row of a (B, T)
                                                             batch, {"total": (B, T), term: (B, T)} and
                                                             the (B, T) rows that have one; the OOD ratio
                                                             is its mean on eval episodes over replay data
  value_estimate(state, batch) -> (B, T)                    the agent's V(s_t) of every row
  mix_agents(active, tandem, alpha) -> state                Eq. S3's weight mix (1 - alpha) A + alpha T
  CONFIG: the config class (frozen dataclass: from_preset(name, **overrides), field_names(), replace,
          a `discount` attribute); PRESETS: {name: ...}; RUN_DEFAULTS: RunConfig fields that suit it

DreamerV3 (`offon_jit.dreamer.agent`) is the family with a world model: its step loss is the world
model's, and the engine also reads its latents for the value error, the policy-input autoencoder
and the offline OOD signals (engine/evaluate.py keeps that path exactly as it was).
"""

from __future__ import annotations

import dataclasses
import importlib

DEFAULT_ALGO = "dreamerv3"

# --algo name -> (module, whether it learns a world model)
_MODULES = {
    "dreamerv3": ("offon_jit.dreamer.agent", True),
    "dqn": ("offon_jit.agents.dqn", False),
    "sac": ("offon_jit.agents.sac", False),
}
ALGOS = tuple(_MODULES)


@dataclasses.dataclass(frozen=True)
class AgentFamily:
    name: str
    module: object
    has_world_model: bool

    @property
    def loss_name(self) -> str:
        """The prefix of the step loss in metric rows: eval_wm_loss (DreamerV3) or eval_td_loss."""
        return "wm" if self.has_world_model else "td"

    @property
    def config_type(self):
        return self.module.DreamerConfig if self.has_world_model else self.module.CONFIG

    def preset_names(self) -> tuple[str, ...]:
        if self.has_world_model:
            from offon_jit.dreamer.config import preset_names

            return tuple(preset_names())
        return tuple(self.module.PRESETS)

    @property
    def run_defaults(self) -> dict:
        """RunConfig fields this family runs with unless they are given (DreamerV3: RunConfig's own)."""
        return {} if self.has_world_model else dict(self.module.RUN_DEFAULTS)


def check_algo(algo: str) -> None:
    if algo not in _MODULES:
        raise ValueError(f"unknown algo {algo!r}; choose from {', '.join(ALGOS)}")


def family_named(algo: str) -> AgentFamily:
    check_algo(algo)
    module_name, has_world_model = _MODULES[algo]
    return AgentFamily(algo, importlib.import_module(module_name), has_world_model)


def family_of(agent_state) -> AgentFamily:
    """The family whose state type `agent_state` is (dispatch happens in Python, at trace time)."""
    for algo, (module_name, _) in _MODULES.items():
        module = importlib.import_module(module_name)
        state_type = module.AgentState
        if isinstance(agent_state, state_type):
            return family_named(algo)
    raise TypeError(f"{type(agent_state).__name__} is not the state of any agent family ({', '.join(ALGOS)})")


def family_of_config(model_config) -> AgentFamily:
    """The family whose config class `model_config` is."""
    for algo in ALGOS:
        family = family_named(algo)
        if isinstance(model_config, family.config_type):
            return family
    raise TypeError(f"{type(model_config).__name__} is not the config of any agent family ({', '.join(ALGOS)})")
