"""Pixels inside the jitted loop: a pure-JAX ray caster for MuJoCo scenes made of primitives.

`scene.Scene.from_model(mj_model, camera, size)` reads once, with numpy, what dm_control's
renderer would draw (visible geoms, sites and site-to-site tendons, materials, the floor's
texture, the skybox, the lights and the camera); `raycast.render(scene, pose)` draws a frame
from the pose of everything in it, computed by `pose.scene_pose` from an `mjx.Data`. All of it
is pure JAX: it runs under `jit`, `vmap` and `lax.scan` on CPU, GPU and TPU.

`dmc_vision.make_raw` turns it into the JAX backend of the nine `dmc/*-vision` tasks.
"""
