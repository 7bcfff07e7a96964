"""Host (numpy) backends for dm_control and Metaworld v3, through `envs.make(..., backend="host")`.

Environments are built once per module (construction and first renders are the slow part)
and every test starts from an explicit `reset(seed)`, so tests do not depend on each other.
"""

import dataclasses
import functools
import pickle

import numpy as np
import pytest
from dm_control.rl import control

import envs
from envs import dmc_host, metaworld_host
from envs.host import BatchedHostEnv

DMC_TASKS = dmc_host.TASKS
VISION_SAMPLE = ("cheetah_run", "quadruped_run", "point_mass_maze")
# DreamerV3's cameras; the point-mass maze is seen from its twin's top-down camera.
EXPECTED_CAMERA = {"cheetah_run": 0, "quadruped_run": 2, "point_mass_maze": "top"}
METAWORLD_TASKS = metaworld_host.TASKS
NUM_ENVS, STEPS = 2, 4


_BATCHED: dict = {}
_SINGLES: dict = {}


def host_env(name: str) -> BatchedHostEnv:
    """A module-wide batched env per task (tests always start it with an explicit reset)."""
    if name not in _BATCHED:
        _BATCHED[name] = envs.make(name, backend="host", num_envs=NUM_ENVS)
    return _BATCHED[name]


@functools.lru_cache(maxsize=None)
def raw_factory(name: str):
    entry = envs.get_task(name)
    return entry.factory("host")(entry)


def raw_single(name: str):
    """A module-wide raw SingleEnv per task."""
    if name not in _SINGLES:
        make_single, _ = raw_factory(name)
        _SINGLES[name] = make_single(0)
    return _SINGLES[name]


@pytest.fixture(scope="module", autouse=True)
def close_everything():
    yield
    for env in [*_BATCHED.values(), *_SINGLES.values()]:
        env.close()
    _BATCHED.clear()
    _SINGLES.clear()
    raw_factory.cache_clear()


def actions(spec, steps, num_envs, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(steps, num_envs, *spec.action.shape)).astype(np.float32)


def rollout(env: BatchedHostEnv, seed: int, action_seq):
    first = env.reset(seed)
    steps = [env.step(a) for a in action_seq]
    return first, steps


def assert_same_rollout(a, b):
    (first_a, steps_a), (first_b, steps_b) = a, b
    np.testing.assert_array_equal(first_a.obs, first_b.obs)
    for x, y in zip(steps_a, steps_b):
        np.testing.assert_array_equal(x.obs, y.obs)
        np.testing.assert_array_equal(x.reward, y.reward)
        np.testing.assert_array_equal(x.terminated, y.terminated)
        for key in x.info:
            np.testing.assert_array_equal(x.info[key], y.info[key])


def check_protocol(name: str, env: BatchedHostEnv):
    """Spec, dtypes, finiteness, determinism per seed and dependence on the seed."""
    entry = envs.get_task(name)
    assert env.spec == entry.spec
    action_seq = actions(env.spec, STEPS, env.num_envs)
    first, steps = rollout(env, 0, action_seq)
    assert first.obs.shape == (env.num_envs, *entry.spec.obs_shape)
    assert first.obs.dtype == entry.spec.obs_dtype
    assert first.is_first.all() and not first.done.any() and (first.reward == 0).all()
    # Each env in the batch gets its own seed.
    assert not np.array_equal(first.obs[0], first.obs[1])
    for step in steps:
        assert step.obs.shape == first.obs.shape and step.obs.dtype == first.obs.dtype
        assert step.reward.dtype == np.float32 and np.isfinite(step.reward).all()
        assert not step.is_first.any() and not step.done.any()
        if entry.spec.obs_dtype.kind == "f":
            assert np.isfinite(step.obs).all()
        assert set(step.info) == set(first.info)
    # The state moves under random actions.
    assert not np.array_equal(steps[-1].obs, first.obs)
    # Same seed -> same trajectory, whatever the env did before; another seed -> another start.
    assert_same_rollout((first, steps), rollout(env, 0, action_seq))
    assert not np.array_equal(env.reset(1).obs, first.obs)
    return first, steps


