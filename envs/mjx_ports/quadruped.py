"""dm_control's quadruped "run" task in MJX, plus its dm_control twin.

Model: exactly the XML that `dm_control.suite.quadruped.run()` builds
(`make_model(floor_size=_DEFAULT_TIME_LIMIT * _RUN_SPEED)`: no terrain heightfield,
no walls/ball/target, no rangefinders). MJX accepts it unchanged, so the MJX
port and the twin simulate the same `MjModel`; nothing is edited at run time.

One raw step = one dm_control control step (0.02 s = 4 physics steps of 0.005 s),
with dm_control's legacy stepping reproduced (see `envs.mjx_ports.common`).

Observation (78 floats), in dm_control's flattening order:
    egocentric_state (hinge qpos 16, hinge qvel 16, actuator activations 12),
    torso_velocity (velocimeter, 3), torso_upright (1),
    imu (accelerometer 3, gyro 3), force_torque (arcsinh of 4 toe forces, 4 toe torques; 24).
Reward: dm_control's Move(desired_speed=5): upright tolerance * forward-speed tolerance.

Differences from dm_control (documented, all in the reset or numerics):
  * Initial orientation: a uniform random unit quaternion, as in dm_control, but
    drawn from the JAX key (different samples from the twin's numpy RandomState).
  * Initial height: dm_control raises the torso in 1 cm steps from z=0 until
    MuJoCo reports no contact. Here the lowest point of every geom that collides
    with the floor is computed in closed form (support functions of sphere,
    capsule, ellipsoid, cylinder, box) and z is the first multiple of 1 cm that
    lifts it off the plane: the same grid value whenever the only contacts are
    with the floor, which holds in the quadruped's default (zero-angle) pose.
    tests/envs/test_mjx_ports.py checks it against dm_control's search.
  * Physics: MJX's float32 solver and collision routines vs MuJoCo's float64 C
    implementation; trajectories agree closely at first and drift apart
    (chaotically) once contacts occur.

Cost: the model has 159 candidate collision pairs (191 contact slots, several of
them MJX's iterative SDF colliders for capsule/sphere vs ellipsoid/cylinder), so
compiling reset + step takes about a minute of CPU time; the env state carries
the full `mjx.Data`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from dm_control.rl import control
from dm_control.suite import common as suite_common
from dm_control.suite import quadruped as dm_quadruped
from mujoco import mjx

from envs.core import JaxEnv
from envs.dmc_rewards import tolerance
from envs.mjx_ports import common
from envs.registry import TaskEntry

TIME_LIMIT = dm_quadruped._DEFAULT_TIME_LIMIT
CONTROL_TIMESTEP = dm_quadruped._CONTROL_TIMESTEP
RUN_SPEED = dm_quadruped._RUN_SPEED
# dm_control raises the body in steps of this size until nothing touches.
HEIGHT_STEP = 0.01
OBS_SIZE = 78


def model_xml() -> bytes:
    """The XML string `dm_control.suite.quadruped.run()` builds."""
    return dm_quadruped.make_model(floor_size=TIME_LIMIT * RUN_SPEED)


def load_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(model_xml(), suite_common.ASSETS)


def make_dm_control_env(random_state, environment_kwargs=None) -> control.Environment:
    """dm_control's quadruped run task, built as `quadruped.run()` builds it.

    `environment_kwargs` go to `control.Environment`; unlike `quadruped.run`, a
    `time_limit` entry is accepted there (it overrides the 20 s default).
    """
    kwargs = dict(environment_kwargs or {})
    time_limit = kwargs.pop("time_limit", TIME_LIMIT)
    physics = dm_quadruped.Physics.from_xml_string(model_xml(), suite_common.ASSETS)
    task = dm_quadruped.Move(desired_speed=RUN_SPEED, random=random_state)
    return control.Environment(
        physics, task, time_limit=time_limit, control_timestep=CONTROL_TIMESTEP, **kwargs
    )


# ---------------------------------------------------------------------------
# Static indices read off the MjModel, the way dm_control's Physics finds them.


def _sensor_indices(model: mujoco.MjModel, *types: mujoco.mjtSensor) -> np.ndarray:
    """sensordata indices of all sensors of `types`, in sensor-id order (as dm_control)."""
    ids = np.flatnonzero(np.isin(model.sensor_type, [int(t) for t in types]))
    return np.concatenate([np.arange(model.sensor_adr[i], model.sensor_adr[i] + model.sensor_dim[i]) for i in ids])


class _Layout:
    """Everything `observe` and `reset` need to know about the model, as numpy constants."""

    def __init__(self, model: mujoco.MjModel):
        hinges = np.flatnonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE)
        self.hinge_qpos = model.jnt_qposadr[hinges]
        self.hinge_qvel = model.jnt_dofadr[hinges]
        self.velocimeter = _sensor_indices(model, mujoco.mjtSensor.mjSENS_VELOCIMETER)
        self.imu = _sensor_indices(model, mujoco.mjtSensor.mjSENS_GYRO, mujoco.mjtSensor.mjSENS_ACCELEROMETER)
        self.force_torque = _sensor_indices(model, mujoco.mjtSensor.mjSENS_FORCE, mujoco.mjtSensor.mjSENS_TORQUE)
        self.torso = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "torso")
        root = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "root")
        if model.jnt_type[root] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError("quadruped model: joint 'root' must be a free joint")
        self.root_qpos = int(model.jnt_qposadr[root])
        self.ctrl_low, self.ctrl_high = common.ctrl_bounds(model)
        # Geoms that can touch the floor plane, for the initial-height computation.
        floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        touches = (model.geom_contype & model.geom_conaffinity[floor]) | (
            model.geom_conaffinity & model.geom_contype[floor]
        )
        touches = touches.astype(bool) & (model.geom_bodyid != model.geom_bodyid[floor])
        self.lift_geoms = np.flatnonzero(touches)
        self.lift_types = model.geom_type[self.lift_geoms]
        self.lift_sizes = model.geom_size[self.lift_geoms].astype(np.float32)
        # MuJoCo keeps a contact while distance <= max of the two geoms' margins.
        self.lift_margins = np.maximum(model.geom_margin[self.lift_geoms], model.geom_margin[floor])
        self.floor_height = float(model.geom_pos[floor, 2])
        if not np.allclose(model.geom_quat[floor], [1, 0, 0, 0]):
            raise ValueError("quadruped model: the initial-height computation assumes a horizontal floor")
        supported = {int(t) for t in (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_CAPSULE,
                                      mujoco.mjtGeom.mjGEOM_ELLIPSOID, mujoco.mjtGeom.mjGEOM_CYLINDER,
                                      mujoco.mjtGeom.mjGEOM_BOX)}
        unsupported = set(int(t) for t in self.lift_types) - supported
        if unsupported:
            raise ValueError(f"quadruped model: no support function for geom types {sorted(unsupported)}")


def _support_down(geom_type: int, size: jax.Array, xmat: jax.Array) -> jax.Array:
    """How far a geom reaches below its centre (support function along world -z)."""
    down = -xmat[2]  # world -z expressed in the geom's frame: -(row 2 of R)
    if geom_type == mujoco.mjtGeom.mjGEOM_SPHERE:
        return size[0]
    if geom_type == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return size[0] + size[1] * jnp.abs(down[2])
    if geom_type == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        return jnp.sqrt(jnp.sum((size * down) ** 2))
    if geom_type == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return size[1] * jnp.abs(down[2]) + size[0] * jnp.sqrt(jnp.maximum(down[0] ** 2 + down[1] ** 2, 0.0))
    if geom_type == mujoco.mjtGeom.mjGEOM_BOX:
        return jnp.sum(size * jnp.abs(down))
    raise ValueError(f"no support function for geom type {geom_type}")


def non_contacting_height(model: mjx.Model, layout: _Layout, data: mjx.Data) -> jax.Array:
    """First multiple of HEIGHT_STEP at which no floor-colliding geom penetrates the floor.

    `data.qpos` holds the pose with the root at height 0; dm_control's search
    (z = 0, 0.01, 0.02, ... until MuJoCo finds no contact) ends at this value.
    """
    data = mjx.kinematics(model, data)
    lowest = []
    for geom, geom_type, size in zip(layout.lift_geoms, layout.lift_types, layout.lift_sizes):
        reach = _support_down(int(geom_type), jnp.asarray(size), data.geom_xmat[geom])
        lowest.append(data.geom_xpos[geom, 2] - reach)
    # Clearance needed so that every geom's distance to the floor exceeds its contact margin.
    needed = jnp.max(layout.floor_height + layout.lift_margins - jnp.stack(lowest))
    # MuJoCo reports a contact while distance <= margin, so the first free grid height is the
    # smallest k >= 0 with k * step > needed.
    steps = jnp.maximum(jnp.floor(needed / HEIGHT_STEP) + 1.0, 0.0)
    return steps * HEIGHT_STEP


def observe(layout: _Layout, data: mjx.Data) -> jax.Array:
    """dm_control's flattened quadruped observation (78 floats)."""
    parts = [
        data.qpos[layout.hinge_qpos],
        data.qvel[layout.hinge_qvel],
        data.act,
        data.sensordata[layout.velocimeter],
        data.xmat[layout.torso, 2, 2][None],
        data.sensordata[layout.imu],
        jnp.arcsinh(data.sensordata[layout.force_torque]),
    ]
    return jnp.concatenate(parts).astype(jnp.float32)


