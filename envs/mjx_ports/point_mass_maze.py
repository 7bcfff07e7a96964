"""Point-mass maze of URLB/ExORL, task reach_bottom_right, in MJX, plus its dm_control twin.

The paper's toy task builds on the point-mass maze of Yarats et al. (2022), defined in
`custom_dmc_tasks/point_mass_maze.py` and `point_mass_maze_reach_bottom_right.xml` of
github.com/denisyarats/exorl (URLB's domain). Our model, envs/assets/point_mass_maze.xml,
reproduces that one (see the drawing and the list of equivalent differences there); both
backends load it.

Task, as in the source:
  * start: x ~ U[-0.29, -0.15], y ~ U[0.15, 0.29] (the top-left room), at rest. The
    source draws these from numpy's global generator; we draw them from the episode's
    key / the task's RandomState so that episodes are reproducible (same distribution);
  * reward: near_target * small_control, where
      near_target   = rewards.tolerance(|mass - target|, bounds=(0, r), margin=r), r = 0.015 m
                      the target's radius (gaussian sigmoid, 0.1 at 2r from the target's centre),
      small_control = (4 + mean_i rewards.tolerance(ctrl_i, margin=1, value_at_margin=0,
                      sigmoid="quadratic")) / 5 = (4 + mean_i (1 - ctrl_i^2)) / 5, in [0.8, 1];
    the distance is between the centres of the mass and target geoms (both at z = 0.01 m).
    The reward is sparse: it is below 1e-4 further than 0.045 m from the target's centre;
  * observation: position (x, y) then velocity (vx, vy), dm_control's physics.position()
    and physics.velocity() in that key order;
  * no termination; the time limit is 20 s, 1000 control steps of 0.02 s (one physics step
    each), i.e. the 500 agent steps at action repeat 2 of the DMC suite.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import pathlib

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from dm_control import mujoco as dm_mujoco
from dm_control.rl import control
from dm_control.suite import base
from dm_control.suite import common as suite_common
from dm_control.utils import rewards
from mujoco import mjx

from envs.core import JaxEnv
from envs.dmc_rewards import tolerance
from envs.mjx_ports import common
from envs.registry import TaskEntry

XML_PATH = pathlib.Path(__file__).resolve().parent.parent / "assets" / "point_mass_maze.xml"
TIME_LIMIT = 20  # seconds: 1000 control steps, like every dm_control suite task
CONTROL_TIMESTEP = 0.02  # the source leaves dm_control's default: one physics step of 0.02 s
START_REGION = (-0.29, -0.15, 0.15, 0.29)  # (xmin, xmax, ymin, ymax) of the uniform start
# Control-cost factor: (SMALL_CONTROL_WEIGHT + mean control reward) / (SMALL_CONTROL_WEIGHT + 1).
SMALL_CONTROL_WEIGHT = 4.0
# Camera the vision observations are rendered from (dm_control host backend reads this):
# the source's camera 0, straight above the arena, which URLB and DreamerV3 render.
VISION_CAMERA = "top"
MASS_GEOM, TARGET_GEOM = "pointmass", "target"
OUTER_WALLS = ("wall_left", "wall_right", "wall_bottom", "wall_top")
# Inward normal each outer wall plane must have.
_OUTER_NORMALS = {"wall_left": (1, 0, 0), "wall_right": (-1, 0, 0), "wall_bottom": (0, 1, 0), "wall_top": (0, -1, 0)}
OUTER_WALL_DRAWN_WIDTH = 0.02  # planes have no thickness; the layout draws them as strips this wide
OBS_SIZE = 4


def model_xml() -> str:
    return XML_PATH.read_text()


@functools.lru_cache(maxsize=1)
def load_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(model_xml(), suite_common.ASSETS)


def start_bounds() -> tuple[np.ndarray, np.ndarray]:
    """(low, high) corners of the uniform start region, as (x, y) arrays."""
    xmin, xmax, ymin, ymax = START_REGION
    return np.array([xmin, ymin]), np.array([xmax, ymax])


def small_control_factor(control_reward):
    """The source's control factor from the mean quadratic control reward (works on numpy and JAX)."""
    return (SMALL_CONTROL_WEIGHT + control_reward) / (SMALL_CONTROL_WEIGHT + 1.0)


# ---------------------------------------------------------------------------
# Layout (read from the model's wall geoms) and discretisation for visitation maps.


