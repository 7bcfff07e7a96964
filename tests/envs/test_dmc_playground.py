"""The Playground/MJX DMC backend against dm_control itself, for all 7 tasks.

Trajectory parity: both simulators start from the same state and get the same random
actions; observations and rewards must agree step by step. Two starts per task:
dm_control's own reset state, and a "rewarding" state (finger on the target, hopper
upright and moving, ...) so that every reward term is exercised, not just the zeros
random actions produce in sparse tasks. Reset: our initial states, loaded into
dm_control, must give dm_control's observation, satisfy its constraints (joint limits,
no contact where it resamples) and be distributed like dm_control's own resets.
Protocol checks (spec, vmap, scan, keys, 500-step truncation) run on reacher only, the
cheapest task to compile; compiling MJX on CPU is what this file spends its time on.

Tolerances. MJX runs in float32, dm_control in float64; one control step from the
same state agrees to ~1e-6 relative. Differences then grow with the dynamics: barely
for reacher and cup, faster through contacts (walker, hopper, finger's spinner),
explosively for humanoid's falls (a contact made one substep earlier flips the
trajectory: on three seeds the error passed 1e-2 after 14, 25 and 33 steps). Each
task's horizon and tolerance below is 5-10x the largest error measured on three seeds
within that horizon (error = |ours - dm_control| / (1 + |dm_control|)), so it flags
semantic differences (a wrong feature, order, frame or stale kinematics gives O(0.1-1)
errors from the first step) without being tripped by float32 chaos.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from scipy import stats

import envs
from envs.core import first_state
from envs.dmc_playground import env_from_simulator, load_simulator, physics, tasks

# task -> ((steps, tol) from dm_control's reset, (steps, tol) from the rewarding state,
# reward tol). Obs entries must satisfy |ours - ref| <= tol * (1 + |ref|); comments give
# the largest error measured on three seeds within the horizon. A first contact costs
# ~1e-4 at once; the seeds with the most contact (hopper's and finger's seed 1) reach 2-3e-3.
PARITY = {
    "cheetah_run": ((40, 2e-4), (40, 3e-3), 1e-3),  # 1.7e-5 / 3.5e-4
    "walker_walk": ((15, 2e-4), (15, 5e-3), 1e-3),  # 2.4e-5 / 7.7e-4; beyond ~16 steps up to 1e-1
    "hopper_hop": ((40, 2e-2), (40, 5e-4), 1e-3),  # 2.1e-3 / 4.9e-5
    "finger_turn_hard": ((40, 3e-2), (40, 3e-2), 0.0),  # 3e-3 / 3e-3 (touch sensors in contact; other seeds 1e-5)
    "reacher_hard": ((40, 1e-5), (40, 1e-5), 0.0),  # 6e-7 / 8e-7
    "cup_catch": ((40, 2e-5), (5, 2e-3), 0.0),  # 2e-6 / 2.2e-4: the ball rattles in the cup, diverging after ~6 steps
    "humanoid_walk": ((12, 1e-3), (12, 1e-3), 1e-3),  # 1.6e-4 / 1.1e-4; falls diverge after 13-25 steps
}
# Humanoid's programs take ~40 s to compile on 2 cores: its parity checks run with -m slow.
TASKS = [pytest.param(t, marks=pytest.mark.slow) if t == "humanoid_walk" else t for t in PARITY]
# The programs here run a handful of times, so skipping XLA's backend optimisations pays:
# compiles take ~40% less time. Results stay within the tolerances above.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
RESETS = 40  # initial states drawn per task for the reset checks


def dm_control_env(task: str, seed: int):
    from dm_control import suite

    definition = tasks.get(task)
    return suite.load(definition.domain, definition.task, task_kwargs={"random": seed})


def dm_flat_obs(dm_env) -> np.ndarray:
    obs = dm_env.task.get_observation(dm_env.physics)
    return np.concatenate([np.ravel(v) for v in obs.values()])


def _sensordata_by_name(model: mujoco.MjModel, dm_physics) -> np.ndarray:
    """dm_control's sensor readings in our model's layout (humanoid lacks the touch sensors)."""
    out = np.zeros(model.nsensordata, np.float32)
    for i in range(model.nsensor):
        name = model.sensor(i).name
        out[physics.sensor_slice(model, name)] = dm_physics.named.data.sensordata[name]
    return out


def data_from_dm_control(sim, task: str, dm_physics):
    """MJX data holding dm_control's whole simulation state, task targets included.

    Acceleration-stage sensors (touch) come along: they are state after a dm_control
    step; positions, velocities and the other sensors are recomputed by our view.
    """
    model = sim.mj_model
    mocap = physics.default_mocap_pos(model)
    if task == "finger_turn_hard":
        mocap[physics.mocap_index(model, "target")] = dm_physics.named.model.site_pos["target"]
    if task == "reacher_hard":
        mocap[physics.mocap_index(model, "target")] = dm_physics.named.model.geom_pos["target"]
    d = dm_physics.data
    return sim.make_data(np.asarray(d.qpos, np.float32), mocap).replace(
        qvel=jnp.asarray(d.qvel, jnp.float32),
        act=jnp.asarray(d.act, jnp.float32),
        ctrl=jnp.asarray(d.ctrl, jnp.float32),
        qacc_warmstart=jnp.asarray(d.qacc_warmstart, jnp.float32),
        sensordata=jnp.asarray(_sensordata_by_name(model, dm_physics)),
    )


def make_rewarding(task: str, dm_physics) -> None:
    """Move dm_control's state to one where the task pays (forward pass included)."""
    named = dm_physics.named
    if task in ("walker_walk", "hopper_hop", "humanoid_walk"):
        # Default pose (upright), lifted 2 cm: at qpos0 the feet touch the floor at distance
        # exactly 0, where float32 rounding alone decides whether the contact exists.
        dm_physics.data.qpos[:] = dm_physics.model.qpos0
        dm_physics.data.qvel[:] = 0
        if task == "humanoid_walk":
            named.data.qpos["root"][2] += 0.02
        else:
            named.data.qpos["rootz"] += 0.02
    speed = {"cheetah_run": 8.0, "walker_walk": 1.5, "hopper_hop": 2.5, "humanoid_walk": 1.2}
    if task == "humanoid_walk":
        named.data.qvel["root"] = [speed[task], 0, 0, 0, 0, 0]
    elif task in speed:
        named.data.qvel["rootx"] = speed[task]
    dm_physics.forward()
    if task == "finger_turn_hard":  # tip inside the target
        named.model.site_pos["target", ["x", "z"]] = named.data.site_xpos["tip", ["x", "z"]]
    if task == "reacher_hard":  # finger on the target
        named.model.geom_pos["target", ["x", "y"]] = named.data.geom_xpos["finger", ["x", "y"]]
    if task == "cup_catch":  # ball in the cup
        offset = named.data.site_xpos["target"] - named.data.xpos["ball"]
        named.data.qpos["ball_x"] += offset[0]
        named.data.qpos["ball_z"] += offset[2]
    dm_physics.forward()


