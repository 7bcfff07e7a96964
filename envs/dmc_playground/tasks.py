"""The 7 DMC tasks: dm_control's initial states, observations and rewards, in JAX.

Each definition follows `dm_control/suite/<domain>.py` line by line: observations are
dicts in dm_control's key order (flattened by the env), rewards use the same
`tolerance` calls and constants. Playground's own versions differ (e.g. walker's
`height` is a rotation entry, resets skip dm_control's collision-free resampling,
reacher/finger observe stale target positions), so none of them is reused.

Functions get the compiled `mujoco.MjModel` for static ids/sizes and an observation
view (`Simulator.observation_view`) whose kinematics and sensors match dm_control's
after a control step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs.dmc_playground import randomize
from envs.dmc_playground.physics import (
    Simulator,
    body_id,
    default_mocap_pos,
    geom_id,
    joint_id,
    mocap_index,
    sensor_slice,
    site_id,
)
from envs.dmc_rewards import tolerance

Observation = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class DmcTask:
    domain: str  # dm_control domain, as in suite.load(domain, task)
    task: str  # dm_control task
    playground: str  # Playground env name (its XML and timing config)
    initialize: Callable[[Simulator, jax.Array], mjx.Data]  # initialize_episode (see `forward_at_reset`)
    observe: Callable[[mujoco.MjModel, mjx.Data], Observation]
    reward: Callable[[mujoco.MjModel, mjx.Data], jax.Array]
    edit_model: Callable[[mujoco.MjModel], None] = lambda model: None  # model constants set by the task
    # Most contacts MJX keeps (physics.set_contact_budget); None keeps all. Set above the
    # most contacts active at once in dm_control rollouts (9000 steps of random, gentle
    # and zero actions): cheetah 2, walker 7, hopper 6, finger 2, humanoid 13.
    contact_budget: int | None = None
    # Observes touch sensors in initial states that may be in contact: their contact forces
    # need a forward pass at reset. (Finger also observes touch, but its initial states are
    # contact-free by construction, so its touch readings are exactly 0 without one.)
    forward_at_reset: bool = False


def flatten(observation: Observation) -> jax.Array:
    """dm_control's `flatten_observation`: ravel each entry, concatenate in key order."""
    return jnp.concatenate([jnp.ravel(v) for v in observation.values()]).astype(jnp.float32)


def _sensor(model, view, name: str) -> jax.Array:
    return view.sensordata[sensor_slice(model, name)]


def _random_pose(sim: Simulator, key: jax.Array, limited_only: bool = False) -> mjx.Data:
    """At rest in a pose from dm_control's joint randomiser (walker's and hopper's init)."""
    qpos = randomize.joint_randomizer(sim.mj_model, limited_only)(key, jnp.asarray(sim.mj_model.qpos0, jnp.float32))
    return sim.make_data(qpos)


# --- cheetah run ------------------------------------------------------------------
_CHEETAH_RUN_SPEED = 10.0
_CHEETAH_SETTLE_STEPS = 200


def _cheetah_init(sim: Simulator, key: jax.Array) -> mjx.Data:
    data = _random_pose(sim, key, limited_only=True)
    # dm_control lets the random pose settle with zero control before the episode. (Its
    # first settling step reuses position-stage quantities computed at qpos0 by the reset,
    # a quirk of its legacy stepping; we recompute them. 199 more steps wash that out.)
    data = sim.step(data, jnp.zeros(sim.mj_model.nu), substeps=_CHEETAH_SETTLE_STEPS)
    return data.replace(time=jnp.zeros_like(data.time))


def _cheetah_observe(model, view) -> Observation:
    return {"position": view.qpos[1:], "velocity": view.qvel}


def _cheetah_reward(model, view) -> jax.Array:
    speed = _sensor(model, view, "torso_subtreelinvel")[0]
    return tolerance(
        speed, (_CHEETAH_RUN_SPEED, float("inf")), margin=_CHEETAH_RUN_SPEED, value_at_margin=0, sigmoid="linear"
    )