@dataclasses.dataclass(frozen=True)
class MazeLayout:
    """Geometry of the maze in world metres; rectangles are (xmin, xmax, ymin, ymax)."""

    arena: tuple[float, float, float, float]  # free space inside the outer walls
    walls: tuple[tuple[float, float, float, float], ...]  # interior walls
    outer_walls: tuple[tuple[float, float, float, float], ...]  # strips drawn outside the arena
    start: tuple[float, float]  # centre of start_region (where maps mark the start)
    start_region: tuple[float, float, float, float]  # the mass's centre starts uniformly in here
    goal: tuple[float, float]
    goal_radius: float
    mass_radius: float


@functools.lru_cache(maxsize=1)
def maze_layout() -> MazeLayout:
    """Wall rectangles, arena bounds, start and goal of the maze, read from the model."""
    model = load_model()
    walls = []
    for geom in range(model.ngeom):
        if model.geom_type[geom] != mujoco.mjtGeom.mjGEOM_BOX:
            continue
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, geom) or f"geom {geom}"
        if not np.allclose(model.geom_quat[geom], [1, 0, 0, 0]):
            raise ValueError(f"maze wall {name!r} must be an axis-aligned box")
        (cx, cy, _), (hx, hy, _) = model.geom_pos[geom], model.geom_size[geom]
        walls.append(tuple(float(v) for v in (cx - hx, cx + hx, cy - hy, cy + hy)))
    edge = {}
    for name, normal in _OUTER_NORMALS.items():
        geom = _geom_id(model, name)
        plane_normal = np.zeros(3)
        mujoco.mju_rotVecQuat(plane_normal, np.array([0.0, 0.0, 1.0]), model.geom_quat[geom])
        if model.geom_type[geom] != mujoco.mjtGeom.mjGEOM_PLANE or not np.allclose(plane_normal, normal, atol=1e-9):
            raise ValueError(f"maze outer wall {name!r} must be a plane with inward normal {normal}")
        edge[name] = float(model.geom_pos[geom, 0 if normal[0] else 1])
    xmin, xmax, ymin, ymax = (edge[n] for n in OUTER_WALLS)
    w = OUTER_WALL_DRAWN_WIDTH
    outer = (
        (xmin - w, xmin, ymin - w, ymax + w),
        (xmax, xmax + w, ymin - w, ymax + w),
        (xmin - w, xmax + w, ymin - w, ymin),
        (xmin - w, xmax + w, ymax, ymax + w),
    )
    target = _geom_id(model, TARGET_GEOM)
    sxmin, sxmax, symin, symax = START_REGION
    return MazeLayout(
        arena=(xmin, xmax, ymin, ymax),
        walls=tuple(walls),
        outer_walls=outer,
        start=((sxmin + sxmax) / 2, (symin + symax) / 2),
        start_region=START_REGION,
        goal=tuple(float(v) for v in model.geom_pos[target, :2]),
        goal_radius=float(model.geom_size[target, 0]),
        mass_radius=float(model.geom_size[_geom_id(model, MASS_GEOM), 0]),
    )


def discretize_position(xy, bins: int):
    """Grid cell (ix, iy) of each position on a `bins` x `bins` grid over the arena.

    `xy` has shape (..., 2) (numpy or JAX); returns int32 of the same shape, with
    ix counted from the left wall and iy from the bottom wall. Positions on or
    beyond the arena edge fall into the border cells.
    """
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    xp = jnp if isinstance(xy, jax.Array) else np
    xy = xp.asarray(xy)
    if xy.shape[-1:] != (2,):
        raise ValueError(f"positions must have a trailing axis of size 2, got shape {xy.shape}")
    xmin, xmax, ymin, ymax = maze_layout().arena
    low, size = xp.asarray([xmin, ymin]), xp.asarray([xmax - xmin, ymax - ymin])
    cells = xp.floor((xy - low) / size * bins)
    return xp.clip(cells, 0, bins - 1).astype(xp.int32)


def _geom_id(model: mujoco.MjModel, name: str) -> int:
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
    if index < 0:
        raise KeyError(f"maze model has no geom named {name!r}")
    return index


# ---------------------------------------------------------------------------
# dm_control twin.


class Physics(dm_mujoco.Physics):
    """Point-mass maze physics: the mass's planar position and velocity, its distance to the target."""

    def position(self) -> np.ndarray:
        return self.data.qpos[:2].copy()

    def velocity(self) -> np.ndarray:
        return self.data.qvel[:2].copy()

    def mass_to_target_distance(self) -> float:
        geom_xpos = self.named.data.geom_xpos
        return float(np.linalg.norm(geom_xpos[TARGET_GEOM] - geom_xpos[MASS_GEOM]))


