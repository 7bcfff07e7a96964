"""Environments for offon_jit: one functional protocol, JAX-native and host backends.

    import envs
    env = envs.make("minatar/breakout")          # JAX-native (gymnax), single env
    state = env.reset(jax.random.PRNGKey(0))
    state = env.step(state, action)

See `envs.core` for the protocol and episode-boundary convention.
"""

import os

# Headless MuJoCo rendering (dm_control vision) needs EGL; must be set before mujoco is imported.
os.environ.setdefault("MUJOCO_GL", "egl")

from envs.core import EnvState, JaxEnv
from envs.host import BatchedHostEnv, HostStep
from envs.make import make
from envs.registry import TASKS, TaskEntry, get_task, task_names
from envs.spec import ActionSpec, EnvSpec

__all__ = [
    "ActionSpec",
    "BatchedHostEnv",
    "EnvSpec",
    "EnvState",
    "HostStep",
    "JaxEnv",
    "TASKS",
    "TaskEntry",
    "get_task",
    "make",
    "task_names",
]
