"""MJX ports (quadruped run, point-mass maze) against their dm_control twins.

Compiling MJX is the slow part on CPU, so each port is compiled exactly once:
a module-scoped `jit(vmap(rollout))` that resets from a key and scans the raw
env's `step`. Every test reads from that one batched rollout (batch elements
are set up for the different checks) or from the dm_control twin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_control.suite import quadruped as dm_quadruped
from dm_control.utils import rewards as dm_rewards

import envs
from envs.dmc_rewards import tolerance
from envs.mjx_ports import common, point_mass_maze, quadruped


def flat(observation) -> np.ndarray:
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in observation.values()])


def set_dm_state(dm_env, qpos, qvel, act=None):
    """Reset the twin, then overwrite its physics state (reset_context ends with mj_forward)."""
    dm_env.reset()
    physics = dm_env.physics
    with physics.reset_context():
        physics.data.qpos[:] = np.asarray(qpos, np.float64)
        physics.data.qvel[:] = np.asarray(qvel, np.float64)
        if act is not None:
            physics.data.act[:] = np.asarray(act, np.float64)
    return flat(dm_env.task.get_observation(physics))


def dm_rollout(dm_env, units, low, high):
    """Step the twin with protocol actions in [-1, 1] mapped onto ctrlrange like the ports do."""
    observations, rewards = [], []
    for unit in np.asarray(units, np.float64):
        timestep = dm_env.step(low + (unit + 1.0) * 0.5 * (high - low))
        observations.append(flat(timestep.observation))
        rewards.append(timestep.reward)
    return np.stack(observations), np.asarray(rewards)


def batched_rollout(env):
    """jit(vmap) of: reset, then `lax.scan` of the raw env's `step` over the actions."""

    def rollout(key, actions):
        first = env.reset(key)

        def body(state, action):
            state = env.step(state, action)
            return state, (state.obs, state.reward, state.terminated)

        _, traj = jax.lax.scan(body, first, actions)
        return first, traj

    return jax.jit(jax.vmap(rollout))


# ---------------------------------------------------------------------------
# The JAX tolerance is dm_control's.


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(bounds=(0.0, 0.03), margin=0.4),
        dict(bounds=(1.0, float("inf")), sigmoid="linear", margin=2.0, value_at_margin=0.0),
        dict(bounds=(5.0, float("inf")), margin=5.0, value_at_margin=0.5, sigmoid="linear"),
        dict(bounds=(-1.0, 2.0), margin=0.0),
    ],
)
def test_tolerance_matches_dm_control(kwargs):
    x = np.linspace(-12.0, 12.0, 241)
    expected = dm_rewards.tolerance(x, **kwargs)
    np.testing.assert_allclose(np.asarray(tolerance(jnp.asarray(x, jnp.float32), **kwargs)), expected, atol=1e-6)