class ReachBottomRight(base.Task):
    """URLB/ExORL reach_bottom_right: from the top-left room to the target in the bottom-right one."""

    def initialize_episode(self, physics: Physics) -> None:
        low, high = start_bounds()
        physics.data.qpos[:2] = self.random.uniform(low, high)
        physics.data.qvel[:] = 0.0
        super().initialize_episode(physics)

    def get_observation(self, physics: Physics) -> collections.OrderedDict:
        obs = collections.OrderedDict()
        obs["position"] = physics.position()
        obs["velocity"] = physics.velocity()
        return obs

    def get_reward(self, physics: Physics) -> float:
        radius = physics.named.model.geom_size[TARGET_GEOM, 0]
        near_target = rewards.tolerance(physics.mass_to_target_distance(), bounds=(0.0, radius), margin=radius)
        control_reward = rewards.tolerance(physics.control(), margin=1, value_at_margin=0, sigmoid="quadratic").mean()
        return float(near_target * small_control_factor(control_reward))


def make_dm_control_env(random_state, environment_kwargs=None) -> control.Environment:
    """dm_control Environment of the maze task (same XML, reward, observation, start).

    `environment_kwargs` go to `control.Environment` (e.g. `time_limit`, `flat_observation`).
    """
    kwargs = dict(environment_kwargs or {})
    time_limit = kwargs.pop("time_limit", TIME_LIMIT)
    physics = Physics.from_xml_string(model_xml(), suite_common.ASSETS)
    task = ReachBottomRight(random=random_state)
    return control.Environment(
        physics, task, time_limit=time_limit, control_timestep=CONTROL_TIMESTEP, **kwargs
    )


# ---------------------------------------------------------------------------
# MJX port.


class PointMassMaze:
    """The MJX model and the pure functions of the raw maze env."""

    def __init__(self):
        self.mj_model = load_model()
        self.model = mjx.put_model(self.mj_model)
        self.n_sub_steps = common.n_sub_steps(CONTROL_TIMESTEP, float(self.mj_model.opt.timestep))
        self.ctrl_low, self.ctrl_high = common.ctrl_bounds(self.mj_model)
        self.mass_geom = _geom_id(self.mj_model, MASS_GEOM)
        self.target_geom = _geom_id(self.mj_model, TARGET_GEOM)
        self.target_radius = float(self.mj_model.geom_size[self.target_geom, 0])

    @common.full_precision
    def initial_data(self, key: jax.Array) -> mjx.Data:
        low, high = start_bounds()
        start = jax.random.uniform(key, (2,), minval=low, maxval=high)
        data = mjx.make_data(self.model)
        data = data.replace(qpos=data.qpos.at[:2].set(start))
        # Observation and reward read qpos/qvel and geom positions, and every mjx.step starts
        # with a full forward pass, so kinematics is all reset needs; skipping the constraint
        # solver here keeps compile time and per-step cost down.
        return mjx.kinematics(self.model, data)

    def step_data(self, data: mjx.Data, action: jax.Array) -> mjx.Data:
        ctrl = common.scale_action(action, self.ctrl_low, self.ctrl_high)
        return common.advance(self.model, data, ctrl, self.n_sub_steps)

    def observe(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate([data.qpos[:2], data.qvel[:2]]).astype(jnp.float32)

    def reward(self, data: mjx.Data) -> jax.Array:
        distance = jnp.linalg.norm(data.geom_xpos[self.target_geom] - data.geom_xpos[self.mass_geom])
        near_target = tolerance(distance, bounds=(0.0, self.target_radius), margin=self.target_radius)
        control_reward = tolerance(data.ctrl, margin=1.0, value_at_margin=0.0, sigmoid="quadratic").mean()
        return (near_target * small_control_factor(control_reward)).astype(jnp.float32)


def make_raw(entry: TaskEntry) -> JaxEnv:
    """Raw MJX point-mass maze: one step = one 0.02 s control step."""
    if entry.task != "point_mass_maze" or entry.obs_kind != "proprio":
        raise ValueError(f"envs.mjx_ports.point_mass_maze serves dmc/point_mass_maze-proprio, not {entry.name!r}")
    return common.jax_env_from_simulator(entry, PointMassMaze(), OBS_SIZE)
