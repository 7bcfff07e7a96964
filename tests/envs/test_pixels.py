"""The ray caster on tiny scenes with known geometry, its transformations, and MuJoCo's own frames.

Every scene here is a small MJCF compiled in milliseconds; the camera looks along -z from
the origin unless said otherwise, so a pixel's ray is known in closed form.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from envs import wrappers
from envs.core import EnvState, JaxEnv, first_state
from envs.pixels import pose as posing
from envs.pixels import raycast
from envs.pixels.scene import Scene
from envs.spec import ActionSpec, EnvSpec

SIZE = 32
# Flat lighting: only the headlight's ambient term, so a pixel's colour is its surface colour.
FLAT = '<visual><headlight ambient="1 1 1" diffuse="0 0 0" specular="0 0 0"/></visual>'
_GEOM, _OBJ_GEOM = 5, int(mujoco.mjtObj.mjOBJ_GEOM)


def compile_scene(body: str, assets: str = "", visual: str = FLAT, camera: str = '<camera name="eye" pos="0 0 0"/>'):
    if "joint" not in body:  # MJX needs a degree of freedom: a hidden (group 3) slider far away
        body += '<body pos="0 0 100"><joint type="slide"/><geom size="0.01" group="3"/></body>'
    # The extent sets the clip range (znear, zfar times the extent), as in MuJoCo's renderer.
    xml = f"<mujoco><statistic extent='10'/>{visual}<asset>{assets}</asset><worldbody>{camera}{body}</worldbody></mujoco>"
    model = mujoco.MjModel.from_xml_string(xml)
    return model, Scene.from_model(model, "eye", SIZE), mjx.put_model(model, impl="jax")


def frame(model, scene, mjx_model, qpos=None, render=raycast.render):
    data = mjx.make_data(model, impl="jax")
    if qpos is not None:
        data = data.replace(qpos=jnp.asarray(qpos, jnp.float32))
    draw = jax.jit(lambda data: render(scene, posing.scene_pose(scene, posing.positioned(mjx_model, data))))
    return np.asarray(draw(data))


def pixel_rays(fovy_degrees: float = 45.0) -> np.ndarray:
    """Unit ray directions (SIZE, SIZE, 3) of a camera at the origin looking along -z, row 0 at the top."""
    half = np.tan(np.deg2rad(fovy_degrees) / 2)
    coords = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1
    x, y = np.meshgrid(coords * half, -coords * half)
    rays = np.stack([x, y, -np.ones_like(x)], -1)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def test_a_sphere_covers_exactly_the_pixels_whose_rays_pass_within_its_radius():
    centre, radius = np.array([0.1, -0.05, -2.0]), 0.4
    model, scene, mjx_model = compile_scene(f'<geom type="sphere" pos="{" ".join(map(str, centre))}" size="{radius}" rgba="1 0 0 1"/>')
    segmentation = frame(model, scene, mjx_model, render=raycast.segmentation)
    rays = pixel_rays()
    miss_distance = np.linalg.norm(np.cross(rays, centre), axis=-1)  # distance from the centre to each ray's line
    clear = np.abs(miss_distance - radius) > 1e-4  # pixels not grazing the silhouette
    expected = miss_distance < radius
    assert 0.05 < expected.mean() < 0.6  # the test scene really has both cases
    np.testing.assert_array_equal((segmentation[..., 0] == 0)[clear], expected[clear])
    np.testing.assert_array_equal(segmentation[~expected & clear], -1)
    assert np.all(segmentation[expected & clear] == [0, _OBJ_GEOM])
    pixels = frame(model, scene, mjx_model)
    np.testing.assert_array_equal(pixels[expected & clear], [[255, 0, 0]] * int((expected & clear).sum()))


def test_the_nearer_geom_hides_the_farther_one_whatever_their_order_in_the_model():
    near = '<geom name="near" type="box" pos="0 0 -1" size="0.1 0.1 0.1" rgba="0 1 0 1"/>'
    far = '<geom name="far" type="box" pos="0 0 -3" size="2 2 0.1" rgba="0 0 1 1"/>'
    for body in (near + far, far + near):
        model, scene, mjx_model = compile_scene(body)
        near_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "near")
        ids = frame(model, scene, mjx_model, render=raycast.segmentation)[..., 0]
        centre = ids[SIZE // 2 - 2 : SIZE // 2 + 2, SIZE // 2 - 2 : SIZE // 2 + 2]
        assert np.all(centre == near_id)
        assert np.any(ids == 1 - near_id) and np.all(ids >= 0)  # the far box fills the rest of the view
        colours = frame(model, scene, mjx_model)
        np.testing.assert_array_equal(colours[SIZE // 2, SIZE // 2], [0, 255, 0])


def mujoco_frame(model, segmentation=False, qpos=None):
    """MuJoCo's own OpenGL frame of the camera "eye" (EGL), or skip where no OpenGL context exists."""
    data = mujoco.MjData(model)
    if qpos is not None:
        data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    try:
        renderer = mujoco.Renderer(model, SIZE, SIZE)
    except Exception as error:  # noqa: BLE001 -- no OpenGL context on this machine
        pytest.skip(f"MuJoCo's renderer is unavailable here: {error}")
    with renderer:
        if segmentation:
            renderer.enable_segmentation_rendering()
        renderer.update_scene(data, camera="eye")
        return renderer.render()