@functools.cache
def task_env(task: str):
    """(raw env, simulator, task definition), built once per task and shared by the tests."""
    sim, definition = load_simulator(task)
    return env_from_simulator(sim, definition, f"dmc/{task}-proprio", 500), sim, definition


@functools.cache
def rollout_fn(task: str):
    env, sim, definition = task_env(task)

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def rollout(data, actions):
        view = sim.observation_view(data)
        start = first_state(
            tasks.flatten(definition.observe(sim.mj_model, view)), jax.random.PRNGKey(0), sim.state_of(data)
        )

        def body(state, action):
            state = env.step(state, action)
            return state, (state.obs, state.reward, state.terminated)

        return start.obs, jax.lax.scan(body, start, actions)[1]

    return rollout


@pytest.mark.parametrize("task", TASKS)
def test_trajectory_matches_dm_control(task):
    from_reset, from_rewarding, reward_tol = PARITY[task]
    _, sim, definition = task_env(task)
    model = sim.mj_model
    # Observation entries: dm_control's names, order and sizes (traced only, nothing compiled).
    entries = []

    def probe():
        observation = definition.observe(model, sim.observation_view(sim.make_data(model.qpos0)))
        entries.extend((k, int(np.prod(v.shape))) for k, v in observation.items())  # dict order, before pytree sorting
        return 0

    jax.eval_shape(probe)
    spec = dm_control_env(task, seed=0).observation_spec()
    assert entries == [(k, int(np.prod(v.shape))) for k, v in spec.items()]

    for start, seed, (steps, tol) in (("reset", 1, from_reset), ("rewarding", 11, from_rewarding)):
        dm_env = dm_control_env(task, seed=seed)
        dm_env.reset()
        if start == "rewarding":
            make_rewarding(task, dm_env.physics)
        actions = np.random.default_rng(seed + 1).uniform(-1, 1, (steps, model.nu)).astype(np.float32)
        # Both starts run the longer horizon (one compiled program); the first `steps` count.
        padded = np.pad(actions, ((0, max(from_reset[0], from_rewarding[0]) - steps), (0, 0)))

        obs0, traj = rollout_fn(task)(data_from_dm_control(sim, task, dm_env.physics), padded)
        obs, reward, terminated = (np.asarray(x)[:steps] for x in traj)

        ref_obs0 = dm_flat_obs(dm_env)
        ref = [dm_env.step(a) for a in actions]
        ref_obs = np.stack([np.concatenate([np.ravel(v) for v in t.observation.values()]) for t in ref])
        ref_reward = np.array([t.reward for t in ref])
        np.testing.assert_allclose(obs0, ref_obs0, atol=tol, rtol=tol, err_msg=f"{start}: first obs")
        np.testing.assert_allclose(obs, ref_obs, atol=tol, rtol=tol, err_msg=f"{start}: obs")
        np.testing.assert_allclose(reward, ref_reward, atol=reward_tol, err_msg=f"{start}: reward")
        assert not terminated.any() and all(t.discount == 1.0 for t in ref)
        # Not vacuous: the system moves, and the rewarding start does pay.
        assert np.abs(ref_obs[-1] - ref_obs0).max() > 0.01
        if start == "rewarding":
            assert ref_reward.max() > 0.5, f"rewarding start paid only {ref_reward.max():.3f}"