def test_backends_cover_exactly_the_registered_tasks():
    registered = {(e.suite, e.task) for e in envs.TASKS.values() if "host" in e.factories}
    assert {t for s, t in registered if s == "dmc"} == set(DMC_TASKS)
    assert {t for s, t in registered if s == "metaworld"} == set(METAWORLD_TASKS)


# -- dm_control proprio -------------------------------------------------------------------


@pytest.mark.parametrize("task", DMC_TASKS)
def test_dmc_proprio_protocol(task):
    name = f"dmc/{task}-proprio"
    first, steps = check_protocol(name, host_env(name))
    assert first.info == {} and all(step.info == {} for step in steps)


@pytest.mark.parametrize("task", DMC_TASKS)
def test_dmc_proprio_matches_dm_control_and_ignores_its_time_limit(task):
    """Observations are dm_control's own flattening; 1000+ control steps never end an episode."""
    single = raw_single(f"dmc/{task}-proprio")
    dm_env = single.dm_control_env
    rng = np.random.default_rng(3)
    obs, info = single.reset(rng)
    assert info == {}
    expected = control.flatten_observation(dm_env.task.get_observation(dm_env.physics))["observations"]
    np.testing.assert_array_equal(obs, expected.astype(np.float32))
    size = single.action_shape
    for t in range(1005):
        obs, reward, terminated, _ = single.step(rng.uniform(-1, 1, size))
        assert not terminated
        if t % 500 == 0:
            expected = control.flatten_observation(dm_env.task.get_observation(dm_env.physics))["observations"]
            np.testing.assert_array_equal(obs, expected.astype(np.float32))
            assert np.isfinite(reward)


def test_dmc_actions_are_rescaled_to_actuator_ranges():
    single = raw_single("dmc/cheetah_run-proprio")
    physics = single.dm_control_env.physics
    low, high = physics.model.actuator_ctrlrange.T
    single.reset(np.random.default_rng(0))
    unit = np.linspace(-1.0, 1.0, single.action_shape[0])
    single.step(unit)
    np.testing.assert_allclose(physics.data.ctrl, low + (unit + 1) / 2 * (high - low))
    single.step(np.full(single.action_shape, 7.0))  # out-of-range input is clipped, not extrapolated
    np.testing.assert_allclose(physics.data.ctrl, high)


def test_dmc_action_repeat_sums_rewards():
    """One agent step = two raw control steps; rewards add up and the last frame is observed."""
    name, seed = "dmc/walker_walk-proprio", 11
    env = envs.make(name, backend="host", num_envs=1)
    single = raw_single(name)
    # BatchedHostEnv gives env i the i-th child of SeedSequence(seed).
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    raw_obs, _ = single.reset(rng)
    np.testing.assert_array_equal(env.reset(seed).obs[0], raw_obs)
    for action in actions(env.spec, 3, 1, seed=5):
        step = env.step(action)
        raw_rewards = []
        for _ in range(2):
            raw_obs, reward, _, _ = single.step(action[0])
            raw_rewards.append(reward)
        np.testing.assert_array_equal(step.obs[0], raw_obs)
        np.testing.assert_allclose(step.reward[0], sum(raw_rewards), rtol=1e-6)
        assert step.reward[0] != 0.0
    env.close()


def test_dmc_full_episode_truncates_after_500_agent_steps():
    env = envs.make("dmc/reacher_hard-proprio", backend="host", num_envs=1)
    limit = env.spec.episode_length
    assert limit == 500 and env.spec.frames_per_episode == 1000
    first = env.reset(0)
    truncated_at = []
    for t, action in enumerate(actions(env.spec, limit, 1), start=1):
        step = env.step(action)
        assert not step.terminated.any() and not step.is_first.any()
        if step.truncated[0]:
            truncated_at.append(t)
    assert truncated_at == [limit]
    restart = env.step(actions(env.spec, 1, 1)[0])
    assert restart.is_first.all() and not restart.done.any() and restart.reward[0] == 0.0
    assert not np.array_equal(restart.obs, first.obs) and not np.array_equal(restart.obs, step.obs)
    env.close()


