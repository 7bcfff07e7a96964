"""`debug/point_reach`: a tiny JAX-native task for smoke runs and learning-signal tests.

Not one of the paper's tasks. A point in [-1, 1]^2 starts at a random position;
an action in [-1, 1]^2 moves it by 0.15 * action (clipped to the box). The reward
is dense: 1 - |position - goal| / 2.83 (the box diagonal), with the goal fixed at
(0.6, 0.6). A random policy diffuses slowly and scores about half of the maximum;
a policy that heads for the goal and stays there scores close to 1 per step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.core import JaxEnv, first_state
from envs.registry import TaskEntry

GOAL = jnp.array([0.6, 0.6], jnp.float32)
STEP_SIZE = 0.15
DIAGONAL = 2.0 * 2.0**0.5


def reach_reward(position: jax.Array) -> jax.Array:
    return (1.0 - jnp.linalg.norm(position - GOAL) / DIAGONAL).astype(jnp.float32)


def make_raw(entry: TaskEntry) -> JaxEnv:
    def reset(key):
        key, start_key = jax.random.split(key)
        position = jax.random.uniform(start_key, (2,), jnp.float32, -1.0, 1.0)
        return first_state(position, key, position)

    def step(state, action):
        position = jnp.clip(state.backend + STEP_SIZE * jnp.clip(action, -1.0, 1.0), -1.0, 1.0)
        return state.replace(
            obs=position,
            reward=reach_reward(position),
            terminated=jnp.zeros((), bool),
            is_first=jnp.zeros((), bool),
            backend=position,
        )

    return JaxEnv(spec=entry.spec.replace(action_repeat=1), reset=reset, step=step)
