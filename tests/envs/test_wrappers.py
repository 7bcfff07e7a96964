"""Wrapper semantics on a toy env with exactly known dynamics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import wrappers
from tests.envs.toy import make_counter_env


def rollout(env, key, actions):
    state = env.reset(key)

    def body(s, a):
        s = env.step(s, a)
        return s, s

    _, states = jax.lax.scan(body, state, jnp.asarray(actions))
    return state, states


def test_action_repeat_sums_rewards_and_counts_frames():
    env = wrappers.action_repeat(make_counter_env(), 3)
    assert env.spec.action_repeat == 3
    first, states = rollout(env, jax.random.PRNGKey(0), [1, 2, 0])
    np.testing.assert_allclose(states.reward, [3.0, 6.0, 0.0])
    np.testing.assert_allclose(states.obs[:, 0], first.obs[0] + np.array([3, 9, 9]))
    assert not bool(states.is_first.any())


def test_action_repeat_stops_at_termination():
    # Start is in [0, 100); terminal at >= 100 is reached within the repeat.
    raw = make_counter_env(terminal_at=100)
    env = wrappers.action_repeat(raw, 50)
    first = env.reset(jax.random.PRNGKey(3))
    start = int(first.backend["pos"])
    state = env.step(first, jnp.int32(4))
    frames_needed = int(np.ceil((100 - start) / 4))
    assert bool(state.terminated)
    assert float(state.reward) == 4.0 * frames_needed  # no reward after termination
    assert int(state.backend["pos"]) == start + 4 * frames_needed


def test_time_limit_truncates_and_counts_agent_steps():
    env = wrappers.time_limit(wrappers.action_repeat(make_counter_env(), 2), 4)
    assert env.spec.episode_length == 4
    _, states = rollout(env, jax.random.PRNGKey(0), [0] * 4)
    np.testing.assert_array_equal(states.step_count, [1, 2, 3, 4])
    np.testing.assert_array_equal(states.truncated, [False, False, False, True])
    assert not bool(states.terminated.any())


def test_termination_wins_over_truncation():
    env = wrappers.time_limit(make_counter_env(terminal_at=0), 1)
    state = env.step(env.reset(jax.random.PRNGKey(0)), jnp.int32(1))
    assert bool(state.terminated) and not bool(state.truncated)


def test_auto_reset_draws_fresh_initial_states():
    env = wrappers.auto_reset(wrappers.time_limit(make_counter_env(), 2))
    first, states = rollout(env, jax.random.PRNGKey(1), [1] * 30)
    is_first = np.asarray(states.is_first)
    np.testing.assert_array_equal(is_first, np.tile([False, False, True], 10))
    starts = np.asarray(states.obs[is_first, 0])
    # Fresh draws: starts vary (a cached first state would repeat first.obs every time).
    assert len(set(starts.tolist())) > 5
    assert np.all(np.asarray(states.reward)[is_first] == 0.0)
    np.testing.assert_array_equal(np.asarray(states.step_count)[is_first], 0)


def test_same_key_same_trajectory_different_key_different_start():
    env = jax.jit(lambda k: rollout(wrappers.auto_reset(wrappers.time_limit(make_counter_env(), 3)), k, [2] * 12))
    a = env(jax.random.PRNGKey(5))
    b = env(jax.random.PRNGKey(5))
    c = env(jax.random.PRNGKey(6))
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(np.asarray(a[1].obs), np.asarray(c[1].obs))


def test_sticky_actions_repeat_previous_action():
    raw = make_counter_env()
    always = wrappers.sticky_actions(raw, 0.999999)
    never = wrappers.sticky_actions(raw, 0.0)
    _, s_always = rollout(always, jax.random.PRNGKey(0), [3, 3, 3])
    _, s_never = rollout(never, jax.random.PRNGKey(0), [3, 3, 3])
    # The previous action starts as 0 (no-op), so an always-sticky env never moves.
    np.testing.assert_array_equal(s_always.reward, [0, 0, 0])
    np.testing.assert_array_equal(s_never.reward, [3, 3, 3])
    half = wrappers.sticky_actions(raw, 0.5)
    _, s_half = rollout(half, jax.random.PRNGKey(0), np.tile([4, 1], 200))
    rewards = np.asarray(s_half.reward)
    wanted = np.tile([4.0, 1.0], 200)
    # With alternating wishes, the executed action differs from the wish only if it stuck
    # (p=0.5) to a previous action that itself was not stuck: m = 0.5 * (1 - m) -> m = 1/3.
    mismatch = np.mean(rewards[1:] != wanted[1:])
    assert abs(mismatch - 1 / 3) < 0.06


def test_sticky_actions_need_discrete_actions():
    env = make_counter_env()
    continuous = env.replace(spec=env.spec.replace(action=__import__("envs").ActionSpec("continuous", shape=(2,))))
    with pytest.raises(ValueError, match="discrete"):
        wrappers.sticky_actions(continuous, 0.1)


def test_resize_and_cast_images():
    base = make_counter_env()

    def image(obs):
        # a 10x10x2 binary frame with one pixel lit per channel
        frame = jnp.zeros((10, 10, 2), bool)
        return frame.at[3, 7, 0].set(True).at[9, 0, 1].set(True)

    env = wrappers.map_obs(base, image, (10, 10, 2), "bool")
    env = wrappers.resize_image(wrappers.cast_obs(env, "uint8", 255.0), 32)
    assert env.spec.obs_shape == (32, 32, 2) and env.spec.obs_dtype == np.uint8
    obs = np.asarray(env.reset(jax.random.PRNGKey(0)).obs)
    assert obs.dtype == np.uint8 and set(np.unique(obs)) == {0, 255}
    # Nearest-neighbour: the lit cell maps to a 3-4 pixel wide block at the scaled location.
    ys, xs = np.nonzero(obs[..., 0])
    assert 9 <= ys.min() and ys.max() <= 13 and 22 <= xs.min() and xs.max() <= 25


def test_batched_env_steps_independent_copies():
    env = wrappers.batched(wrappers.time_limit(make_counter_env(), 5), 4)
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    assert state.obs.shape == (4, 1)
    assert len(set(np.asarray(state.obs[:, 0]).tolist())) > 1
    nxt = jax.jit(env.step)(state, jnp.array([0, 1, 2, 3]))
    np.testing.assert_array_equal(nxt.reward, [0, 1, 2, 3])


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_wrapper_arguments(bad):
    env = make_counter_env()
    with pytest.raises(ValueError):
        wrappers.action_repeat(env, bad)
    with pytest.raises(ValueError):
        wrappers.time_limit(env, bad)
    with pytest.raises(ValueError):
        wrappers.batched(env, bad)


def test_batched_auto_reset_matches_per_env_auto_reset():
    """Batch-level resets give exactly the per-env `auto_reset` semantics."""
    raw = wrappers.time_limit(make_counter_env(), 3)
    per_env = wrappers.batched(wrappers.auto_reset(raw), 4)
    batch_level = wrappers.batched(raw, 4, auto_reset=True)
    actions = jnp.tile(jnp.arange(4)[None], (10, 1))
    _, a = rollout(per_env, jax.random.PRNGKey(2), actions)
    _, b = rollout(batch_level, jax.random.PRNGKey(2), actions)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    assert bool(np.asarray(b.is_first).any())


def test_reset_reduced_over_a_named_seed_axis_stays_a_branch_with_the_same_results():
    """Under the engine's seed vmap a plain batch-level cond becomes a select that resets
    every step; reducing the decision over the named axis keeps one real branch."""
    raw = wrappers.time_limit(make_counter_env(terminal_at=100), 8)
    plain = wrappers.batched(raw, 4, auto_reset=True)
    named = wrappers.batched(raw, 4, auto_reset=True, reset_axis_name="seeds")
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    # Seeds and envs move at different speeds, so episodes end (and reset) at different steps.
    actions = jnp.stack([jnp.tile((jnp.arange(4)[None] + 1) * (s + 1) * 3, (12, 1)) for s in range(3)])
    _, expected = jax.vmap(lambda k, a: rollout(plain, k, a))(keys, actions)
    _, got = jax.vmap(lambda k, a: rollout(named, k, a), axis_name="seeds")(keys, actions)
    jax.tree_util.tree_map(np.testing.assert_array_equal, expected, got)
    resets = np.asarray(expected.is_first)  # (seeds, steps, envs)
    assert resets.any() and len({r.tobytes() for r in resets}) == 3  # each seed resets on its own schedule
    step = lambda env: lambda s, a: env.step(s, a)  # noqa: E731
    states = jax.vmap(plain.reset)(keys)
    plain_jaxpr = str(jax.make_jaxpr(jax.vmap(step(plain)))(states, actions[:, 0]))
    named_jaxpr = str(jax.make_jaxpr(jax.vmap(step(named), axis_name="seeds"))(states, actions[:, 0]))
    assert " cond[" in named_jaxpr and " cond[" not in plain_jaxpr
