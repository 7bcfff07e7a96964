"""Where everything in a `Scene` is in one frame, computed from MJX data (pure JAX)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from envs.pixels.scene import FROM_GEOM, FROM_SEGMENT, FROM_SITE, Scene

_FIXED, _TRACK, _TRACKCOM = (int(m) for m in (mujoco.mjtCamLight.mjCAMLIGHT_FIXED, mujoco.mjtCamLight.mjCAMLIGHT_TRACK, mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM))


@struct.dataclass
class Pose:
    position: jax.Array  # (N, 3): each object's centre in the world
    rotation: jax.Array  # (N, 3, 3): local-to-world rotation (columns are the local axes)
    size: jax.Array  # (N, 3)
    camera_position: jax.Array  # (3,)
    camera_rotation: jax.Array  # (3, 3): MuJoCo's camera frame (x right, y up, looking along -z)
    light_position: jax.Array  # (L, 3)
    light_direction: jax.Array  # (L, 3), unit


def positioned(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """`data` with the position stage a frame needs: kinematics, centres of mass, cameras."""
    data = mjx.kinematics(model, data)
    data = mjx.com_pos(model, data)
    return mjx.camlight(model, data)


def scene_pose(scene: Scene, data: mjx.Data) -> Pose:
    """The pose of every object, the camera and the lights, from data after `positioned`."""
    index = scene.pose_index
    source = scene.pose_source
    position = jnp.zeros((scene.num_objects, 3))
    rotation = jnp.zeros((scene.num_objects, 3, 3))
    for kind, xpos, xmat in ((FROM_GEOM, data.geom_xpos, data.geom_xmat), (FROM_SITE, data.site_xpos, data.site_xmat)):
        members = np.flatnonzero(source == kind)
        if members.size:
            position = position.at[members].set(xpos[index[members, 0]])
            rotation = rotation.at[members].set(xmat[index[members, 0]])
    size = jnp.asarray(scene.size)
    segments = np.flatnonzero(source == FROM_SEGMENT)
    if segments.size:
        start, end = data.site_xpos[index[segments, 0]], data.site_xpos[index[segments, 1]]
        seg_pos, seg_rot, half_length = jax.vmap(_segment_frame)(start, end)
        position = position.at[segments].set(seg_pos)
        rotation = rotation.at[segments].set(seg_rot)
        size = size.at[segments, 1].set(half_length)
    light_position, light_direction = _lights(scene, data)
    return Pose(
        position=position,
        rotation=rotation,
        size=size,
        camera_position=data.cam_xpos[scene.camera],
        camera_rotation=data.cam_xmat[scene.camera],
        light_position=light_position,
        light_direction=light_direction,
    )


def _segment_frame(start: jax.Array, end: jax.Array):
    """A capsule's frame between two points: centre, a rotation whose z axis runs along it, half length."""
    axis = end - start
    length = jnp.linalg.norm(axis)
    z = jnp.where(length > 1e-9, axis / jnp.maximum(length, 1e-9), jnp.array([0.0, 0.0, 1.0]))
    helper = jnp.where(jnp.abs(z[0]) < 0.9, jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    x = jnp.cross(helper, z)
    x = x / jnp.linalg.norm(x)
    y = jnp.cross(z, x)
    return (start + end) / 2, jnp.stack([x, y, z], axis=1), length / 2


def _lights(scene: Scene, data: mjx.Data) -> tuple[jax.Array, jax.Array]:
    """MuJoCo's mj_camlight for lights: fixed lights ride their body, tracking lights keep their direction."""
    positions, directions = [], []
    for light in scene.lights:
        if light.mode == _TRACKCOM:
            position, direction = data.subtree_com[light.body] + light.pos, jnp.asarray(light.dir)
        elif light.mode == _TRACK:
            position, direction = data.xpos[light.body] + light.pos, jnp.asarray(light.dir)
        else:
            rotation = data.xmat[light.body]
            position, direction = data.xpos[light.body] + rotation @ light.pos, rotation @ light.dir
        positions.append(position)
        directions.append(direction / jnp.linalg.norm(direction))
    if not positions:
        return jnp.zeros((0, 3)), jnp.zeros((0, 3))
    return jnp.stack(positions), jnp.stack(directions)
