"""Your own environments: `envs.register` and the gymnasium adapter (`envs.from_gymnasium`).

Registration errors, overwrite and removal; specs read off JAX and gymnasium envs; the adapter's
action rescaling, time limits and terminations against gymnasium itself; the
OFFON_JIT_ENV_MODULES import hook; and a registered gymnasium task through RunConfig and a Study.
"""

import types

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces

import envs
import envs.__main__ as envs_cli
from envs import registry, wrappers
from envs.gymnasium_host import GymnasiumEnv
from envs.spec import ActionSpec, EnvSpec
from offon_jit.config import ConfigError, RunConfig
from tests.envs.toy import RecordingGymEnv, make_counter_env


@pytest.fixture
def cleanup():
    """Names to unregister after the test (whatever it left registered)."""
    names: list[str] = []
    yield names
    for name in names:
        if name in envs.TASKS:
            envs.unregister(name)


def vector_spec(obs_shape=(3,), obs_dtype="float32", action=ActionSpec(kind="discrete", num_actions=2)):
    return EnvSpec(name="x", obs_shape=obs_shape, obs_dtype=obs_dtype, action=action, episode_length=10)


def specless_counter():
    env = make_counter_env()
    return types.SimpleNamespace(reset=env.reset, step=env.step)


COUNTER = dict(jax_factory=make_counter_env)
BAD_REGISTRATIONS = [
    ("nodash", COUNTER, "one '/'"),
    ("a/b/c", COUNTER, "one '/'"),
    ("my/ bad", COUNTER, "must start with a letter or digit"),
    ("dmc/mine", COUNTER, "suite 'dmc' holds built-in tasks"),
    ("my/none", {}, "give jax_factory and/or host_factory"),
    ("my/x", dict(jax_factory=3), "jax_factory must be a function"),
    ("my/x", dict(COUNTER, episode_length=0), "episode_length must be an int >= 1"),
    ("my/x", dict(COUNTER, action_repeat=True), "action_repeat must be an int >= 1"),
    ("my/x", dict(COUNTER, spec="big"), "spec must be an envs.EnvSpec"),
    ("my/x", dict(COUNTER, spec=vector_spec(obs_shape=(4, 4))), r"float32 vector \(n,\) or a uint8 HxWxC image"),
    ("my/x", dict(COUNTER, spec=vector_spec(obs_shape=(8, 8, 3))), r"got shape \(8, 8, 3\) float32"),
    ("my/x", dict(COUNTER, spec=vector_spec(obs_dtype="uint8")), r"got shape \(3,\) uint8"),
    ("my/x", dict(COUNTER, spec=vector_spec(action=ActionSpec(kind="continuous", shape=(1,), low=-2.0, high=2.0))),
     r"continuous actions must be exposed in \[-1, 1\]"),
    ("my/x", dict(jax_factory=specless_counter), "has no EnvSpec `spec` to read the task's spec from; pass spec="),
    ("my/x", dict(jax_factory=lambda: wrappers.action_repeat(make_counter_env(), 2)), "repeats actions itself"),
    ("my/x", dict(COUNTER, host_factory=envs.from_gymnasium("CartPole-v1")), "the jax and host envs differ"),
]


@pytest.mark.parametrize("name, options, message", BAD_REGISTRATIONS)
def test_bad_registrations_raise_one_line_errors(name, options, message):
    with pytest.raises(ValueError, match=message) as error:
        envs.register(name, **options)
    assert "\n" not in str(error.value)
    assert name not in envs.TASKS


def test_existing_names_need_overwrite_and_builtins_stay(cleanup):
    cleanup.append("my/counter")
    first = envs.register("my/counter", jax_factory=make_counter_env, episode_length=5)
    with pytest.raises(ValueError, match="'my/counter' is already registered; pass overwrite=True"):
        envs.register("my/counter", jax_factory=make_counter_env)
    assert envs.get_task("my/counter") is first
    envs.register("my/counter", jax_factory=make_counter_env, episode_length=7, overwrite=True)
    assert envs.get_task("my/counter").spec.episode_length == 7
    envs.unregister("my/counter")
    with pytest.raises(KeyError, match="unknown task 'my/counter'"):
        envs.get_task("my/counter")
    with pytest.raises(ValueError, match="built-in task"):
        envs.unregister("debug/point_reach")
    assert not envs.get_task("debug/point_reach").registered


