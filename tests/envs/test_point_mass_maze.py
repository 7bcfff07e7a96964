"""The URLB/ExORL point-mass maze (reach_bottom_right): MJX port vs dm_control twin, sparse
reward, start distribution, layout and model facts.

The expected numbers are the source's (custom_dmc_tasks/point_mass_maze.py and
point_mass_maze_reach_bottom_right.xml in github.com/denisyarats/exorl). MJX is compiled
once: a module-scoped `jit(vmap(rollout))` over one full episode (1000 control steps) whose
batch elements serve the different checks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from scipy import stats

import envs
from envs.mjx_ports import point_mass_maze
from tests.envs.test_mjx_ports import batched_rollout, dm_rollout, set_dm_state

TASK = "dmc/point_mass_maze-proprio"
STEPS = 1000  # one episode: 20 s of 0.02 s control steps
RANDOM_EPISODES = 8
TARGET = (0.15, -0.15)
# Batch elements: (key, placed start or None for the key's random start, actions).
CASES = {
    **{f"random_{i}": (100 + i, None, "random") for i in range(RANDOM_EPISODES)},
    "same_key_a": (1, None, "zero"),
    "same_key_b": (1, None, "zero"),
    "wander": (0, None, "wander"),
    "into_vertical": (3, (-0.1, 0.1), "right"),  # pushed right into the vertical wall
    "onto_horizontal": (3, (-0.1, 0.1), "down"),  # pushed down onto the horizontal wall
    "through_top_gap": (3, (-0.05, 0.24), "right"),  # the gap above the vertical wall is open
    "into_corner": (3, (-0.2, 0.2), "up_left"),  # joint limits and outer walls at the corner
    "at_target": (3, TARGET, "zero"),
    "pushing_at_target": (3, TARGET, "push"),
    "crossing_target": (3, (0.2, -0.15), "slow_left"),  # through the reward's whole profile
}
CONSTANT_ACTIONS = {
    "zero": (0.0, 0.0),
    "right": (1.0, 0.0),
    "down": (0.0, -1.0),
    "up_left": (-1.0, 1.0),
    "push": (0.6, -0.8),  # control reward mean(1 - 0.36, 1 - 0.64) = 0.5: factor (4 + 0.5) / 5 = 0.9
    "slow_left": (-0.5, 0.0),
}
PARITY_CASES = ("random_0", "wander", "into_vertical", "onto_horizontal", "through_top_gap", "into_corner",
                "pushing_at_target", "crossing_target")
UNIT_RANGE = (np.array([-1.0, -1.0]), np.array([1.0, 1.0]))  # the maze's ctrlrange is [-1, 1]


def case_actions(name: str, kind: str) -> np.ndarray:
    rng = np.random.RandomState(sum(map(ord, name)))
    if kind == "random":  # a uniform random agent at the DMC action repeat of 2
        return np.repeat(rng.uniform(-1, 1, (STEPS // 2, 2)), 2, axis=0).astype(np.float32)
    if kind == "wander":  # noisy drift towards the right, bouncing off walls, with control cost
        return np.clip(rng.normal([0.6, -0.3], 0.5, size=(STEPS, 2)), -1, 1).astype(np.float32)
    return np.tile(np.asarray(CONSTANT_ACTIONS[kind], np.float32), (STEPS, 1))


@pytest.fixture(scope="module")
def maze():
    env = point_mass_maze.make_raw(envs.get_task(TASK))
    names = list(CASES)
    keys = jnp.stack([jax.random.PRNGKey(CASES[n][0]) for n in names])
    actions = np.stack([case_actions(n, CASES[n][2]) for n in names])
    use_start = np.array([CASES[n][1] is not None for n in names])
    starts = np.array([CASES[n][1] or (0.0, 0.0) for n in names], np.float32)

    def reset_at(key, start, use):
        # Observation, reward and dynamics depend only on qpos/qvel (every step recomputes the
        # rest before and after integrating), so moving the mass after reset is a valid start.
        state = env.reset(key)
        qpos = jnp.where(use, start, state.backend.qpos)
        data = state.backend.replace(qpos=qpos)
        return state.replace(backend=data, obs=jnp.concatenate([qpos, data.qvel]))

    run = batched_rollout(env.replace(reset=lambda args: reset_at(*args)))
    args = (keys, jnp.asarray(starts), jnp.asarray(use_start))
    first, (obs, reward, terminated) = run(args, jnp.asarray(actions))
    again_first, (again_obs, again_reward, _) = run(args, jnp.asarray(actions))
    return dict(first_obs=np.asarray(first.obs), obs=np.asarray(obs), reward=np.asarray(reward),
                terminated=np.asarray(terminated), again=(np.asarray(again_first.obs), np.asarray(again_obs),
                                                          np.asarray(again_reward)),
                case={n: i for i, n in enumerate(names)}, actions=actions)


def test_rollout_is_deterministic_and_keyed(maze):
    c, first_obs = maze["case"], maze["first_obs"]
    again_first, again_obs, again_reward = maze["again"]
    np.testing.assert_array_equal(first_obs, again_first)
    np.testing.assert_array_equal(maze["obs"], again_obs)
    np.testing.assert_array_equal(maze["reward"], again_reward)
    np.testing.assert_array_equal(maze["obs"][c["same_key_a"]], maze["obs"][c["same_key_b"]])
    assert not np.array_equal(first_obs[c["random_0"]], first_obs[c["random_1"]])
    assert not maze["terminated"].any()
    assert maze["obs"].dtype == np.float32 and maze["reward"].dtype == np.float32


def test_mjx_matches_dm_control_twin(maze):
    """Same start state, same 1000 actions: MJX (float32) vs MuJoCo (float64).

    Free motion is a damped linear system, so float32 rounding is all that differs (observed
    < 6e-7 m in position); contacts with the walls and joint limits are soft constraints that
    both Newton solvers solve to their own tolerances (observed up to 7e-6 m in position and
    1.1e-5 m/s in velocity over an episode). Rewards differed by < 3e-6 (the gaussian's
    slope, up to 66 per metre near the target's rim, times the position error). The
    tolerances (1e-4 m or m/s, 3e-5 reward) are ~10x those; a port-side mistake (substeps,
    action scaling, distance, control cost, observation order) gives errors of 1e-3 or more.
    Both load one model, whose values test_model_has_the_source_physics checks.
    """
    c = maze["case"]
    dm_env = point_mass_maze.make_dm_control_env(np.random.RandomState(0))
    contact_steps = 0
    for name in PARITY_CASES:
        i = c[name]
        start = maze["first_obs"][i]
        np.testing.assert_allclose(set_dm_state(dm_env, start[:2], start[2:]), start, atol=1e-6)
        dm_obs, dm_reward = [], []
        for unit in maze["actions"][i]:
            obs, reward = dm_rollout(dm_env, unit[None], *UNIT_RANGE)
            dm_obs.append(obs[0]), dm_reward.append(reward[0])
            contact_steps += dm_env.physics.data.ncon > 0
        np.testing.assert_allclose(maze["obs"][i], np.stack(dm_obs), atol=1e-4, err_msg=name)
        np.testing.assert_allclose(maze["reward"][i], dm_reward, atol=3e-5, err_msg=name)
    assert contact_steps > 1000  # the comparison covered wall contacts


def test_walls_block_the_mass(maze):
    c, obs, layout = maze["case"], maze["obs"], point_mass_maze.maze_layout()
    horizontal, vertical = sorted(layout.walls, key=lambda w: w[1] - w[0], reverse=True)
    radius = layout.mass_radius
    # Pushed right it stops, and rests, at the vertical wall's left face (the soft contact
    # at 0.02 s steps lets it in by ~1 mm on impact, 0.06 mm at rest).
    x = obs[c["into_vertical"], :, 0]
    assert x.max() <= vertical[0] - radius + 2e-3 and x[-1] == pytest.approx(vertical[0] - radius, abs=2e-4)
    assert abs(obs[c["into_vertical"], -1, 2]) < 1e-4
    # Pushed down it lands on the horizontal wall.
    y = obs[c["onto_horizontal"], :, 1]
    assert y.min() >= horizontal[3] + radius - 2e-3 and y[-1] == pytest.approx(horizontal[3] + radius, abs=2e-4)
    # Above the vertical wall's end the way right is open, up to the joint limit at 0.29.
    x = obs[c["through_top_gap"], :, 0]
    assert x[-1] == pytest.approx(0.29, abs=2e-3) and obs[c["through_top_gap"], -1, 1] > vertical[3] + radius
    # The corner: joint limits (0.29) and outer walls (0.3 - radius) coincide.
    np.testing.assert_allclose(obs[c["into_corner"], -1, :2], [-0.29, 0.29], atol=2e-3)


def test_reward_is_sparse(maze):
    c, reward, obs = maze["case"], maze["reward"], maze["obs"]
    randoms = [c[f"random_{i}"] for i in range(RANDOM_EPISODES)]
    # A uniform random agent stays in the start room, far from the target: 8 full episodes
    # earn a mean reward below 1e-6 (a dense reward with a 0.4 m margin would pay ~0.03 there).
    assert reward[randoms].mean() < 1e-6
    assert np.linalg.norm(obs[randoms, :, :2] - np.asarray(TARGET), axis=-1).min() > 0.1
    # On the target: 1 without control, times (4 + mean(1 - ctrl^2)) / 5 with it.
    np.testing.assert_allclose(reward[c["at_target"]], 1.0)
    assert reward[c["pushing_at_target"], 0] == pytest.approx(0.9, abs=1e-6)
    # Crossing the target at constant speed: the control factor within the target's radius r,
    # then dm_control's gaussian, 0.1 ** (((d - r) / r) ** 2): 0.1 at d = 2r, 1e-4 at d = 3r.
    crossing = reward[c["crossing_target"]]
    distance = np.linalg.norm(obs[c["crossing_target"], :, :2] - np.asarray(TARGET), axis=-1)
    factor = 0.975  # (4 + control reward mean(1 - 0.25, 1)) / 5
    r = 0.015
    profile = np.where(distance <= r, 1.0, 0.1 ** (((distance - r) / r) ** 2))
    assert (distance < r).sum() >= 10 and distance.max() > 3 * r  # it went through and away
    np.testing.assert_allclose(crossing, factor * profile, atol=2e-5)
    assert crossing[distance > 0.045].max() < 1e-4


def dm_reset_obs(dm_env) -> np.ndarray:
    timestep = dm_env.reset()
    return np.concatenate([timestep.observation["position"], timestep.observation["velocity"]])


def test_start_distribution_matches_the_source():
    """x ~ U[-0.29, -0.15], y ~ U[0.15, 0.29], at rest, in the MJX port and in the twin."""
    env = point_mass_maze.make_raw(envs.get_task(TASK))
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)
    mjx_obs = np.asarray(jax.jit(jax.vmap(lambda k: env.reset(k).obs))(keys))
    dm_env = point_mass_maze.make_dm_control_env(np.random.RandomState(0))
    dm_obs = np.stack([dm_reset_obs(dm_env) for _ in range(300)])
    low, high = point_mass_maze.start_bounds()
    np.testing.assert_allclose([low, high], [[-0.29, 0.15], [-0.15, 0.29]])
    for obs in (mjx_obs, dm_obs):
        np.testing.assert_array_equal(obs[:, 2:], 0.0)
        assert np.all(obs[:, :2] >= low - 1e-7) and np.all(obs[:, :2] <= high + 1e-7)
        for axis in range(2):
            # Fixed seeds, so deterministic; a narrower range or a centred jitter gives p < 1e-10.
            assert stats.kstest(obs[:, axis], stats.uniform(low[axis], high[axis] - low[axis]).cdf).pvalue > 0.01
    assert point_mass_maze.maze_layout().start_region == (-0.29, -0.15, 0.15, 0.29)


def test_layout_is_the_source_maze_and_matches_the_model_collisions():
    layout = point_mass_maze.maze_layout()
    assert layout.arena == pytest.approx((-0.3, 0.3, -0.3, 0.3))
    np.testing.assert_allclose(sorted(layout.walls), [(-0.18, 0.18, -0.02, 0.02), (-0.02, 0.02, -0.18, 0.18)])
    assert layout.goal == pytest.approx(TARGET) and layout.goal_radius == pytest.approx(0.015)
    assert layout.mass_radius == pytest.approx(0.01) and layout.start == pytest.approx((-0.22, 0.22))
    # Outer wall strips (left, right, bottom, top) lie outside the arena, touching it.
    left, right, bottom, top = layout.outer_walls
    assert (left[1], right[0], bottom[3], top[2]) == pytest.approx(layout.arena)
    # MuJoCo reports a wall contact exactly where the layout puts the mass within its radius
    # of a wall (points within 1 mm of touching are skipped). The grid reaches past the joint
    # range (0.29) so that the outer walls are probed too.
    model = point_mass_maze.load_model()
    data = mujoco.MjData(model)
    grid = np.linspace(-0.298, 0.298, 61)
    rects = np.array(layout.walls)
    checked = 0
    for x in grid:
        for y in grid:
            gap_x = np.maximum(rects[:, 0] - x, x - rects[:, 1]).clip(0)
            gap_y = np.maximum(rects[:, 2] - y, y - rects[:, 3]).clip(0)
            gap = min(np.hypot(gap_x, gap_y).min(), 0.3 - abs(x), 0.3 - abs(y)) - layout.mass_radius
            if abs(gap) < 1e-3:
                continue
            data.qpos[:] = x, y
            mujoco.mj_forward(model, data)
            assert (data.ncon > 0) == (gap < 0), (x, y, gap)
            checked += 1
    assert checked > 3000


def test_model_has_the_source_physics():
    model = point_mass_maze.load_model()
    assert model.opt.timestep == pytest.approx(0.02) and model.opt.integrator == mujoco.mjtIntegrator.mjINT_EULER
    np.testing.assert_allclose(model.dof_damping, [1.0, 1.0])
    np.testing.assert_allclose(model.jnt_range, [[-0.29, 0.29], [-0.29, 0.29]])
    assert model.jnt_limited.all() and (model.jnt_type == mujoco.mjtJoint.mjJNT_SLIDE).all()
    np.testing.assert_allclose(model.actuator_gear[:, 0], [0.1, 0.1])
    np.testing.assert_allclose(model.actuator_ctrlrange, [[-1, 1], [-1, 1]])
    np.testing.assert_allclose(model.body_mass[1], 0.3)
    target = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "target")
    np.testing.assert_allclose(model.geom_pos[target], [0.15, -0.15, 0.01])
    # 1000 control steps of 0.02 s, one physics step each: 500 agent steps at action repeat 2.
    dm_env = point_mass_maze.make_dm_control_env(np.random.RandomState(0))
    assert dm_env._n_sub_steps == 1 and dm_env._step_limit == STEPS
    spec = envs.get_task(TASK).spec
    assert spec.episode_length * spec.action_repeat == STEPS
    assert list(dm_env.observation_spec()) == ["position", "velocity"]


def test_discretization():
    layout = point_mass_maze.maze_layout()
    bins = 30  # 0.02 m cells: the walls lie on cell borders
    points = np.array([[-0.21, 0.23], layout.goal, [-0.3, -0.3], [0.3, 0.3], [9.0, -9.0], [0.019, -0.021]])
    cells = point_mass_maze.discretize_position(points, bins)
    np.testing.assert_array_equal(cells, [[4, 26], [22, 7], [0, 0], [29, 29], [29, 0], [15, 13]])
    jax_cells = point_mass_maze.discretize_position(jnp.asarray(points[:2]), bins)
    np.testing.assert_array_equal(np.asarray(jax_cells), cells[:2])
    with pytest.raises(ValueError, match="trailing axis"):
        point_mass_maze.discretize_position(np.zeros((3, 3)), bins)
    with pytest.raises(ValueError, match="bins"):
        point_mass_maze.discretize_position(np.zeros((3, 2)), 0)


def test_twin_renders_mass_and_target_where_the_camera_sees_them():
    dm_env = point_mass_maze.make_dm_control_env(np.random.RandomState(0))
    dm_env.reset()
    physics = dm_env.physics
    image = physics.render(64, 64, camera_id=point_mass_maze.VISION_CAMERA).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    warm = (r > g + 30) & (r > b + 30)
    target_pixels = np.argwhere(warm & (np.abs(g - b) < 20))  # material "target": (.6, .3, .3)
    mass_pixels = np.argwhere(warm & (g > b + 40))  # material "self": (.7, .5, .3)
    assert len(target_pixels) >= 3 and len(mass_pixels) >= 1
    # Straight-down pinhole camera: pixel = 32 + 32 * (x, -y) / ((height - z) * tan(fovy / 2)).
    camera = physics.named.model
    half_width = (camera.cam_pos[point_mass_maze.VISION_CAMERA, 2] - 0.01) * np.tan(
        np.deg2rad(camera.cam_fovy[point_mass_maze.VISION_CAMERA]) / 2)

    def pixel(xy):  # (row, col) of the pixel centre, rows growing with -y
        return 32 + 32 * np.array([-xy[1], xy[0]]) / half_width - 0.5

    np.testing.assert_allclose(target_pixels.mean(0), pixel(TARGET), atol=1.0)
    np.testing.assert_allclose(mass_pixels.mean(0), pixel(physics.data.qpos[:2]), atol=1.5)
