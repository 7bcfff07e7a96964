"""Environments for offon_jit: one functional protocol, JAX-native and host backends.

    import envs
    env = envs.make("minatar/breakout")          # JAX-native (gymnax), single env
    state = env.reset(jax.random.PRNGKey(0))
    state = env.step(state, action)

See `envs.core` for the protocol and episode-boundary convention. Your own tasks:

    envs.register("gym/pendulum", host_factory=envs.from_gymnasium("Pendulum-v1"))
    envs.register("my/task", jax_factory=make_my_env, episode_length=500)
"""

import os

# Headless MuJoCo rendering (dm_control vision) needs EGL; must be set before mujoco is imported.
os.environ.setdefault("MUJOCO_GL", "egl")

from envs.core import EnvState, JaxEnv
from envs.gymnasium_host import GymnasiumEnv, from_gymnasium
from envs.host import BatchedHostEnv, HostStep
from envs.make import make, task_spec
from envs.registration import register, unregister
from envs.registry import TASKS, TaskEntry, get_task, task_names
from envs.spec import ActionSpec, EnvSpec

__all__ = [
    "ActionSpec",
    "BatchedHostEnv",
    "EnvSpec",
    "EnvState",
    "GymnasiumEnv",
    "HostStep",
    "JaxEnv",
    "TASKS",
    "TaskEntry",
    "from_gymnasium",
    "get_task",
    "make",
    "register",
    "task_names",
    "task_spec",
    "unregister",
]