def test_registered_jax_env_gets_the_standard_wrappers(cleanup):
    cleanup += ["my/counter", "my/counter-default", "my/specless"]
    entry = envs.register("my/counter", jax_factory=make_counter_env, action_repeat=3, episode_length=4)
    assert entry.spec.describe() == {"obs_shape": [1], "obs_dtype": "float32",
                                     "action": {"kind": "discrete", "num_actions": 5},
                                     "episode_length": 4, "action_repeat": 3}
    assert (entry.suite, entry.task, entry.obs_kind, entry.backends) == ("my", "counter", "proprio", ("jax",))
    # Without episode_length: the env's own 10000 frames at 3 frames per agent step.
    assert envs.register("my/counter-default", jax_factory=make_counter_env,
                         action_repeat=3).spec.episode_length == 10_000 // 3
    env = envs.make("my/counter")
    state = env.reset(jax.random.PRNGKey(0))
    start = float(state.obs[0])
    step = jax.jit(env.step)
    for t in range(1, 5):
        state = step(state, jnp.int32(2))
        assert float(state.reward) == 6.0 and float(state.obs[0]) == start + 6 * t  # 3 frames of +2
        assert bool(state.truncated) == (t == 4) and not bool(state.terminated)
    assert bool(step(state, jnp.int32(2)).is_first)  # auto-reset after the time limit
    # An env object without a spec works when the spec is given.
    spec = make_counter_env().spec.replace(episode_length=9)
    envs.register("my/specless", jax_factory=specless_counter, spec=spec)
    assert envs.make("my/specless").spec.episode_length == 9


def test_a_factory_that_disagrees_with_its_given_spec_is_named(cleanup):
    cleanup.append("my/wrong")
    envs.register("my/wrong", jax_factory=make_counter_env, spec=vector_spec())
    with pytest.raises(ValueError, match="my/wrong: the jax_factory built an env with spec"):
        envs.make("my/wrong")


def test_adapter_reads_specs_off_gymnasium_spaces():
    for env_id, obs, action in [
        ("CartPole-v1", (4,), ActionSpec(kind="discrete", num_actions=2)),
        ("Pendulum-v1", (3,), ActionSpec(kind="continuous", shape=(1,), low=-1.0, high=1.0)),
    ]:
        adapter = envs.from_gymnasium(env_id)()
        assert adapter.spec.obs_shape == obs and adapter.spec.obs_dtype == np.float32 and adapter.spec.action == action
        assert adapter.spec.episode_length == gymnasium.spec(env_id).max_episode_steps
        assert adapter.spec.action_repeat == 1
        adapter.close()
    image = spaces.Box(0, 255, (8, 8, 3), np.uint8)
    recorder = RecordingGymEnv(image, spaces.Discrete(3, start=-1))
    adapter = GymnasiumEnv(recorder, "recorder", max_episode_steps=20)
    assert adapter.spec.obs_shape == (8, 8, 3) and adapter.spec.obs_dtype == np.uint8
    assert adapter.spec.action == ActionSpec(kind="discrete", num_actions=3)
    obs, info = adapter.reset(np.random.default_rng(0))
    assert obs.dtype == np.uint8 and obs.shape == (8, 8, 3) and info == {}
    for index in (0, 2, 1):
        adapter.step(np.int32(index))
    assert recorder.actions == [-1, 1, 0]  # indices map onto the space's start


BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)


@pytest.mark.parametrize("observation, action, message", [
    (spaces.Dict({"a": BOX}), spaces.Discrete(2), "unsupported observation space Dict"),
    (spaces.Box(0.0, 1.0, (4, 4), np.float32), spaces.Discrete(2), r"unsupported observation space Box.*\(4, 4\)"),
    (spaces.Box(0.0, 1.0, (8, 8, 3), np.float32), spaces.Discrete(2), "unsupported observation space Box"),
    (spaces.Discrete(5), spaces.Discrete(2), "unsupported observation space Discrete"),
    (BOX, spaces.MultiDiscrete([2, 3]), "unsupported action space MultiDiscrete"),
    (BOX, spaces.Box(-np.inf, np.inf, (2,), np.float32), "unsupported action space Box"),
    (BOX, spaces.Box(-1.0, 1.0, (2, 2), np.float32), "unsupported action space Box"),
    (BOX, spaces.Discrete(1), r"unsupported action space Discrete\(1\)"),
])
def test_unsupported_spaces_are_named(observation, action, message):
    with pytest.raises(ValueError, match=message) as error:
        GymnasiumEnv(RecordingGymEnv(observation, action), "recorder", max_episode_steps=5)
    assert "\n" not in str(error.value) and str(error.value).startswith("recorder: ")