def test_the_floors_checker_texture_lies_where_mujoco_puts_it():
    """A 3.4 m x 1.2 m textured plane seen from 2 m above: texuniform gives texrepeat images per 2 m,
    anchored at the plane's (-x, +y) corner with rows running along -y (as MuJoCo draws it)."""
    assets = ('<texture name="checker" type="2d" builtin="checker" rgb1="1 0 0" rgb2="0 0 1" width="64" height="64"/>'
              '<material name="floor" texture="checker" texrepeat="2 2" texuniform="true"/>')
    camera = '<camera name="eye" pos="0 0 2" fovy="53.13010235415598"/>'  # tan(fovy/2) = 0.5: the view spans 2 m
    model, scene, mjx_model = compile_scene('<geom type="plane" size="1.7 0.6 0.1" material="floor"/>', assets, camera=camera)
    pixels = frame(model, scene, mjx_model)
    reference = mujoco_frame(model)
    world = (np.arange(SIZE) + 0.5) / SIZE * 2 - 1  # x of each column; y of row r is -world[r]
    checked = 0
    for row in range(SIZE):
        for col in range(SIZE):
            x, y = world[col], -world[row]
            u, v = (x + 1.7) * 1.0, (0.6 - y) * 1.0  # images per metre: texrepeat / 2
            if abs(y) > 0.55 or min(abs(u * 2 - round(u * 2)), abs(v * 2 - round(v * 2))) < 0.1:
                continue  # off the plane or too close to a square's edge for a 32-pixel frame
            first_column, first_row = (u % 1) < 0.5, (v % 1) < 0.5
            expected = [255, 0, 0] if first_column == first_row else [0, 0, 255]  # rgb1 on the diagonal
            np.testing.assert_array_equal(pixels[row, col], expected, err_msg=f"pixel ({row}, {col})")
            np.testing.assert_allclose(reference[row, col], expected, atol=2, err_msg=f"MuJoCo's pixel ({row}, {col})")
            checked += 1
    assert checked > 100


def test_lambert_shading_of_a_plane_facing_a_directional_light():
    visual = '<visual><headlight ambient="0 0 0" diffuse="0 0 0" specular="0 0 0"/></visual>'
    light = '<light directional="true" dir="0 -0.6 -0.8" diffuse="1 1 1" specular="0 0 0"/>'
    camera = '<camera name="eye" pos="0 0 1"/>'
    model, scene, mjx_model = compile_scene(light + '<geom type="plane" size="5 5 0.1" rgba="1 0.5 0.25 1"/>', visual=visual, camera=camera)
    pixels = frame(model, scene, mjx_model)
    expected = np.round(np.array([1.0, 0.5, 0.25]) * 0.8 * 255)  # n.l = 0.8
    np.testing.assert_allclose(pixels.reshape(-1, 3), np.broadcast_to(expected, (SIZE * SIZE, 3)), atol=1)


PRIMITIVES = """
<geom type="plane" size="3 3 0.1" pos="0 0 -2.5" rgba="0.5 0.5 0.5 1"/>
<body pos="0 0 -2"><joint type="free"/>
  <geom type="capsule" size="0.1 0.3" pos="-0.5 0.3 0" euler="30 40 0" rgba="1 0 0 1"/>
  <geom type="cylinder" size="0.15 0.2" pos="0.4 0.3 0" euler="60 0 20" rgba="0 1 0 1"/>
  <geom type="box" size="0.2 0.1 0.15" pos="-0.4 -0.4 0" euler="10 20 30" rgba="0 0 1 1"/>
  <geom type="ellipsoid" size="0.3 0.15 0.2" pos="0.4 -0.4 0" euler="0 30 45" rgba="1 1 0 1"/>
  <geom type="sphere" size="0.12" pos="0 0 0.2" rgba="0 1 1 1"/>
</body>"""