@functools.cache
def reset_fn(task: str):
    env, _, _ = task_env(task)
    return jax.jit(env.reset, compiler_options=FAST_COMPILE)  # unbatched: compiles ~2x faster than vmapped


@pytest.mark.parametrize("task", TASKS)
def test_reset_matches_dm_control(task):
    _, sim, _ = task_env(task)
    model = sim.mj_model
    states = [reset_fn(task)(key) for key in jax.random.split(jax.random.PRNGKey(5), RESETS)]
    dm_env = dm_control_env(task, seed=6)
    dm_env.reset()
    p = dm_env.physics
    limited = np.flatnonzero(model.jnt_limited)
    low, high = model.jnt_range[limited].T
    for state in states:
        data = jax.tree_util.tree_map(np.asarray, state.backend)
        assert bool(state.is_first) and float(state.reward) == 0.0
        if task != "cheetah_run":  # cheetah's 200 settling steps may press joints into their soft limits
            qpos = data.qpos[model.jnt_qposadr[limited]]
            assert np.all((qpos >= low - 1e-6) & (qpos <= high + 1e-6)), "joint outside its range"
        # Load our initial state into dm_control (its reset_context ends with a forward pass).
        with p.reset_context():
            p.data.qpos[:] = data.qpos
            p.data.qvel[:] = data.qvel
            if task == "finger_turn_hard":
                p.named.model.site_pos["target"] = data.mocap_pos[physics.mocap_index(model, "target")]
            if task == "reacher_hard":
                p.named.model.geom_pos["target"] = data.mocap_pos[physics.mocap_index(model, "target")]
        if task in ("finger_turn_hard", "cup_catch", "humanoid_walk"):
            assert p.data.ncon == 0, "dm_control resamples until the initial state has no contact"
        np.testing.assert_allclose(np.asarray(state.obs), dm_flat_obs(dm_env), atol=2e-4, rtol=2e-4)

    # Same distribution as dm_control's own resets: two-sample KS test per observation
    # entry. The threshold only catches real differences (a range off by a factor of 2
    # gives p ~ 1e-7 at this sample size); with fixed seeds the outcome is deterministic.
    ours = np.stack([np.asarray(s.obs) for s in states])
    theirs = np.stack(
        [np.concatenate([np.ravel(v) for v in dm_env.reset().observation.values()]) for _ in range(RESETS)]
    )
    varying = np.ptp(theirs, axis=0) > 1e-6
    pvalues = [stats.ks_2samp(ours[:, k], theirs[:, k]).pvalue for k in np.flatnonzero(varying)]
    assert min(pvalues) > 1e-6, f"reset distribution differs from dm_control's (min KS p-value {min(pvalues):.1e})"
    np.testing.assert_allclose(ours[:, ~varying], theirs[:, ~varying], atol=1e-5)


