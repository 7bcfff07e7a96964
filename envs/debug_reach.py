"""`debug/point_reach`: a tiny JAX-native task for smoke runs and learning-signal tests.

Not one of the paper's tasks. A point in [-1, 1]^2 starts at a random position;
an action in [-1, 1]^2 moves it by 0.15 * action (clipped to the box). The reward
is dense but peaked: exp(-(|position - goal| / 0.8)^2), goal fixed at (0.6, 0.6).
A random policy diffuses slowly and averages about 0.25 per step; a policy that
heads for the goal and stays there earns close to 1 per step (max 50 per episode).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.core import JaxEnv, first_state
from envs.registry import TaskEntry

GOAL = jnp.array([0.6, 0.6], jnp.float32)
STEP_SIZE = 0.15
REWARD_SCALE = 0.8


def reach_reward(position: jax.Array) -> jax.Array:
    distance = jnp.linalg.norm(position - GOAL)
    return jnp.exp(-jnp.square(distance / REWARD_SCALE)).astype(jnp.float32)


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