def test_every_primitive_matches_mujocos_own_segmentation():
    """Against MuJoCo's OpenGL renderer (EGL): the same objects at >= 97% of pixels (edges differ by rasterisation)."""
    model, scene, mjx_model = compile_scene(PRIMITIVES)
    ours = frame(model, scene, mjx_model, render=raycast.segmentation)
    reference = mujoco_frame(model, segmentation=True)
    assert set(np.unique(ours[..., 0])) == set(np.unique(reference[..., 0]))  # every primitive is drawn
    assert np.mean(np.all(ours == reference, axis=-1)) >= 0.97


def test_batched_jitted_and_scanned_frames_equal_single_frames():
    model, scene, mjx_model = compile_scene(PRIMITIVES)
    qpos0 = np.asarray(model.qpos0, np.float32)
    poses = np.stack([qpos0 + np.r_[0.05 * k, -0.03 * k, 0.02 * k, 0, 0, 0, 0] for k in range(3)])
    poses[:, 3:] = [1, 0, 0, 0]
    data = mjx.make_data(model, impl="jax")

    def draw(qpos):
        return raycast.render(scene, posing.scene_pose(scene, posing.positioned(mjx_model, data.replace(qpos=qpos))))

    singles = np.stack([np.asarray(jax.jit(draw)(jnp.asarray(q))) for q in poses])
    assert len({s.tobytes() for s in singles}) == 3  # the poses really differ
    batched = np.asarray(jax.jit(jax.vmap(draw))(jnp.asarray(poses)))
    nested = np.asarray(jax.jit(jax.vmap(jax.vmap(draw)))(jnp.asarray(poses)[None]))[0]
    scanned = np.asarray(jax.jit(lambda qs: jax.lax.scan(lambda c, q: (c, draw(q)), 0, qs)[1])(jnp.asarray(poses)))
    for other in (batched, nested, scanned):
        np.testing.assert_array_equal(other, singles)


def test_unsupported_and_bad_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="no camera named 'nope'"):
        Scene.from_model(mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size="1"/></worldbody></mujoco>'), "nope", 8)
    hfield = ('<mujoco><asset><hfield name="h" nrow="2" ncol="2" size="1 1 1 1"/></asset><worldbody>'
              '<camera name="eye"/><geom type="hfield" hfield="h"/></worldbody></mujoco>')
    with pytest.raises(ValueError, match="visible hfield"):
        Scene.from_model(mujoco.MjModel.from_xml_string(hfield), "eye", 8)


def _counting_env():
    """A toy env whose observation is `observe(state)`: 10 x the number of frames stepped."""
    spec = EnvSpec(name="toy", obs_shape=(), obs_dtype=np.float32, action=ActionSpec(kind="discrete", num_actions=2),
                   episode_length=100, action_repeat=1)

    def observe(state):
        return 10.0 * state.backend

    def reset(key):
        return first_state(jnp.zeros(()), key, jnp.zeros(()))

    def step_unobserved(state: EnvState, action) -> EnvState:
        return state.replace(backend=state.backend + 1, reward=jnp.ones(()), is_first=jnp.zeros((), bool))

    def step(state, action):
        stepped = step_unobserved(state, action)
        return stepped.replace(obs=observe(stepped))

    return JaxEnv(spec=spec, reset=reset, step=step, step_unobserved=step_unobserved, observe=observe)


def test_action_repeat_observes_only_the_last_frame_and_agrees_with_observing_every_frame():
    env = _counting_env()
    calls = []
    counted = env.replace(observe=lambda s: calls.append(1) or env.observe(s))
    repeated = wrappers.action_repeat(counted, 3)
    everywhere = wrappers.action_repeat(env.replace(observe=None, step_unobserved=None), 3)
    state = jax.jit(repeated.step)(env.reset(jax.random.PRNGKey(0)), 0)
    assert len(calls) == 1  # traced once: the scan's frames are not observed
    reference = everywhere.step(env.reset(jax.random.PRNGKey(0)), 0)
    assert float(state.obs) == float(reference.obs) == 30.0 and float(state.reward) == 3.0
