"""MJX ports against their dm_control twins: shared helpers, and quadruped run.

The point-mass maze has its own file, tests/envs/test_point_mass_maze.py (it reuses the
helpers here).

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
from envs.mjx_ports import common, quadruped


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
        dict(bounds=(0.0, 0.015), margin=0.015),  # the point-mass maze's near_target
        dict(margin=1.0, value_at_margin=0.0, sigmoid="quadratic"),  # and its control reward
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