def test_from_gymnasium_argument_errors():
    with pytest.raises(ValueError, match="unknown gymnasium env id 'NoSuchEnv-v0'"):
        envs.from_gymnasium("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="only apply to a gymnasium id"):
        envs.from_gymnasium(lambda: RecordingGymEnv(BOX, BOX), render_mode="rgb_array")
    with pytest.raises(ValueError, match="max_episode_steps must be an int >= 1"):
        envs.from_gymnasium("CartPole-v1", max_episode_steps=0)
    with pytest.raises(ValueError, match="recorder: the env has no time limit; pass max_episode_steps"):
        GymnasiumEnv(RecordingGymEnv(BOX, BOX), "recorder")


def test_continuous_actions_are_rescaled_to_the_box():
    recorder = RecordingGymEnv(BOX, spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32)))
    adapter = GymnasiumEnv(recorder, "recorder", max_episode_steps=10)
    adapter.reset(np.random.default_rng(0))
    for action in ([-1.0, -1.0], [1.0, 1.0], [0.0, 0.5]):
        adapter.step(np.array(action, np.float32))
    np.testing.assert_array_equal(np.stack(recorder.actions), [[-2.0, 0.0], [2.0, 10.0], [0.0, 7.5]])
    assert all(a.dtype == np.float32 for a in recorder.actions)


def test_pendulum_matches_gymnasium_with_doubled_torques():
    """Pendulum's torque Box is [-2, 2]: our action a is gymnasium's 2a, step for step."""
    adapter = envs.from_gymnasium("Pendulum-v1")()
    adapter.reset(np.random.default_rng(3))
    reference = gymnasium.make("Pendulum-v1")
    reference.reset(seed=0)
    reference.unwrapped.state = adapter.env.unwrapped.state.copy()  # the same start
    for a in np.linspace(-1.0, 1.0, 15):
        obs, reward, terminated, _ = adapter.step(np.array([a], np.float32))
        ref_obs, ref_reward, ref_terminated, _, _ = reference.step(np.array([2.0 * a], np.float32))
        np.testing.assert_allclose(obs, ref_obs, rtol=1e-6)
        assert reward == pytest.approx(float(ref_reward), rel=1e-6) and terminated == ref_terminated


def test_time_limits_truncate_where_gymnasium_would(cleanup):
    cleanup += ["gym/pendulum", "gym/pendulum-7"]
    envs.register("gym/pendulum", host_factory=envs.from_gymnasium("Pendulum-v1"))
    env = envs.make("gym/pendulum", num_envs=1)
    reference = gymnasium.make("Pendulum-v1")  # with its own TimeLimit
    env.reset(0)
    reference.reset(seed=0)
    ours, theirs = [], []
    for _ in range(201):
        step = env.step(np.zeros((1, 1), np.float32))
        ours.append((bool(step.truncated[0]), bool(step.is_first[0])))
        if len(theirs) < 200:
            theirs.append(reference.step(np.zeros(1, np.float32))[3])
    assert [t for t, _ in ours[:200]] == theirs == [False] * 199 + [True]
    assert ours[200] == (False, True)  # the next step starts a fresh episode
    env.close()
    # A factory's env whose outermost wrapper is a TimeLimit: that limit becomes the episode length.
    factory = envs.from_gymnasium(lambda: gymnasium.make("Pendulum-v1", max_episode_steps=7))
    adapter = factory()
    assert adapter.spec.episode_length == 7
    adapter.reset(np.random.default_rng(0))
    for _ in range(9):  # gymnasium's own limit is gone: no error past frame 7
        adapter.step(np.zeros(1, np.float32))
    assert envs.register("gym/pendulum-7", host_factory=factory, action_repeat=2).spec.episode_length == 3


def test_truncations_the_host_protocol_cannot_carry_are_errors(cleanup):
    nested = envs.from_gymnasium(lambda: gymnasium.wrappers.TransformReward(gymnasium.make("Pendulum-v1"), float))
    with pytest.raises(ValueError, match="TimeLimit sits under TransformReward.*max_episode_steps=-1"):
        envs.register("gym/nested", host_factory=nested)
    adapter = envs.from_gymnasium(lambda: RecordingGymEnv(BOX, BOX, truncate_at=2), max_episode_steps=10)()
    adapter.reset(np.random.default_rng(0))
    adapter.step(np.zeros(2, np.float32))
    with pytest.raises(RuntimeError, match="gymnasium truncated the episode by itself"):
        adapter.step(np.zeros(2, np.float32))


def test_cartpole_terminates_where_gymnasium_does(cleanup):
    adapter = envs.from_gymnasium("CartPole-v1")()
    adapter.reset(np.random.default_rng(1))
    reference = gymnasium.make("CartPole-v1")
    reference.reset(seed=0)
    reference.unwrapped.state = adapter.env.unwrapped.state.copy()
    for t in range(1, 40):  # always pushing right topples the pole within a few dozen steps
        obs, reward, terminated, _ = adapter.step(np.int32(1))
        ref_obs, ref_reward, ref_terminated, _, _ = reference.step(1)
        np.testing.assert_allclose(obs, ref_obs, rtol=1e-6)
        assert (reward, terminated) == (ref_reward, ref_terminated)
        if terminated:
            break
    assert terminated and t > 3
    # Through the registry, the terminating step is flagged terminated (not truncated) and then reset.
    cleanup.append("gym/cartpole")
    envs.register("gym/cartpole", host_factory=envs.from_gymnasium("CartPole-v1"))
    env = envs.make("gym/cartpole", num_envs=1)
    env.reset(0)
    steps = [env.step(np.ones(1, np.int32)) for _ in range(40)]
    end = next(i for i, s in enumerate(steps) if s.done[0])
    assert steps[end].terminated[0] and not steps[end].truncated[0] and steps[end + 1].is_first[0]
    env.close()