@pytest.mark.parametrize("name", ["dmc/cheetah_run-proprio", "dmc/hopper_hop-vision"])
def test_dmc_auto_reset_draws_a_fresh_start(name):
    make_single, raw_spec = raw_factory(name)
    env = BatchedHostEnv(make_single, raw_spec, num_envs=2, action_repeat=2, episode_length=3)
    first = env.reset(4)
    steps = [env.step(a) for a in actions(env.spec, 4, 2)]
    np.testing.assert_array_equal([s.truncated.all() for s in steps], [False, False, True, False])
    restart = steps[3]
    assert restart.is_first.all() and (restart.reward == 0).all()
    for i in range(2):
        assert not np.array_equal(restart.obs[i], first.obs[i])
        assert not np.array_equal(restart.obs[i], steps[2].obs[i])
    env.close()


# -- dm_control vision ----------------------------------------------------------------------


def assert_real_frames(frames):
    for frame in frames.reshape(-1, *frames.shape[-3:]):
        assert frame.std() > 5.0, "a rendered frame is (nearly) constant"
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20


@pytest.mark.parametrize("task", VISION_SAMPLE)
def test_dmc_vision_protocol(task):
    name = f"dmc/{task}-vision"
    first, steps = check_protocol(name, host_env(name))
    assert_real_frames(first.obs)
    assert_real_frames(steps[-1].obs)


@pytest.mark.parametrize("task", VISION_SAMPLE)
def test_dmc_vision_renders_the_expected_camera(task):
    single = raw_single(f"dmc/{task}-vision")
    physics = single.dm_control_env.physics
    camera = EXPECTED_CAMERA[task]
    assert dmc_host.vision_camera(task) == camera
    obs, _ = single.reset(np.random.default_rng(0))
    frame = np.asarray(obs)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, physics.render(64, 64, camera_id=camera))


def test_dmc_vision_stale_frame_is_refused():
    single = raw_single("dmc/cheetah_run-vision")
    obs, _ = single.reset(np.random.default_rng(0))
    nxt, _, _, _ = single.step(np.zeros(single.action_shape))
    with pytest.raises(RuntimeError, match="after its environment stepped"):
        np.asarray(obs)
    assert np.asarray(nxt).shape == (64, 64, 3)


def test_dmc_every_vision_task_resets_to_a_real_frame():
    for task in DMC_TASKS:
        name = f"dmc/{task}-vision"
        env = envs.make(name, backend="host", num_envs=1)
        assert env.spec == envs.get_task(name).spec
        first = env.reset(0)
        assert first.obs.shape == (1, 64, 64, 3) and first.obs.dtype == np.uint8
        assert_real_frames(first.obs)
        env.close()


# -- Metaworld ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", METAWORLD_TASKS)
def test_metaworld_protocol(task):
    first, steps = check_protocol(f"metaworld/{task}", host_env(f"metaworld/{task}"))
    assert set(first.info) == {"success"}
    np.testing.assert_array_equal(first.info["success"], 0.0)
    for step in steps:
        assert step.info["success"].dtype == np.float32
        assert np.isin(step.info["success"], (0.0, 1.0)).all()


def test_metaworld_goal_comes_from_mt1_train_goals():
    single = raw_single("metaworld/pick-place")
    _, goals = metaworld_host.train_goals("pick-place")
    goal_vectors = np.stack([pickle.loads(goal.data)["rand_vec"] for goal in goals])
    seen = set()
    for seed in range(6):
        single.reset(np.random.default_rng(seed))
        matches = np.flatnonzero(np.all(goal_vectors == single.metaworld_env._last_rand_vec, axis=1))
        assert matches.size == 1
        seen.add(int(matches[0]))
    assert len(seen) > 1