# --- walker walk ------------------------------------------------------------------
_WALKER_STAND_HEIGHT = 1.2
_WALKER_WALK_SPEED = 1.0


def _walker_observe(model, view) -> Observation:
    torso = body_id(model, "torso")
    return {
        "orientations": view.xmat[1:, 0, jnp.array([0, 2])].ravel(),  # xx, xz of every body
        "height": view.xpos[torso, 2],
        "velocity": view.qvel,
    }


def _walker_reward(model, view) -> jax.Array:
    torso = body_id(model, "torso")
    standing = tolerance(view.xpos[torso, 2], (_WALKER_STAND_HEIGHT, float("inf")), margin=_WALKER_STAND_HEIGHT / 2)
    upright = (1 + view.xmat[torso, 2, 2]) / 2
    stand_reward = (3 * standing + upright) / 4
    speed = _sensor(model, view, "torso_subtreelinvel")[0]
    move = tolerance(
        speed, (_WALKER_WALK_SPEED, float("inf")), margin=_WALKER_WALK_SPEED / 2, value_at_margin=0.5, sigmoid="linear"
    )
    return stand_reward * (5 * move + 1) / 6


# --- hopper hop -------------------------------------------------------------------
_HOPPER_STAND_HEIGHT = 0.6
_HOPPER_HOP_SPEED = 2.0


def _hopper_observe(model, view) -> Observation:
    touch = jnp.concatenate([_sensor(model, view, "touch_toe"), _sensor(model, view, "touch_heel")])
    return {"position": view.qpos[1:], "velocity": view.qvel, "touch": jnp.log1p(touch)}


def _hopper_reward(model, view) -> jax.Array:
    height = view.xipos[body_id(model, "torso"), 2] - view.xipos[body_id(model, "foot"), 2]
    standing = tolerance(height, (_HOPPER_STAND_HEIGHT, 2))
    speed = _sensor(model, view, "torso_subtreelinvel")[0]
    hopping = tolerance(
        speed, (_HOPPER_HOP_SPEED, float("inf")), margin=_HOPPER_HOP_SPEED / 2, value_at_margin=0.5, sigmoid="linear"
    )
    return standing * hopping


# --- finger turn_hard -------------------------------------------------------------
_FINGER_TARGET_RADIUS = 0.03  # turn_hard


def _finger_edit(model: mujoco.MjModel) -> None:
    model.site_size[site_id(model, "target"), 0] = _FINGER_TARGET_RADIUS


def _finger_init(sim: Simulator, key: jax.Array) -> mjx.Data:
    model = sim.mj_model
    target_key, joints_key = jax.random.split(key)
    # The target lies on the circle the tip sweeps around the spinner's hinge.
    anchor = _hinge_anchor(model, "hinge")
    radius = float(model.geom_size[geom_id(model, "cap1")].sum())
    angle = jax.random.uniform(target_key, (), jnp.float32, -np.pi, np.pi)
    row = mocap_index(model, "target")
    mocap_pos = jnp.asarray(default_mocap_pos(model))
    mocap_pos = mocap_pos.at[row, 0].set(anchor[0] + radius * jnp.sin(angle))
    mocap_pos = mocap_pos.at[row, 2].set(anchor[2] + radius * jnp.cos(angle))
    randomizer = randomize.joint_randomizer(model)
    qpos0 = jnp.asarray(model.qpos0, jnp.float32)
    qpos = randomize.sample_collision_free(sim, joints_key, lambda k: randomizer(k, qpos0), mocap_pos)
    return sim.make_data(qpos, mocap_pos)