def test_run_config_validates_registered_tasks(cleanup):
    tiny = dict(agents=("active",), env_steps=64, eval_interval=32, prefill=32, seq_len=8, batch_size=2, num_envs=1,
                num_seeds=1)
    with pytest.raises(ConfigError, match="unknown task 'gym/cartpole'"):
        RunConfig(task="gym/cartpole", **tiny)
    cleanup.append("gym/cartpole")
    envs.register("gym/cartpole", host_factory=envs.from_gymnasium("CartPole-v1"))
    assert RunConfig(task="gym/cartpole", backend="host", **tiny).task == "gym/cartpole"
    with pytest.raises(ConfigError, match="task gym/cartpole has no 'jax' backend"):
        RunConfig(task="gym/cartpole", backend="jax", **tiny)


def test_env_modules_variable_registers_tasks_at_first_lookup(tmp_path, monkeypatch, capsys, cleanup):
    cleanup.append("hooked/counter")
    monkeypatch.setattr(registry, "_env_modules", {})  # this test's imports are forgotten afterwards
    (tmp_path / "offon_test_hooked_envs.py").write_text(
        "import envs\nfrom tests.envs.toy import make_counter_env\n"
        "envs.register('hooked/counter', jax_factory=make_counter_env, episode_length=12)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.ENV_MODULES_VARIABLE, " offon_test_hooked_envs ,")
    assert "hooked/counter" not in envs.TASKS  # nothing is imported before a lookup
    assert RunConfig(task="hooked/counter", agents=("active",), num_seeds=1).task == "hooked/counter"
    assert envs_cli.main(["list"]) == 0
    text = capsys.readouterr().out
    assert "hooked/counter" in text and "1 registered with envs.register" in text
    # A module that cannot be imported: warned once, named when its task is looked up; built-ins still work.
    monkeypatch.setenv(registry.ENV_MODULES_VARIABLE, "offon_test_hooked_envs,offon_test_missing_envs")
    with pytest.warns(UserWarning, match="importing 'offon_test_missing_envs'.*failed: ModuleNotFoundError"):
        assert "debug/point_reach" in envs.task_names()
    with pytest.raises(KeyError, match="unknown task 'missing/task'.*importing 'offon_test_missing_envs'"):
        envs.get_task("missing/task")


def test_study_runs_on_a_registered_gymnasium_task(tmp_path, cleanup):
    """An Active study on gymnasium's CartPole, registered in this process: ~250 env steps on the host path."""
    from offon_jit.engine.study import Study
    from offon_jit.metrics_log import read_rows
    from offon_jit.replay import load_buffer

    cleanup.append("gym/cartpole")
    envs.register("gym/cartpole", host_factory=envs.from_gymnasium("CartPole-v1"))
    config = RunConfig(task="gym/cartpole", agents=("active",), num_seeds=1, env_steps=64, eval_interval=32,
                       prefill=32, seq_len=8, batch_size=2, num_envs=1, eval_episodes=2, episode_length=25,
                       checkpoint_every=0, out_dir=str(tmp_path / "run"))
    study = Study(config, progress=False)
    study.run()
    rows = read_rows(study.run_dir)
    assert [(r["agent"], r["env_steps"]) for r in rows] == [("active", 0), ("active", 32), ("active", 64)]
    for row in rows:  # CartPole pays 1 per step, the terminating one included: the score is the length
        assert row["score"] == row["episode_length"] and 1 <= row["episode_length"] <= 25
    buffer = load_buffer(study.layout.active_buffer("seed0"))
    assert int(buffer.total_added) == 32 + 64
    n = int(buffer.num_added)
    obs, action = (np.asarray(buffer.data[k])[0, :n] for k in ("obs", "action"))
    first, terminal = (np.asarray(buffer.data[k])[0, :n] for k in ("is_first", "is_terminal"))
    assert obs.shape == (n, 4) and np.all(np.abs(obs[:, 0]) <= 2.4 + 0.1)  # cart positions of real CartPole states
    assert set(np.unique(action.sum(-1))) == {1.0} and action.shape == (n, 2)  # one-hot over 2 actions
    ends = np.flatnonzero(terminal)
    assert first[0] and ends.size >= 1 and all(first[i + 1] for i in ends if i + 1 < n)
