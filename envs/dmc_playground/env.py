"""`make_raw`: a DMC proprio task as a raw `JaxEnv` (one dm_control control step per step)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from envs.core import EnvState, JaxEnv, first_state
from envs.dmc_playground import physics, tasks
from envs.dmc_playground.physics import Simulator
from envs.registry import TaskEntry
from envs.spec import ActionSpec, EnvSpec


def dm_control_reference(definition: tasks.DmcTask):
    """dm_control's compiled model and control timestep for a task (the physics we match)."""
    from dm_control import suite

    env = suite.load(definition.domain, definition.task)
    return env.physics.model.ptr, float(env.control_timestep())


def playground_model(definition: tasks.DmcTask) -> mujoco.MjModel:
    """Compile Playground's XML for the task's domain.

    We compile the XML rather than `dm_control_suite.load(...).mj_model`: only the model is
    used (obs/reward/reset are dm_control's), and Playground 0.2.0's ReacherHard cannot be
    constructed with MuJoCo >= 3.10 (it compares version strings lexicographically and
    calls the removed `MjSpec.find_body`).
    """
    from mujoco_playground import dm_control_suite

    module = getattr(dm_control_suite, definition.domain)
    return mujoco.MjModel.from_xml_string(module._XML_PATH.read_text(), dm_control_suite.common.get_assets())


def load_simulator(task: str, impl: str | None = None) -> tuple[Simulator, tasks.DmcTask]:
    """Playground's model for `task` with dm_control's physics options and control timestep."""
    from mujoco_playground import dm_control_suite

    definition = tasks.get(task)
    reference, control_timestep = dm_control_reference(definition)
    config = dm_control_suite.get_default_config(definition.playground)
    if not math.isclose(config.ctrl_dt, control_timestep):
        raise ValueError(
            f"{task}: Playground's ctrl_dt {config.ctrl_dt} differs from dm_control's control timestep {control_timestep}"
        )
    model = playground_model(definition)
    # Same state and actuators (Playground drops humanoid's unused touch sensors and
    # turns finger's/reacher's targets into mocap bodies, so bodies/sensors may differ).
    for size in ("nq", "nv", "nu", "na", "njnt"):
        if getattr(model, size) != getattr(reference, size):
            raise ValueError(
                f"{task}: Playground model has {size}={getattr(model, size)}, dm_control's {getattr(reference, size)}"
            )
    # Playground's sim_dt is dm_control's timestep except finger/reacher (0.005 vs 0.01/0.02);
    # all options, the timestep included, become dm_control's.
    physics.copy_physics_options(model, reference)
    physics.cap_line_search(model)
    physics.set_contact_budget(model, definition.contact_budget)
    definition.edit_model(model)
    substeps = physics.n_substeps(control_timestep, model.opt.timestep)
    impl = impl or physics.choose_impl(config.impl)
    sim = Simulator.build(model, impl, substeps, naconmax=config.naconmax, njmax=config.njmax)
    return sim, definition


def make_raw(entry: TaskEntry) -> JaxEnv:
    """Raw env for `dmc/<task>-proprio`: no action repeat, time limit or auto-reset.

    Observation: dm_control's flattened observation dict (float32). Reward: dm_control's.
    `terminated` is always False: DMC tasks never end (discount stays 1). A diverged
    simulation (non-finite state) is not flagged here; detecting it is the engine's job.
    Actions in [-1, 1] (clipped) map linearly onto each actuator's ctrlrange.
    """
    if entry.suite != "dmc" or entry.obs_kind != "proprio":
        raise ValueError(f"{entry.name}: the Playground backend serves dmc/<task>-proprio tasks only")
    return make_env(entry.task, name=entry.name, episode_length=entry.settings.episode_length)


def make_env(task: str, name: str | None = None, episode_length: int = 500, impl: str | None = None) -> JaxEnv:
    """The raw env of a task by its registry name (e.g. "cheetah_run")."""
    sim, definition = load_simulator(task, impl)
    return env_from_simulator(sim, definition, name or f"dmc/{task}-proprio", episode_length)


def env_from_simulator(sim: Simulator, definition: tasks.DmcTask, name: str, episode_length: int) -> JaxEnv:
    """Raw env over an already built simulator (tests reuse one simulator for several envs)."""
    model = sim.mj_model
    if not np.all(model.actuator_ctrllimited):
        raise ValueError(f"{name}: every actuator needs a ctrlrange to map [-1, 1] actions onto")
    low, high = (np.asarray(b, np.float32) for b in model.actuator_ctrlrange.T)
    center, half_range = (high + low) / 2, (high - low) / 2  # exact identity for [-1, 1] ranges

    def observe(view) -> jax.Array:
        return tasks.flatten(definition.observe(model, view))

    def reset(key: jax.Array) -> EnvState:
        key, init_key = jax.random.split(key)
        data = definition.initialize(sim, init_key)
        if definition.forward_at_reset:
            # dm_control's after_reset: a forward pass with actuation disabled (our control is 0).
            # Other tasks skip it: the observation view recomputes positions and velocities,
            # and every mjx.step starts with its own forward pass.
            data = sim.forward(data)
        return first_state(observe(sim.observation_view(data)), key, sim.state_of(data))

    def step(state: EnvState, action: jax.Array) -> EnvState:
        ctrl = center + half_range * jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        data = sim.step(sim.data_of(state.backend), ctrl)
        view = sim.observation_view(data)
        return state.replace(
            obs=observe(view),
            reward=jnp.asarray(definition.reward(model, view), jnp.float32),
            terminated=jnp.zeros((), bool),
            is_first=jnp.zeros((), bool),
            backend=sim.state_of(data),
        )

    obs_size = jax.eval_shape(lambda: observe(sim.observation_view(sim.make_data(model.qpos0)))).shape[0]
    spec = EnvSpec(
        name=name,
        obs_shape=(obs_size,),
        obs_dtype=np.float32,
        action=ActionSpec(kind="continuous", shape=(model.nu,), low=-1.0, high=1.0),
        episode_length=episode_length,
        action_repeat=1,
    )
    return JaxEnv(spec=spec, reset=reset, step=step)
