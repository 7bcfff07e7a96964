"""The one pytree a run owns, shared by Active, Passive and Tandem agents.

All three agents use this type and the same update function; they differ only in
where batches come from (own buffer being filled / fixed buffer / partner's indices).
A lock-step Tandem reads its partner's buffer, so its own `buffer` is None.
Seeds are a leading vmap axis over every leaf.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class AgentRun:
    agent: Any  # the agent family's AgentState (agents/family.py): params, optimiser state, counters
    buffer: Any  # ReplayBuffer or None
    env_state: Any  # batched EnvState (num_envs) or None for agents that never interact
    policy_carry: Any  # recurrent policy state for env_state, or None
    key: jax.Array
    env_steps: jax.Array  # int32: agent steps summed over parallel envs (the plots' x-axis)
    train_steps: jax.Array  # int32: updates performed
    schedule: Any = None  # interaction.Schedule for Passive agents that add self-generated data


def new_run(agent, buffer, env_state, policy_carry, key, schedule=None) -> AgentRun:
    zero = jnp.zeros((), jnp.int32)
    return AgentRun(agent, buffer, env_state, policy_carry, key, zero, zero, schedule)


def split_key(run: AgentRun, num: int) -> tuple[AgentRun, jax.Array]:
    keys = jax.random.split(run.key, num + 1)
    return run.replace(key=keys[0]), keys[1:]
