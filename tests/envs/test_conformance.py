"""Every registered task on every backend that runs on CPU obeys the env protocol.

Episodes are shortened to 3 agent steps (the `episode_length` override) so that a
9-step rollout crosses two time-limit truncations and two auto-resets on every task.
Tasks added with `envs.register` are held to the same checks: the toy JAX counter
(tests/envs/toy.py) and gymnasium's CartPole-v1 and Pendulum-v1 through the adapter.
"""

import functools
from functools import partial
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import envs.__main__ as envs_cli
from envs.make import resolve_backend
from envs.registry import paper_task_names
from envs.random_policy import random_actions, random_actions_np
from tests.envs.toy import make_counter_env

LIMIT, STEPS, NUM_ENVS = 3, 9, 2
# Humanoid and quadruped MJX programs take minutes to compile on a 2-core CPU: marked slow.
# The other Playground tasks share one protocol implementation: reacher (the cheapest to
# compile) checks it in CI, and test_dmc_playground.py compares every task with dm_control.
SLOW_JAX = {"dmc/humanoid_walk-proprio", "dmc/quadruped_run-proprio", "dmc/hopper_hop-proprio",
            "dmc/cheetah_run-proprio", "dmc/walker_walk-proprio", "dmc/finger_turn_hard-proprio",
            "dmc/cup_catch-proprio"}
# The ray-cast vision tasks add their physics' compile: reacher checks the vision protocol in CI.
SLOW_JAX |= {name.replace("-proprio", "-vision") for name in SLOW_JAX} | {"dmc/point_mass_maze-vision"}
PARAMS = [
    pytest.param(name, backend, marks=[pytest.mark.slow] if (backend == "jax" and name in SLOW_JAX) else [],
                 id=f"{name}[{backend}]")
    for name in envs.task_names()
    for backend in envs.get_task(name).backends
]
# After reset: steps 1..3 of episode one, step 4 is the reset, 5..7 episode two, 8 reset, 9.
EXPECTED_FIRST = np.array([False, False, False, True, False, False, False, True, False])
EXPECTED_TRUNC = np.array([False, False, True, False, False, False, True, False, False])


@functools.lru_cache(maxsize=1)  # one task's program at a time: MJX executables are large
def jax_rollout(name):
    env = envs.make(name, backend="jax", num_envs=NUM_ENVS, episode_length=LIMIT)

    # Optimisation level 0 halves the MJX compile time; these rollouts are only 9 steps long.
    @partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
    def run(key):
        reset_key, action_key = jax.random.split(key)
        first = env.reset(reset_key)
        actions = random_actions(action_key, env.spec.action, (STEPS, NUM_ENVS))

        def body(state, action):
            state = env.step(state, action)
            return state, (state.obs, state.reward, state.terminated, state.truncated, state.is_first)

        _, traj = jax.lax.scan(body, first, actions)
        return first, traj

    return env, run


def host_rollout(env, seed):
    rng = np.random.default_rng(seed)
    first = env.reset(seed)
    steps = [env.step(random_actions_np(rng, env.spec.action, NUM_ENVS)) for _ in range(STEPS)]
    stack = lambda field: np.stack([getattr(s, field) for s in steps])  # noqa: E731
    return first, tuple(stack(f) for f in ("obs", "reward", "terminated", "truncated", "is_first"))


def check_trajectory(spec, first_obs, traj):
    obs, reward, terminated, truncated, is_first = (np.asarray(x) for x in traj)
    assert np.asarray(first_obs).shape == (NUM_ENVS, *spec.obs_shape)
    assert np.asarray(first_obs).dtype == spec.obs_dtype
    assert obs.shape == (STEPS, NUM_ENVS, *spec.obs_shape) and obs.dtype == spec.obs_dtype
    assert reward.dtype == np.float32 and np.all(np.isfinite(reward))
    if spec.obs_dtype.kind == "f":
        assert np.all(np.isfinite(obs))
    # No task can end on its own within 3 agent steps from a fresh start.
    assert not terminated.any()
    for env_index in range(NUM_ENVS):
        np.testing.assert_array_equal(is_first[:, env_index], EXPECTED_FIRST)
        np.testing.assert_array_equal(truncated[:, env_index], EXPECTED_TRUNC)
    assert np.all(reward[EXPECTED_FIRST] == 0.0)


# Registered for the registered-task checks only, and removed again after each.
REGISTERED = {
    "toy/counter": dict(jax_factory=make_counter_env, action_repeat=2),
    "gym/cartpole": dict(host_factory=envs.from_gymnasium("CartPole-v1")),
    "gym/pendulum": dict(host_factory=envs.from_gymnasium("Pendulum-v1")),
}


@pytest.fixture
def registered_tasks():
    for name, options in REGISTERED.items():
        envs.register(name, **options)
    yield
    for name in REGISTERED:
        envs.unregister(name)