def test_metaworld_action_repeat_sums_rewards():
    name, seed = "metaworld/window-open", 2
    env = envs.make(name, backend="host", num_envs=1)
    single = raw_single(name)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    raw_obs, _ = single.reset(rng)
    np.testing.assert_array_equal(env.reset(seed).obs[0], raw_obs)
    for action in actions(env.spec, 3, 1, seed=9):
        step = env.step(action)
        raw_rewards, raw_info = [], None
        for _ in range(2):
            raw_obs, reward, _, raw_info = single.step(action[0])
            raw_rewards.append(reward)
        np.testing.assert_array_equal(step.obs[0], raw_obs)
        np.testing.assert_allclose(step.reward[0], sum(raw_rewards), rtol=1e-6)
        assert step.info["success"][0] == raw_info["success"]
    env.close()


@pytest.mark.filterwarnings("ignore:Constant\\(s\\) may be too high")
def test_metaworld_scripted_policy_succeeds_and_episode_truncates_at_250():
    """Metaworld's own policy solves button-press through our env; its horizon never interferes."""
    from metaworld.policies import SawyerButtonPressV3Policy

    env = envs.make("metaworld/button-press", backend="host", num_envs=1)
    policy = SawyerButtonPressV3Policy()
    step = env.reset(0)
    successes, truncated_at = [], []
    for t in range(1, env.spec.episode_length + 1):
        step = env.step(policy.get_action(step.obs[0].astype(np.float64))[None].astype(np.float32))
        assert not step.terminated.any() and not step.is_first.any()
        successes.append(step.info["success"][0])
        if step.truncated[0]:
            truncated_at.append(t)
    assert truncated_at == [250]
    assert set(successes) <= {0.0, 1.0} and successes[0] == 0.0 and max(successes) == 1.0
    restart = env.step(np.zeros((1, 4), np.float32))
    assert restart.is_first.all() and restart.info["success"][0] == 0.0
    env.close()


def test_metaworld_raw_env_runs_past_metaworld_horizon():
    single = raw_single("metaworld/soccer")
    rng = np.random.default_rng(0)
    single.reset(rng)
    for _ in range(510):  # Metaworld itself raises after 500 steps without a reset
        _, reward, terminated, info = single.step(rng.uniform(-1, 1, 4))
        assert not terminated and np.isfinite(reward) and set(info) == {"success"}


# -- bad input ------------------------------------------------------------------------------


def test_factories_reject_unknown_options_and_tasks():
    dmc_entry = envs.get_task("dmc/reacher_hard-proprio")
    with pytest.raises(ValueError, match="no options"):
        dmc_host.make_single_factory(dmc_entry, sticky_prob=0.1)
    with pytest.raises(KeyError, match="no dm_control task"):
        dmc_host.make_single_factory(dataclasses.replace(dmc_entry, task="cartpole_swingup"))
    mw_entry = envs.get_task("metaworld/soccer")
    with pytest.raises(ValueError, match="no options"):
        metaworld_host.make_single_factory(mw_entry, sticky_prob=0.1)
    with pytest.raises(KeyError, match="no Metaworld task"):
        metaworld_host.make_single_factory(dataclasses.replace(mw_entry, task="reach"))


def test_vision_maze_records_the_position_the_proprio_maze_observes():
    """The vision maze's recorded (x, y) is the position the proprio maze observes for the same seed and actions."""
    from offon_jit.engine.transitions import replay_schema

    vision, proprio = host_env("dmc/point_mass_maze-vision"), host_env("dmc/point_mass_maze-proprio")
    assert vision.spec.recorded_info == (("position", 2),) and proprio.spec.recorded_info == ()
    assert replay_schema(vision.spec)["position"] == ((2,), np.dtype(np.float32))
    assert "position" not in replay_schema(proprio.spec)
    rng = np.random.default_rng(0)
    steps = [(vision.reset(3), proprio.reset(3))]
    for _ in range(STEPS):
        action = rng.uniform(-1, 1, (NUM_ENVS, 2))
        steps.append((vision.step(action), proprio.step(action)))
    for seen, observed in steps:
        assert seen.info["position"].shape == (NUM_ENVS, 2) and seen.info["position"].dtype == np.float32
        np.testing.assert_allclose(seen.info["position"], observed.obs[:, :2], atol=1e-6)
    assert not np.allclose(steps[0][0].info["position"], steps[-1][0].info["position"])  # the mass moved
