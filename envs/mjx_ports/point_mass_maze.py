"""Point-mass maze (the paper's toy task) in MJX, plus its dm_control twin.

Model: envs/assets/point_mass_maze.xml (see the drawing there): a 2-DoF point
mass with dm_control point_mass's mass, damping and motor gear, in a 0.8 m
square arena with two interior walls. Both backends load that one file.

Task "reach bottom-right" (after URLB's point_mass_maze, Yarats et al. 2022):
  * start: top-left, START +- uniform jitter of START_JITTER per axis, at rest;
  * reward: dm_control `rewards.tolerance(distance to goal, bounds=(0, goal radius),
    margin=REWARD_MARGIN)` with the default gaussian sigmoid; REWARD_MARGIN is the
    arena's half-width (0.4 m), so the reward is 1 on the goal, 0.1 at 0.4 m
    beyond its rim, and ~0 at the start. No control cost.
  * observation: position (x, y) and velocity (vx, vy), dm_control point_mass's order;
  * no termination: the episode runs its 1000 control steps (the 500-agent-step limit
    of the DMC suite), so time spent on the goal is what the return measures, as in
    every other DMC task;
  * control timestep 0.02 s (dm_control point_mass's), as 4 physics steps of 0.005 s
    so that wall contacts stay stiff.
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
CONTROL_TIMESTEP = 0.02
START = (-0.3, 0.3)
START_JITTER = 0.02
REWARD_MARGIN = 0.4
# Camera the vision observations are rendered from (dm_control host backend reads this).
VISION_CAMERA = "top"
WALL_CLASS = "wall"
OBS_SIZE = 4


def model_xml() -> str:
    return XML_PATH.read_text()


@functools.lru_cache(maxsize=1)
def load_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(model_xml(), suite_common.ASSETS)


# ---------------------------------------------------------------------------
# Layout (read from the XML's wall boxes) and discretisation for visitation maps.


@dataclasses.dataclass(frozen=True)
class MazeLayout:
    """Geometry of the maze in world metres; rectangles are (xmin, xmax, ymin, ymax)."""

    arena: tuple[float, float, float, float]  # free space inside the outer walls
    walls: tuple[tuple[float, float, float, float], ...]  # interior walls
    outer_walls: tuple[tuple[float, float, float, float], ...]
    start: tuple[float, float]
    goal: tuple[float, float]
    goal_radius: float
    mass_radius: float


@functools.lru_cache(maxsize=1)
def maze_layout() -> MazeLayout:
    """Wall rectangles, arena bounds, start and goal of the maze, read from the model."""
    model = load_model()
    rects, names = [], []
    for geom in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, geom) or ""
        if model.geom_type[geom] != mujoco.mjtGeom.mjGEOM_BOX or geom == _geom_id(model, "floor"):
            continue
        if not np.allclose(model.geom_quat[geom], [1, 0, 0, 0]):
            raise ValueError(f"maze wall {name!r} must be an axis-aligned box")
        (cx, cy, _), (hx, hy, _) = model.geom_pos[geom], model.geom_size[geom]
        rects.append(tuple(float(v) for v in (cx - hx, cx + hx, cy - hy, cy + hy)))
        names.append(name)
    outer = {n: r for n, r in zip(names, rects) if n.startswith("wall_")}
    if set(outer) != {"wall_left", "wall_right", "wall_bottom", "wall_top"}:
        raise ValueError(f"maze model needs walls wall_left/right/bottom/top, found {sorted(outer)}")
    arena = (outer["wall_left"][1], outer["wall_right"][0], outer["wall_bottom"][3], outer["wall_top"][2])
    goal_site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "goal")
    return MazeLayout(
        arena=tuple(float(v) for v in arena),
        walls=tuple(r for n, r in zip(names, rects) if n not in outer),
        outer_walls=tuple(outer[n] for n in ("wall_left", "wall_right", "wall_bottom", "wall_top")),
        start=START,
        goal=tuple(float(v) for v in model.site_pos[goal_site, :2]),
        goal_radius=float(model.site_size[goal_site, 0]),
        mass_radius=float(model.geom_size[_geom_id(model, "pointmass"), 0]),
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
    """Point-mass maze physics: the mass's planar position and velocity."""

    def position(self) -> np.ndarray:
        return self.data.qpos[:2].copy()

    def velocity(self) -> np.ndarray:
        return self.data.qvel[:2].copy()

    def goal_distance(self) -> float:
        goal = self.named.model.site_pos["goal", :2]
        return float(np.linalg.norm(self.data.qpos[:2] - goal))


class ReachBottomRight(base.Task):
    """Reach the goal at the bottom-right from the top-left corner."""

    def initialize_episode(self, physics: Physics) -> None:
        physics.data.qpos[:2] = np.asarray(START) + self.random.uniform(-START_JITTER, START_JITTER, size=2)
        physics.data.qvel[:] = 0.0
        super().initialize_episode(physics)

    def get_observation(self, physics: Physics) -> collections.OrderedDict:
        obs = collections.OrderedDict()
        obs["position"] = physics.position()
        obs["velocity"] = physics.velocity()
        return obs

    def get_reward(self, physics: Physics) -> float:
        goal_radius = physics.named.model.site_size["goal", 0]
        return rewards.tolerance(physics.goal_distance(), bounds=(0.0, goal_radius), margin=REWARD_MARGIN)


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
        layout = maze_layout()
        self.goal = np.asarray(layout.goal, np.float32)
        self.goal_radius = layout.goal_radius

    @common.full_precision
    def initial_data(self, key: jax.Array) -> mjx.Data:
        jitter = jax.random.uniform(key, (2,), minval=-START_JITTER, maxval=START_JITTER)
        data = mjx.make_data(self.model)
        data = data.replace(qpos=data.qpos.at[:2].set(jnp.asarray(START) + jitter))
        # Observation and reward read only qpos/qvel and every mjx.step starts with a full
        # forward pass, so positions (for anyone inspecting the data) are all reset needs;
        # skipping the constraint solver here keeps compile time and per-step cost down.
        return mjx.kinematics(self.model, data)

    def step_data(self, data: mjx.Data, action: jax.Array) -> mjx.Data:
        ctrl = common.scale_action(action, self.ctrl_low, self.ctrl_high)
        return common.advance(self.model, data, ctrl, self.n_sub_steps)

    def observe(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate([data.qpos[:2], data.qvel[:2]]).astype(jnp.float32)

    def reward(self, data: mjx.Data) -> jax.Array:
        distance = jnp.linalg.norm(data.qpos[:2] - self.goal)
        near = tolerance(distance, bounds=(0.0, self.goal_radius), margin=REWARD_MARGIN)
        return near.astype(jnp.float32)


def make_raw(entry: TaskEntry) -> JaxEnv:
    """Raw MJX point-mass maze: one step = one 0.02 s control step."""
    if entry.task != "point_mass_maze" or entry.obs_kind != "proprio":
        raise ValueError(f"envs.mjx_ports.point_mass_maze serves dmc/point_mass_maze-proprio, not {entry.name!r}")
    return common.jax_env_from_simulator(entry, PointMassMaze(), OBS_SIZE)