@pytest.mark.parametrize("name,backend", PARAMS)
def test_task_conforms(name, backend):
    check_task(name, backend)


@pytest.mark.parametrize("name,backend", [("toy/counter", "jax"), ("gym/cartpole", "host"), ("gym/pendulum", "host")])
def test_registered_task_conforms(registered_tasks, name, backend):
    assert envs.get_task(name).registered and envs.get_task(name).backends == (backend,)
    check_task(name, backend)


def check_task(name, backend):
    entry = envs.get_task(name)
    assert entry.spec.episode_length == entry.settings.episode_length
    if backend == "jax":
        env, run = jax_rollout(name)
        first, traj = run(jax.random.PRNGKey(0))
        again = run(jax.random.PRNGKey(0))
        other, _ = run(jax.random.PRNGKey(1))
        check_trajectory(env.spec, first.obs, traj)
        jax.tree_util.tree_map(np.testing.assert_array_equal, (first, traj), again)
        # Different keys (across the batch and across calls) give different initial states.
        leaves = lambda tree: np.concatenate([np.ravel(x).astype(np.float64) for x in jax.tree_util.tree_leaves(tree)])  # noqa: E731
        if entry.suite != "minatar":  # asterix, seaquest, space_invaders always start alike
            assert not np.array_equal(leaves(jax.tree_util.tree_map(lambda x: x[0], first.backend)),
                                      leaves(jax.tree_util.tree_map(lambda x: x[1], first.backend)))
            assert not np.array_equal(leaves(first.backend), leaves(other.backend))
    else:
        env = envs.make(name, backend="host", num_envs=NUM_ENVS, episode_length=LIMIT)
        try:
            first, traj = host_rollout(env, seed=0)
            check_trajectory(env.spec, first.obs, traj)
            first_again, traj_again = host_rollout(env, seed=0)
            np.testing.assert_array_equal(first.obs, first_again.obs)
            for a, b in zip(traj, traj_again):
                np.testing.assert_array_equal(a, b)
            other, _ = host_rollout(env, seed=1)
            if entry.suite != "minatar":  # MinAtar games can start from identical screens
                assert not np.array_equal(first.obs, other.obs)
        finally:
            env.close()


def test_jax_env_under_jit_vmap_of_single_env():
    env = envs.make("minatar/breakout", backend="jax")
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    states = jax.jit(jax.vmap(env.reset))(keys)
    states = jax.jit(jax.vmap(env.step))(states, jnp.zeros(3, jnp.int32))
    assert states.obs.shape == (3, 32, 32, 4)


def test_unknown_task_names_alternatives():
    with pytest.raises(KeyError, match="dmc/cheetah_run-proprio"):
        envs.make("dmc/cheetah_runn-proprio")


def test_a_missing_backend_names_alternatives():
    with pytest.raises(ValueError, match="no 'jax' backend.*metaworld/pick-place with backend='host'"):
        envs.make("metaworld/pick-place", backend="jax")


def test_bad_backend_and_options():
    with pytest.raises(ValueError, match="unknown backend"):
        envs.make("minatar/breakout", backend="gpu")
    with pytest.raises(ValueError, match="sticky_prob only applies to MinAtar"):
        envs.make("dmc/cheetah_run-proprio", sticky_prob=0.1)


def test_registry_has_the_papers_31_tasks():
    names = paper_task_names()
    assert len(names) == 31 and set(envs.task_names()) - set(names) == {"debug/point_reach"}
    assert sum(n.startswith("dmc/") for n in names) == 18
    assert sum(n.startswith("metaworld/") for n in names) == 8
    assert sum(n.startswith("minatar/") for n in names) == 5
    for name in names:  # `auto` picks the JAX-native backend wherever one exists
        entry = envs.get_task(name)
        assert resolve_backend(entry, "auto") == ("jax" if "jax" in entry.backends else "host")
    assert "jax" in envs.get_task("dmc/quadruped_run-proprio").backends
    assert envs.get_task("dmc/quadruped_run-vision").backends == ("jax", "host")
    assert resolve_backend(envs.get_task("dmc/quadruped_run-vision"), "auto") == "jax"  # the ray caster


def test_list_command_prints_every_task(capsys):
    assert envs_cli.main(["list"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in envs.task_names())
    assert "DMC vision frames are drawn by host: dm_control" in text and "jax: JAX ray caster" in text
    assert envs_cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["task"] for r in rows} == set(envs.task_names())
    vision = next(r for r in rows if r["task"] == "dmc/cheetah_run-vision")
    assert set(vision["renderers"]) == {"jax", "host"} and "ray caster" in vision["renderers"]["jax"]
    breakout = next(r for r in rows if r["task"] == "minatar/breakout")
    assert breakout["obs_shape"] == [32, 32, 4] and breakout["action"] == {"kind": "discrete", "num_actions": 3}