def run_reward(layout: _Layout, data: mjx.Data) -> jax.Array:
    """dm_control's Move(desired_speed=RUN_SPEED) reward: upright * forward speed."""
    upright = tolerance(
        data.xmat[layout.torso, 2, 2], bounds=(1.0, float("inf")), sigmoid="linear", margin=2.0, value_at_margin=0.0
    )
    move = tolerance(
        data.sensordata[layout.velocimeter][0],
        bounds=(RUN_SPEED, float("inf")),
        margin=RUN_SPEED,
        value_at_margin=0.5,
        sigmoid="linear",
    )
    return (upright * move).astype(jnp.float32)


class QuadrupedRun:
    """The MJX model and the pure functions of the raw quadruped-run env."""

    def __init__(self):
        self.mj_model = load_model()
        self.model = mjx.put_model(self.mj_model)
        self.layout = _Layout(self.mj_model)
        self.n_sub_steps = common.n_sub_steps(CONTROL_TIMESTEP, float(self.mj_model.opt.timestep))

    @common.full_precision
    def initial_data(self, key: jax.Array) -> mjx.Data:
        """Random orientation at the non-contacting height, zero joint angles/velocities."""
        layout = self.layout
        quat = jax.random.normal(key, (4,))
        quat = quat / jnp.linalg.norm(quat)
        data = mjx.make_data(self.model)
        qpos = data.qpos.at[layout.root_qpos : layout.root_qpos + 3].set(0.0)
        qpos = qpos.at[layout.root_qpos + 3 : layout.root_qpos + 7].set(quat)
        height = non_contacting_height(self.model, layout, data.replace(qpos=qpos))
        qpos = qpos.at[layout.root_qpos + 2].set(height)
        return self.settle(data.replace(qpos=qpos))

    def settle(self, data: mjx.Data) -> mjx.Data:
        """Full forward pass, as dm_control's reset_context ends with mj_forward."""
        return mjx.forward(self.model, data)

    def step_data(self, data: mjx.Data, action: jax.Array) -> mjx.Data:
        ctrl = common.scale_action(action, self.layout.ctrl_low, self.layout.ctrl_high)
        return common.advance(self.model, data, ctrl, self.n_sub_steps)

    def observe(self, data: mjx.Data) -> jax.Array:
        return observe(self.layout, data)

    def reward(self, data: mjx.Data) -> jax.Array:
        return run_reward(self.layout, data)


def make_raw(entry: TaskEntry) -> JaxEnv:
    """Raw MJX quadruped run: one step = one 0.02 s dm_control control step."""
    if entry.task != "quadruped_run" or entry.obs_kind != "proprio":
        raise ValueError(f"envs.mjx_ports.quadruped serves dmc/quadruped_run-proprio, not {entry.name!r}")
    return common.jax_env_from_simulator(entry, QuadrupedRun(), OBS_SIZE)
