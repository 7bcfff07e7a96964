"""The JAX backend of the `dmc/*-vision` tasks: the proprio task's physics, drawn by the ray caster.

Frames are drawn from dm_control's own compiled model of the task (its geoms, materials,
lights and the camera dm_control's pixels use; see `envs.dmc_host.vision_camera`), posed by
the simulation's `qpos`. Playground's models turn finger's and reacher's targets into mocap
bodies where dm_control moves a world geom or site each episode; `TARGETS` names those, and
they are drawn at the mocap position.
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from envs import dmc_host
from envs.core import EnvState, JaxEnv
from envs.pixels import pose as posing
from envs.pixels import raycast
from envs.pixels.scene import FROM_GEOM, FROM_SITE, Scene
from envs.registry import DMC_VISION_RENDERERS, TASKS, TaskEntry

# task -> (kind, name) of the dm_control object that Playground's mocap body "target" replaces.
TARGETS = {"reacher_hard": (FROM_GEOM, "target"), "finger_turn_hard": (FROM_SITE, "target")}
RENDERER = DMC_VISION_RENDERERS["jax"]
# Shadows double a frame's cost (a second ray per pixel and light) for 0.3-1 levels of colour
# error against dm_control (benchmarks/results/pixel_fidelity-cpu*.json): off by default.
SHADOWS = False


@dataclasses.dataclass(frozen=True)
class DmcRenderer:
    """Draws one task's frames from (qpos, mocap_pos); every method is pure JAX."""

    scene: Scene
    model: mjx.Model  # dm_control's model, pure-JAX MJX, used for kinematics only
    targets: tuple[tuple[int, int], ...]  # (scene object index, mocap row) drawn at a mocap position

    @classmethod
    @functools.lru_cache(maxsize=None)
    def for_task(cls, task: str, size: int, shadows: bool | None = None) -> "DmcRenderer":
        """The renderer of a `dmc_host.TASKS` task at size x size; `shadows` defaults to SHADOWS."""
        if task not in dmc_host.TASKS:
            raise KeyError(f"no DMC vision renderer for {task!r}; known: {', '.join(dmc_host.TASKS)}")
        environment = dmc_host.load_dm_control_env(task)
        environment.reset()  # tasks set some sizes at reset (reacher_hard's target radius 0.05 -> 0.015)
        model = copy.copy(environment.physics.model.ptr)
        environment.close()
        scene = Scene.from_model(model, dmc_host.vision_camera(task), size, SHADOWS if shadows is None else shadows)
        targets = ()
        if task in TARGETS:
            source, name = TARGETS[task]
            kind = mujoco.mjtObj.mjOBJ_GEOM if source == FROM_GEOM else mujoco.mjtObj.mjOBJ_SITE
            index = mujoco.mj_name2id(model, kind, name)
            rows = np.flatnonzero((scene.pose_source == source) & (scene.pose_index[:, 0] == index))
            if rows.size != 1:
                raise ValueError(f"{task}: the target {name!r} is not drawn by the scene")
            targets = ((int(rows[0]), 0),)  # Playground's only mocap body is the target
        return cls(scene=scene, model=mjx.put_model(model, impl="jax"), targets=targets)

    def pose(self, qpos: jax.Array, mocap_pos: jax.Array) -> posing.Pose:
        data = mjx.make_data(self.model, impl="jax").replace(qpos=jnp.asarray(qpos, jnp.float32))
        pose = posing.scene_pose(self.scene, posing.positioned(self.model, data))
        for obj, row in self.targets:
            pose = pose.replace(position=pose.position.at[obj].set(mocap_pos[row]))
        return pose

    def rgb(self, qpos: jax.Array, mocap_pos: jax.Array) -> jax.Array:
        return raycast.render(self.scene, self.pose(qpos, mocap_pos))

    def segmentation(self, qpos: jax.Array, mocap_pos: jax.Array) -> jax.Array:
        return raycast.segmentation(self.scene, self.pose(qpos, mocap_pos))

    def mocap_of(self, physics) -> np.ndarray:
        """The `mocap_pos` that draws a dm_control physics' targets where dm_control has them."""
        mocap = np.zeros((max([row for _, row in self.targets], default=-1) + 1, 3), np.float32)
        for obj, row in self.targets:
            source, index = self.scene.pose_source[obj], self.scene.pose_index[obj, 0]
            mocap[row] = (physics.data.geom_xpos if source == FROM_GEOM else physics.data.site_xpos)[index]
        return mocap


def make_raw(entry: TaskEntry) -> JaxEnv:
    """Raw env for `dmc/<task>-vision`: the proprio task's raw JAX env, observed as a 64x64 frame."""
    if entry.suite != "dmc" or entry.obs_kind != "vision":
        raise ValueError(f"{entry.name}: the ray-cast backend serves dmc/<task>-vision tasks only")
    proprio = TASKS[entry.name.replace("-vision", "-proprio")]
    physics_env = proprio.factory("jax")(proprio)
    renderer = DmcRenderer.for_task(entry.task, entry.settings.image_size)
    records_position = dict(entry.spec.recorded_info).get("position") == 2

    def observe(state: EnvState) -> jax.Array:
        backend = state.backend
        return renderer.rgb(backend.qpos, backend.mocap_pos)

    def with_info(state: EnvState) -> EnvState:
        # The vision maze records the point mass's planar position, as the host backend does.
        return state.replace(info={"position": state.backend.qpos[:2].astype(jnp.float32)}) if records_position else state

    def reset(key: jax.Array) -> EnvState:
        state = physics_env.reset(key)
        return with_info(state.replace(obs=observe(state)))

    def step_unobserved(state: EnvState, action: jax.Array) -> EnvState:
        return with_info(physics_env.step(state.replace(obs=None), action).replace(obs=state.obs))

    def step(state: EnvState, action: jax.Array) -> EnvState:
        stepped = step_unobserved(state, action)
        return stepped.replace(obs=observe(stepped))

    spec = physics_env.spec.replace(name=entry.name, obs_shape=entry.spec.obs_shape, obs_dtype=np.dtype(np.uint8),
                                    recorded_info=entry.spec.recorded_info)
    return JaxEnv(spec=spec, reset=reset, step=step, step_unobserved=step_unobserved, observe=observe)