def _hinge_anchor(model: mujoco.MjModel, joint: str) -> np.ndarray:
    """World position of a joint's anchor at qpos0 (the spinner's hinge never moves)."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return np.array(data.xanchor[joint_id(model, joint)], np.float32)


def _finger_tip_position(model, view) -> jax.Array:
    return _sensor(model, view, "tip")[jnp.array([0, 2])] - _sensor(model, view, "spinner")[jnp.array([0, 2])]


def _finger_target_position(model, view) -> jax.Array:
    return _sensor(model, view, "target")[jnp.array([0, 2])] - _sensor(model, view, "spinner")[jnp.array([0, 2])]


def _finger_dist_to_target(model, view) -> jax.Array:
    to_target = _finger_target_position(model, view) - _finger_tip_position(model, view)
    return jnp.linalg.norm(to_target) - model.site_size[site_id(model, "target"), 0]


def _finger_observe(model, view) -> Observation:
    s = lambda name: _sensor(model, view, name)
    return {
        "position": jnp.concatenate([s("proximal"), s("distal"), _finger_tip_position(model, view)]),
        "velocity": jnp.concatenate([s("proximal_velocity"), s("distal_velocity"), s("hinge_velocity")]),
        "touch": jnp.log1p(jnp.concatenate([s("touchtop"), s("touchbottom")])),
        "target_position": _finger_target_position(model, view),
        "dist_to_target": _finger_dist_to_target(model, view),
    }


def _finger_reward(model, view) -> jax.Array:
    return (_finger_dist_to_target(model, view) <= 0).astype(jnp.float32)


# --- reacher hard -----------------------------------------------------------------
_REACHER_TARGET_SIZE = 0.015  # hard


def _reacher_edit(model: mujoco.MjModel) -> None:
    model.geom_size[geom_id(model, "target"), 0] = _REACHER_TARGET_SIZE


def _reacher_init(sim: Simulator, key: jax.Array) -> mjx.Data:
    model = sim.mj_model
    joints_key, angle_key, radius_key = jax.random.split(key, 3)
    qpos = randomize.joint_randomizer(model)(joints_key, jnp.asarray(model.qpos0, jnp.float32))
    angle = jax.random.uniform(angle_key, (), jnp.float32, 0.0, 2 * np.pi)
    radius = jax.random.uniform(radius_key, (), jnp.float32, 0.05, 0.20)
    row = mocap_index(model, "target")
    mocap_pos = jnp.asarray(default_mocap_pos(model))
    mocap_pos = mocap_pos.at[row, 0].set(radius * jnp.sin(angle)).at[row, 1].set(radius * jnp.cos(angle))
    return sim.make_data(qpos, mocap_pos)


def _reacher_finger_to_target(model, view) -> jax.Array:
    return view.geom_xpos[geom_id(model, "target"), :2] - view.geom_xpos[geom_id(model, "finger"), :2]


def _reacher_observe(model, view) -> Observation:
    return {"position": view.qpos, "to_target": _reacher_finger_to_target(model, view), "velocity": view.qvel}


def _reacher_reward(model, view) -> jax.Array:
    radii = float(model.geom_size[geom_id(model, "target"), 0] + model.geom_size[geom_id(model, "finger"), 0])
    return tolerance(jnp.linalg.norm(_reacher_finger_to_target(model, view)), (0, radii))


# --- ball_in_cup catch ------------------------------------------------------------
def _cup_init(sim: Simulator, key: jax.Array) -> mjx.Data:
    model = sim.mj_model
    ball_x = int(model.jnt_qposadr[joint_id(model, "ball_x")])
    ball_z = int(model.jnt_qposadr[joint_id(model, "ball_z")])
    qpos0 = jnp.asarray(model.qpos0, jnp.float32)

    def propose(k):
        kx, kz = jax.random.split(k)
        x = jax.random.uniform(kx, (), jnp.float32, -0.2, 0.2)
        z = jax.random.uniform(kz, (), jnp.float32, 0.2, 0.5)
        return qpos0.at[ball_x].set(x).at[ball_z].set(z)

    return sim.make_data(randomize.sample_collision_free(sim, key, propose))


def _cup_observe(model, view) -> Observation:
    return {"position": view.qpos, "velocity": view.qvel}


def _cup_reward(model, view) -> jax.Array:
    target = view.site_xpos[site_id(model, "target"), jnp.array([0, 2])]
    ball = view.xpos[body_id(model, "ball"), jnp.array([0, 2])]
    target_size = model.site_size[site_id(model, "target"), [0, 2]]
    ball_size = model.geom_size[geom_id(model, "ball"), 0]
    return jnp.all(jnp.abs(target - ball) < target_size - ball_size).astype(jnp.float32)


# --- humanoid walk ----------------------------------------------------------------
_HUMANOID_STAND_HEIGHT = 1.4
_HUMANOID_WALK_SPEED = 1.0


def _collision_free_joints(sim: Simulator, key: jax.Array) -> mjx.Data:
    randomizer = randomize.joint_randomizer(sim.mj_model)
    qpos0 = jnp.asarray(sim.mj_model.qpos0, jnp.float32)
    return sim.make_data(randomize.sample_collision_free(sim, key, lambda k: randomizer(k, qpos0)))


def _humanoid_observe(model, view) -> Observation:
    torso = body_id(model, "torso")
    torso_frame, torso_pos = view.xmat[torso], view.xpos[torso]
    limbs = [body_id(model, side + limb) for side in ("left_", "right_") for limb in ("hand", "foot")]
    extremities = (view.xpos[jnp.array(limbs)] - torso_pos) @ torso_frame  # egocentric, as torso_to_limb.dot(frame)
    return {
        "joint_angles": view.qpos[7:],
        "head_height": view.xpos[body_id(model, "head"), 2],
        "extremities": extremities.ravel(),
        "torso_vertical": view.xmat[torso, 2],
        "com_velocity": _sensor(model, view, "torso_subtreelinvel"),
        "velocity": view.qvel,
    }


def _humanoid_reward(model, view) -> jax.Array:
    torso = body_id(model, "torso")
    standing = tolerance(
        view.xpos[body_id(model, "head"), 2], (_HUMANOID_STAND_HEIGHT, float("inf")), margin=_HUMANOID_STAND_HEIGHT / 4
    )
    upright = tolerance(view.xmat[torso, 2, 2], (0.9, float("inf")), sigmoid="linear", margin=1.9, value_at_margin=0)
    small_control = tolerance(view.ctrl, margin=1, value_at_margin=0, sigmoid="quadratic").mean()
    small_control = (4 + small_control) / 5
    com_speed = jnp.linalg.norm(_sensor(model, view, "torso_subtreelinvel")[:2])
    move = tolerance(
        com_speed,
        (_HUMANOID_WALK_SPEED, float("inf")),
        margin=_HUMANOID_WALK_SPEED,
        value_at_margin=0,
        sigmoid="linear",
    )
    move = (5 * move + 1) / 6
    return small_control * standing * upright * move


TASKS: dict[str, DmcTask] = {
    "cheetah_run": DmcTask(
        "cheetah", "run", "CheetahRun", _cheetah_init, _cheetah_observe, _cheetah_reward, contact_budget=6
    ),
    "walker_walk": DmcTask(
        "walker", "walk", "WalkerWalk", _random_pose, _walker_observe, _walker_reward, contact_budget=10
    ),
    "hopper_hop": DmcTask(
        "hopper",
        "hop",
        "HopperHop",
        _random_pose,
        _hopper_observe,
        _hopper_reward,
        contact_budget=8,
        forward_at_reset=True,
    ),
    "finger_turn_hard": DmcTask(
        "finger",
        "turn_hard",
        "FingerTurnHard",
        _finger_init,
        _finger_observe,
        _finger_reward,
        _finger_edit,
        contact_budget=4,
    ),
    # reacher has contacts disabled; cup's 16 possible contacts are few enough to keep them all.
    "reacher_hard": DmcTask(
        "reacher", "hard", "ReacherHard", _reacher_init, _reacher_observe, _reacher_reward, _reacher_edit
    ),
    "cup_catch": DmcTask("ball_in_cup", "catch", "BallInCup", _cup_init, _cup_observe, _cup_reward),
    "humanoid_walk": DmcTask(
        "humanoid",
        "walk",
        "HumanoidWalk",
        _collision_free_joints,
        _humanoid_observe,
        _humanoid_reward,
        contact_budget=16,
    ),
}


def get(task: str) -> DmcTask:
    if task not in TASKS:
        raise KeyError(f"no Playground DMC task {task!r}; known: {', '.join(TASKS)}")
    return TASKS[task]
