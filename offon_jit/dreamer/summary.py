"""Parameter counts per module, computed from shapes only (`jax.eval_shape`: no memory, no compile)."""

from __future__ import annotations

import jax

from envs.spec import EnvSpec
from offon_jit.dreamer.agent import init_agent
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.networks import count_params

# World-model submodule (Flax name) -> the name shown to users.
WORLD_MODEL_MODULES = {"encoder": "encoder", "rssm": "rssm", "decoder": "decoder", "reward": "reward", "cont": "continue"}
# Top-level params keys of DreamerV3 proper (the slow critic is listed on its own, not in the total).
CORE_PARAMS = ("wm", "actor", "critic", "slow_critic")
# Optional modules outside DreamerV3 proper: name shown to users -> params key. Names ending in
# '*' are prefixes: Plan2Explore's per-reward-term critics may hold one params key per term.
EXTRA_MODULES = {
    "disag_ensemble": "disag",
    "disag_critic": "disag_critic*",
    "slow_disag_critic": "slow_disag_critic*",
    "policy_autoencoder": "policy_ae",
}


def _extra_module_of(params_key: str) -> str:
    """The shown name of an optional params key; a key no entry names is shown as itself."""
    for shown, pattern in EXTRA_MODULES.items():
        if params_key == pattern or (pattern.endswith("*") and params_key.startswith(pattern[:-1])):
            return shown
    return params_key


def parameter_counts(spec: EnvSpec, config: DreamerConfig) -> dict[str, int]:
    """{'encoder', 'rssm', 'decoder', 'reward', 'continue', 'actor', 'critic', 'total', 'slow_critic',
    every EXTRA_MODULES name, and any other optional params key by its own name}.

    The total counts world model + actor + ONE critic (DreamerV3 proper, the number the paper
    quotes). Not included: the slow critic (an EMA copy of the critic, not optimised) and the
    optional modules (the Plan2Explore ensemble's heads, its per-reward-term critics and the
    policy-input autoencoder); those are 0 when disabled in `config` (the critics also for a
    signal-only ensemble, `disag_reward=False`).
    """
    state = jax.eval_shape(lambda key: init_agent(key, spec, config), jax.random.PRNGKey(0))
    wm = state.params["wm"]["params"]
    counts = {shown: count_params(wm[name]) for name, shown in WORLD_MODEL_MODULES.items()}
    counts["actor"] = count_params(state.params["actor"])
    counts["critic"] = count_params(state.params["critic"])
    counts["total"] = sum(counts.values())
    counts["slow_critic"] = count_params(state.params["slow_critic"])
    counts.update({shown: 0 for shown in EXTRA_MODULES})
    for key, params in state.params.items():
        if key not in CORE_PARAMS:
            shown = _extra_module_of(key)
            counts[shown] = counts.get(shown, 0) + count_params(params)
    return counts


def format_parameter_table(counts: dict[str, int], title: str) -> str:
    rows = [(name, counts[name]) for name in (*WORLD_MODEL_MODULES.values(), "actor", "critic")]
    shown_elsewhere = {name for name, _ in rows} | {"total", "slow_critic"}
    extras = [(name, value) for name, value in counts.items() if name not in shown_elsewhere]
    width = max(len(name) for name, _ in rows + extras) + 2
    lines = [title, *(f"  {name:<{width}}{value:>14,}" for name, value in rows)]
    lines.append(f"  {'total':<{width}}{counts['total']:>14,}  ({counts['total'] / 1e6:.2f}M; world model + actor + critic)")
    lines.append(f"  (slow critic copy, {counts['slow_critic']:,} parameters, is an EMA target and not counted)")
    present = [(name, value) for name, value in extras if value]
    if present:
        lines.append("  optional modules, not in the total:")
        lines.extend(f"  {name:<{width}}{value:>14,}" for name, value in present)
    return "\n".join(lines)