def test_action_scaling_hits_ctrlrange_ends():
    low, high = np.array([-1.0, -0.8], np.float32), np.array([1.1, 0.8], np.float32)
    ctrl = np.asarray(common.scale_action(jnp.array([[-1.0, 1.0], [1.0, 0.0], [3.0, -3.0]]), low, high))
    np.testing.assert_allclose(ctrl, [[-1.0, 0.8], [1.1, 0.0], [1.1, -0.8]], atol=1e-6)
    np.testing.assert_allclose(common.unscale_action(ctrl[:2], low, high), [[-1.0, 1.0], [1.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("name", ["dmc/quadruped_run-proprio", "dmc/point_mass_maze-proprio"])
def test_spec_matches_registry(name):
    env = envs.make(name, backend="jax")
    assert env.spec.describe() == envs.get_task(name).spec.describe()
    raw = envs.get_task(name).factory("jax")(envs.get_task(name))
    assert raw.spec.action_repeat == 1 and raw.spec.obs_shape == envs.get_task(name).spec.obs_shape


# ---------------------------------------------------------------------------
# Point-mass maze.

MAZE_STEPS = 120
# Batch elements of the maze rollout (start None = random start from the key).
MAZE_CASES = {
    "parity_free": (0, None, "wander"),  # twin starts from the same (random) state
    "same_key_a": (1, None, "zero"),
    "same_key_b": (1, None, "zero"),
    "other_key": (2, None, "zero"),
    "into_divider": (3, (-0.12, 0.2), "right"),  # pushes right into the divider
    "onto_shelf": (3, (-0.12, 0.1), "down"),  # pushes down onto the shelf
    "through_gap": (3, (-0.33, 0.1), "down"),  # the gap at the left wall is open
    "at_goal": (3, (0.3, -0.3), "zero"),
}
MAZE_ACTIONS = {
    "zero": (0.0, 0.0),
    "right": (1.0, 0.0),
    "down": (0.0, -1.0),
}


def maze_actions(kind: str) -> np.ndarray:
    if kind == "wander":
        rng = np.random.RandomState(7)
        return np.clip(rng.normal([0.6, -0.3], 0.5, size=(MAZE_STEPS, 2)), -1, 1).astype(np.float32)
    return np.tile(np.asarray(MAZE_ACTIONS[kind], np.float32), (MAZE_STEPS, 1))


@pytest.fixture(scope="module")
def maze():
    entry = envs.get_task("dmc/point_mass_maze-proprio")
    env = point_mass_maze.make_raw(entry)
    names = list(MAZE_CASES)
    keys = jnp.stack([jax.random.PRNGKey(MAZE_CASES[n][0]) for n in names])
    actions = jnp.stack([maze_actions(MAZE_CASES[n][2]) for n in names])
    starts = np.zeros((len(names), 2), np.float32)
    use_start = np.array([MAZE_CASES[n][1] is not None for n in names])
    for i, n in enumerate(names):
        if MAZE_CASES[n][1] is not None:
            starts[i] = MAZE_CASES[n][1]

    def reset_at(key, start, use):
        # The maze's obs, reward and dynamics depend only on qpos/qvel (every mjx.step
        # recomputes the rest), so moving the mass after reset is a valid start state.
        state = env.reset(key)
        qpos = jnp.where(use, start, state.backend.qpos)
        data = state.backend.replace(qpos=qpos)
        return state.replace(backend=data, obs=jnp.concatenate([qpos, data.qvel]))

    placed = env.replace(reset=lambda args: reset_at(*args))
    run = batched_rollout(placed)
    first, (obs, reward, terminated) = run((keys, jnp.asarray(starts), jnp.asarray(use_start)), actions)
    again = run((keys, jnp.asarray(starts), jnp.asarray(use_start)), actions)
    case = {n: i for i, n in enumerate(names)}
    return dict(env=env, first=first, obs=np.asarray(obs), reward=np.asarray(reward),
                terminated=np.asarray(terminated), again=again, case=case, actions=np.asarray(actions))


def test_maze_rollout_is_deterministic_and_keyed(maze):
    c = maze["case"]
    again_first, (again_obs, again_reward, _) = maze["again"]
    np.testing.assert_array_equal(np.asarray(maze["first"].obs), np.asarray(again_first.obs))
    np.testing.assert_array_equal(maze["obs"], np.asarray(again_obs))
    np.testing.assert_array_equal(maze["reward"], np.asarray(again_reward))
    first_obs = np.asarray(maze["first"].obs)
    np.testing.assert_array_equal(first_obs[c["same_key_a"]], first_obs[c["same_key_b"]])
    np.testing.assert_array_equal(maze["obs"][c["same_key_a"]], maze["obs"][c["same_key_b"]])
    assert not np.array_equal(first_obs[c["same_key_a"]], first_obs[c["other_key"]])
    # Random starts: top-left within the jitter, at rest.
    for n in ("parity_free", "same_key_a", "other_key"):
        pos, vel = first_obs[c[n], :2], first_obs[c[n], 2:]
        assert np.all(np.abs(pos - point_mass_maze.START) <= point_mass_maze.START_JITTER + 1e-6)
        np.testing.assert_array_equal(vel, 0.0)
    assert not maze["terminated"].any()
    assert maze["obs"].dtype == np.float32 and maze["reward"].dtype == np.float32


def test_maze_matches_dm_control_twin(maze):
    """Same start state, same actions: MJX (float32) vs MuJoCo (float64).

    Free motion is a damped linear system, so only float32 rounding differs
    (observed 2e-7 m in position); pushing into the divider adds a soft wall
    contact solved by both Newton solvers to their tolerances (observed 8e-7
    m/s in velocity). Rewards differed by < 4e-8. The tolerances (2e-5 m or m/s,
    1e-6 reward) are >10x those; a wrong timestep, substep count, damping, gear
    or wall position gives errors of 1e-3 or more within these 120 steps.
    """
    c = maze["case"]
    dm_env = point_mass_maze.make_dm_control_env(np.random.RandomState(0))
    low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    for name in ("parity_free", "into_divider"):
        i = c[name]
        start = np.asarray(maze["first"].obs)[i]
        dm_first = set_dm_state(dm_env, start[:2], start[2:])
        np.testing.assert_allclose(dm_first, start, atol=1e-6)
        dm_obs, dm_reward = dm_rollout(dm_env, maze["actions"][i], low, high)
        np.testing.assert_allclose(maze["obs"][i], dm_obs, atol=2e-5, err_msg=name)
        np.testing.assert_allclose(maze["reward"][i], dm_reward, atol=1e-6, err_msg=name)
    assert dm_env.physics.data.ncon > 0  # the second case ended against the divider


def test_maze_walls_block_the_mass(maze):
    c, obs, layout = maze["case"], maze["obs"], point_mass_maze.maze_layout()
    divider, shelf = layout.walls
    radius = layout.mass_radius
    # Pushed right for 2.4 s (enough to travel 0.2 m), it stops at the divider's left face.
    x = obs[c["into_divider"], :, 0]
    assert x.max() <= divider[0] - radius + 1e-3
    assert x[-1] >= divider[0] - radius - 2e-3  # it did reach the wall
    assert abs(obs[c["into_divider"], -1, 2]) < 1e-3  # and rests there
    # Pushed down, it lands on the shelf ...
    y = obs[c["onto_shelf"], :, 1]
    assert y.min() >= shelf[3] + radius - 1e-3 and y[-1] <= shelf[3] + radius + 2e-3
    # ... unless it goes through the gap by the left wall.
    assert obs[c["through_gap"], -1, 1] < shelf[2] - radius


def test_maze_reward_is_higher_near_goal(maze):
    c, reward = maze["case"], maze["reward"]
    at_goal, at_start = reward[c["at_goal"]], reward[c["same_key_a"]]
    np.testing.assert_allclose(at_goal, 1.0)
    assert at_start.max() < 1e-3
    # Moving towards the goal (right, up to the divider) raises the reward.
    toward = reward[c["into_divider"]]
    assert np.all(np.diff(toward[:40]) > 0) and toward[-1] > 2 * toward[0]


def test_maze_layout_and_discretization():
    layout = point_mass_maze.maze_layout()
    assert layout.arena == pytest.approx((-0.4, 0.4, -0.4, 0.4))
    assert len(layout.walls) == 2 and len(layout.outer_walls) == 4
    bins = 16
    cells = point_mass_maze.discretize_position(np.array([layout.start, layout.goal, [-0.4, -0.4], [0.4, 0.4], [9.0, -9.0]]), bins)
    np.testing.assert_array_equal(cells, [[1, 14], [14, 1], [0, 0], [15, 15], [15, 0]])
    jax_cells = point_mass_maze.discretize_position(jnp.asarray([layout.start, layout.goal]), bins)
    np.testing.assert_array_equal(np.asarray(jax_cells), cells[:2])
    with pytest.raises(ValueError, match="trailing axis"):
        point_mass_maze.discretize_position(np.zeros((3, 3)), bins)
    with pytest.raises(ValueError, match="bins"):
        point_mass_maze.discretize_position(np.zeros((3, 2)), 0)


def test_maze_twin_renders_mass_and_goal():
    dm_env = point_mass_maze.make_dm_control_env(np.random.RandomState(0))
    dm_env.reset()
    image = dm_env.physics.render(64, 64, camera_id=point_mass_maze.VISION_CAMERA).astype(int)
    assert image.shape == (64, 64, 3)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    red = (r > 150) & (g < 80) & (b < 80)
    yellow = (r > 150) & (g > 120) & (b < 90)
    assert red.sum() >= 2 and yellow.sum() >= 1
    # Top-down camera: image column grows with x, image row grows with -y.
    red_row, red_col = np.argwhere(red).mean(0)
    yellow_row, yellow_col = np.argwhere(yellow).mean(0)
    assert red_row > 40 and red_col > 40  # goal bottom-right
    assert yellow_row < 24 and yellow_col < 24  # mass top-left


# ---------------------------------------------------------------------------
# Quadruped run. Compiling its MJX step takes ~1 min of CPU (159 collision pairs, several
# of them MJX's SDF colliders), so these tests share one compiled rollout and are marked slow.

QUAD_STEPS = 20
QUAD_KEYS = (0, 0, 1)


@pytest.fixture(scope="module")
def quad():
    entry = envs.get_task("dmc/quadruped_run-proprio")
    env = quadruped.make_raw(entry)
    units = np.random.RandomState(0).uniform(-1, 1, (QUAD_STEPS, 12)).astype(np.float32)
    keys = jnp.stack([jax.random.PRNGKey(k) for k in QUAD_KEYS])
    run = batched_rollout(env)
    actions = jnp.broadcast_to(units, (len(QUAD_KEYS), *units.shape))
    first, (obs, reward, terminated) = run(keys, actions)
    return dict(first=first, obs=np.asarray(obs), reward=np.asarray(reward), terminated=np.asarray(terminated),
                units=units, sim=quadruped.QuadrupedRun())


@pytest.mark.slow
def test_quadruped_reset_is_keyed_and_deterministic(quad):
    first = quad["first"]
    qpos, qvel = np.asarray(first.backend.qpos), np.asarray(first.backend.qvel)
    np.testing.assert_array_equal(qpos[0], qpos[1])
    np.testing.assert_array_equal(quad["obs"][0], quad["obs"][1])
    assert not np.array_equal(qpos[0], qpos[2])
    np.testing.assert_allclose(np.linalg.norm(qpos[:, 3:7], axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(qpos[:, 7:], 0.0)  # joints at their reference angles
    np.testing.assert_array_equal(qvel, 0.0)
    assert quad["obs"].shape == (3, QUAD_STEPS, 78) and np.all(np.isfinite(quad["obs"]))
    assert not quad["terminated"].any()


@pytest.mark.slow
def test_quadruped_initial_height_matches_dm_control_search(quad):
    dm_env = quadruped.make_dm_control_env(np.random.RandomState(0))
    dm_env.reset()
    for qpos in np.asarray(quad["first"].backend.qpos)[[0, 2]]:
        dm_quadruped._find_non_contacting_height(dm_env.physics, qpos[3:7].astype(np.float64))
        assert dm_env.physics.data.ncon == 0
        assert qpos[2] == pytest.approx(dm_env.physics.named.data.qpos["root"][2], abs=1e-5)


@pytest.mark.slow
def test_quadruped_matches_dm_control_twin(quad):
    """Same start state (the MJX reset state, copied into MuJoCo), same actions.

    The reset height leaves less than 1 cm of clearance, so the feet touch down
    within the first steps and the horizon is contact-rich. MJX runs in float32
    with its own collision routines, MuJoCo in float64; over 20 control steps
    (80 physics steps) from 4 different keys we observed errors up to 1.5e-3 in
    observations (accelerometer and arcsinh force/torque readings, whose
    magnitudes reach 60-200 and 8), 1.2e-4 in joint velocities and < 1e-6 in
    rewards. The tolerances are ~10x that; a wrong sensor, frame, ordering or
    stepping convention gives errors of order 0.1-10.
    """
    first, sim = quad["first"], quad["sim"]
    dm_env = quadruped.make_dm_control_env(np.random.RandomState(0))
    state = [np.asarray(x)[0] for x in (first.backend.qpos, first.backend.qvel, first.backend.act)]
    dm_first = set_dm_state(dm_env, *state)
    np.testing.assert_allclose(np.asarray(first.obs)[0], dm_first, atol=1e-3, rtol=1e-4)
    low, high = sim.layout.ctrl_low.astype(np.float64), sim.layout.ctrl_high.astype(np.float64)
    dm_obs, dm_reward = dm_rollout(dm_env, quad["units"], low, high)
    np.testing.assert_allclose(quad["obs"][0], dm_obs, atol=2e-2, rtol=1e-3)
    np.testing.assert_allclose(quad["reward"][0], dm_reward, atol=1e-5)
    assert dm_env.physics.data.ncon > 0  # the comparison covered ground contact