@pytest.mark.parametrize("task", [t for t in PARITY if tasks.get(t).contact_budget is not None])
def test_contact_budget_exceeds_active_contacts(task):
    """MJX keeps `contact_budget` contacts per condim group; dm_control must never need more.

    C MuJoCo only (cheap): an episode of random actions, then one of zero actions in
    which the body collapses onto the floor, where the most contacts are active.
    """
    budget = tasks.get(task).contact_budget
    dm_env = dm_control_env(task, seed=7)
    nu = dm_env.action_spec().shape[0]
    rng = np.random.default_rng(8)
    most = 0
    for scale in (1.0, 0.0):
        dm_env.reset()
        for _ in range(300):
            dm_env.step(scale * rng.uniform(-1, 1, nu))
            data = dm_env.physics.data
            per_group = np.bincount(data.contact.dim[: data.ncon]) if data.ncon else [0]
            most = max(most, int(np.max(per_group)))
    assert 0 < most <= budget


@pytest.mark.parametrize("task", TASKS)
def test_raw_spec_matches_registry(task):
    raw, _, _ = task_env(task)
    registered = envs.get_task(f"dmc/{task}-proprio").spec
    assert raw.spec.action_repeat == 1
    assert (raw.spec.obs_shape, raw.spec.obs_dtype, raw.spec.action) == (
        registered.obs_shape,
        registered.obs_dtype,
        registered.action,
    )


# --- protocol (reacher only: cheapest to compile) ------------------------------------
PROTOCOL_TASK = "dmc/reacher_hard-proprio"


@pytest.fixture(scope="module")
def reacher():
    return envs.make(PROTOCOL_TASK, backend="jax")


def test_make_spec_matches_registry(reacher):
    assert reacher.spec.describe() == envs.get_task(PROTOCOL_TASK).spec.describe()


def test_keys_drive_initial_states():
    reset = reset_fn("reacher_hard")
    a, b, c = (reset(jax.random.PRNGKey(k)) for k in (0, 0, 1))
    np.testing.assert_array_equal(a.obs, b.obs)
    assert np.abs(np.asarray(a.obs) - np.asarray(c.obs)).max() > 1e-3


def test_vmap_scan_and_truncation(reacher):
    env, batch = reacher, 2
    steps = env.spec.episode_length + 1  # a whole episode, then the auto-reset step

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def run(key):
        reset_key, action_key = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(reset_key, batch))
        actions = jax.random.uniform(action_key, (steps, batch, *env.spec.action.shape), minval=-1, maxval=1)

        def body(state, action):
            state = jax.vmap(env.step)(state, action)
            return state, (state.obs, state.reward, state.truncated, state.is_first, state.step_count)

        return state, jax.lax.scan(body, state, actions)[1]

    first, (obs, reward, truncated, is_first, count) = run(jax.random.PRNGKey(7))
    np.testing.assert_array_equal(obs, run(jax.random.PRNGKey(7))[1][0])  # same key, same trajectory
    assert np.abs(np.asarray(first.obs[0]) - np.asarray(first.obs[1])).max() > 1e-3  # envs differ
    truncated, is_first, count = np.asarray(truncated), np.asarray(is_first), np.asarray(count)
    last = env.spec.episode_length - 1
    assert truncated[last].all() and not truncated[:last].any() and not truncated[last + 1].any()
    assert is_first[last + 1].all() and not is_first[: last + 1].any()
    assert count[last].tolist() == [env.spec.episode_length] * batch
    # 1000 control steps with random actions stay finite; rewards are sums of 2 frames in [0, 1].
    assert np.all(np.isfinite(np.asarray(obs))) and np.all((np.asarray(reward) >= 0) & (np.asarray(reward) <= 2))
