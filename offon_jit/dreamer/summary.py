"""Parameter counts per module, computed from shapes only (`jax.eval_shape`: no memory, no compile)."""

from __future__ import annotations

import jax

from envs.spec import EnvSpec
from offon_jit.dreamer.agent import init_agent
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.networks import count_params

# World-model submodule (Flax name) -> the name shown to users.
WORLD_MODEL_MODULES = {"encoder": "encoder", "rssm": "rssm", "decoder": "decoder", "reward": "reward", "cont": "continue"}


def parameter_counts(spec: EnvSpec, config: DreamerConfig) -> dict[str, int]:
    """{'encoder', 'rssm', 'decoder', 'reward', 'continue', 'actor', 'critic', 'total'}.

    The total counts world model + actor + ONE critic; the slow critic (an EMA copy of
    the critic, not optimised) is reported separately as 'slow_critic' and not included.
    """
    state = jax.eval_shape(lambda key: init_agent(key, spec, config), jax.random.PRNGKey(0))
    wm = state.params["wm"]["params"]
    counts = {shown: count_params(wm[name]) for name, shown in WORLD_MODEL_MODULES.items()}
    counts["actor"] = count_params(state.params["actor"])
    counts["critic"] = count_params(state.params["critic"])
    counts["total"] = sum(counts.values())
    counts["slow_critic"] = count_params(state.params["slow_critic"])
    return counts


def format_parameter_table(counts: dict[str, int], title: str) -> str:
    rows = [(name, counts[name]) for name in (*WORLD_MODEL_MODULES.values(), "actor", "critic")]
    width = max(len(name) for name, _ in rows) + 2
    lines = [title, *(f"  {name:<{width}}{value:>14,}" for name, value in rows)]
    lines.append(f"  {'total':<{width}}{counts['total']:>14,}  ({counts['total'] / 1e6:.2f}M; world model + actor + critic)")
    lines.append(f"  (slow critic copy, {counts['slow_critic']:,} parameters, is an EMA target and not counted)")
    return "\n".join(lines)
