"""Helpers shared by the MJX ports of dm_control tasks.

The MJX ports reproduce one dm_control *control step* per raw `step`:
dm_control's `Physics.step(n)` (its default "legacy" stepping) runs
`mj_step2` + (n-1) `mj_step` + `mj_step1`, so after a control step the
position- and velocity-dependent fields (xpos, xmat, velocity sensors) belong
to the *new* state while acceleration-dependent sensors (accelerometer,
force, torque) still hold the values computed for the state before the last
integration. `advance` does the same with MJX: `n` full `mjx.step`s, then the
position/velocity stages again on the new state.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs.core import EnvState, JaxEnv, first_state
from envs.spec import EnvSpec


def ctrl_bounds(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """Per-actuator (low, high) control bounds; every actuator must be ctrl-limited."""
    limited = np.asarray(model.actuator_ctrllimited, bool)
    if not limited.all():
        raise ValueError("MJX ports need ctrl-limited actuators to map [-1, 1] actions onto ctrlrange")
    low, high = model.actuator_ctrlrange.T
    return low.astype(np.float32), high.astype(np.float32)


def scale_action(action: jax.Array, low: np.ndarray, high: np.ndarray) -> jax.Array:
    """Map actions in [-1, 1] linearly onto [low, high] (clipping out-of-range input)."""
    action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
    return low + (action + 1.0) * 0.5 * (high - low)


def unscale_action(ctrl: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Inverse of `scale_action` (numpy): ctrl in [low, high] -> action in [-1, 1]."""
    return 2.0 * (np.asarray(ctrl) - low) / (high - low) - 1.0


def full_precision(fn):
    """Trace `fn` with float32 matmuls at full precision.

    On recent NVIDIA GPUs XLA's default float32 matmul may use TF32 (10-bit mantissa),
    which visibly perturbs MJX's constraint solver; this is scoped to the physics
    (no global config change) and a no-op on CPU.
    """

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.default_matmul_precision("highest"):
            return fn(*args, **kwargs)

    return wrapped


def refresh_position_velocity(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Recompute kinematics, com quantities and velocity sensors for the current qpos/qvel.

    This is the part of `mj_step1` our observations read (xpos/xmat, site frames,
    velocimeter/gyro); acceleration-stage sensors are left as they are.
    """
    data = mjx.kinematics(model, data)
    data = mjx.com_pos(model, data)
    data = mjx.com_vel(model, data)
    return mjx.sensor_vel(model, data)


@full_precision
def advance(model: mjx.Model, data: mjx.Data, ctrl: jax.Array, n_sub_steps: int) -> mjx.Data:
    """One dm_control control step: set ctrl, `n_sub_steps` physics steps, then sync like mj_step1."""
    data = data.replace(ctrl=ctrl)
    data = jax.lax.fori_loop(0, n_sub_steps, lambda _, d: mjx.step(model, d), data)
    return refresh_position_velocity(model, data)


def n_sub_steps(control_timestep: float, physics_timestep: float) -> int:
    """Physics steps per control step, as dm_control's `control.compute_n_steps` (must divide)."""
    ratio = control_timestep / physics_timestep
    steps = int(round(ratio))
    if abs(ratio - steps) > 1e-8 or steps < 1:
        raise ValueError(
            f"control timestep {control_timestep} is not a whole multiple of physics timestep {physics_timestep}"
        )
    return steps


def jax_env_from_simulator(entry, sim, obs_size: int):
    """Raw JaxEnv around a simulator with `initial_data(key)`, `step_data(data, action)`,
    `observe(data)` and `reward(data)`: one step is one control step, never terminating."""
    if sim.mj_model.nu != entry.spec.action.dim:
        raise ValueError(f"{entry.name}: model has {sim.mj_model.nu} actuators, registry expects {entry.spec.action.dim}")

    def reset(key: jax.Array) -> EnvState:
        key, init_key = jax.random.split(key)
        data = sim.initial_data(init_key)
        return first_state(sim.observe(data), key, data)

    def step(state: EnvState, action: jax.Array) -> EnvState:
        data = sim.step_data(state.backend, action)
        return state.replace(
            obs=sim.observe(data),
            reward=sim.reward(data),
            terminated=jnp.zeros((), bool),
            is_first=jnp.zeros((), bool),
            backend=data,
        )

    spec = EnvSpec(
        name=entry.name,
        obs_shape=(obs_size,),
        obs_dtype=np.float32,
        action=entry.spec.action,
        episode_length=entry.settings.episode_length,
        action_repeat=1,
    )
    return JaxEnv(spec=spec, reset=reset, step=step)
