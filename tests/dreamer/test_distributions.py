"""DreamerV3 maths against plain numpy / Python references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer.actor_critic import lambda_returns
from offon_jit.dreamer.distributions import (
    BoundedNormalDist,
    OneHotDist,
    bernoulli_log_prob,
    free_bits,
    symexp,
    symlog,
    twohot,
    twohot_bins,
    twohot_decode,
    twohot_log_prob,
    twohot_mean,
    unimix_logits,
)
from offon_jit.dreamer.normalizer import ReturnNormState, init_return_norm, return_scale, update_return_norm

BINS = twohot_bins(255, -20.0, 20.0)


def test_symlog_and_symexp_invert_each_other():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(0, 1000, 200), [0.0, -1.0, 1.0, 1e6, -1e6]]).astype(np.float32)
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5, atol=1e-6)
    y = np.linspace(-12, 12, 101, dtype=np.float32)
    np.testing.assert_allclose(symlog(symexp(y)), y, rtol=1e-5, atol=1e-6)
    # Odd, identity-like near zero, logarithmic far out.
    np.testing.assert_allclose(symlog(-x), -symlog(x))
    assert float(symlog(0.0)) == 0.0
    np.testing.assert_allclose(symlog(np.float32(1e-3)), 1e-3, rtol=1e-3)
    np.testing.assert_allclose(symlog(np.float32(1e4)), np.log1p(1e4), rtol=1e-6)


def test_twohot_encodes_and_decodes_values_inside_the_bin_range():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-20, 20, 500), np.asarray(BINS[:5]), np.asarray(BINS[-5:]), [0.0]]).astype(np.float32)
    weights = np.asarray(twohot(jnp.asarray(x), BINS))
    assert weights.shape == (x.size, 255)
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    nonzero = (weights > 0).sum(-1)
    assert nonzero.max() <= 2 and nonzero.min() >= 1
    # The two active bins are neighbours.
    for row in weights[nonzero == 2][:50]:
        i, j = np.flatnonzero(row)
        assert j == i + 1
    np.testing.assert_allclose(twohot_decode(weights, BINS), x, atol=2e-5)


def test_twohot_clips_values_outside_the_range_to_the_end_bins():
    weights = np.asarray(twohot(jnp.array([-50.0, 35.0]), BINS))
    np.testing.assert_allclose(weights[0, 0], 1.0)
    np.testing.assert_allclose(weights[1, -1], 1.0)


def test_twohot_log_prob_and_mean_are_consistent_on_the_symlog_scale():
    targets = jnp.array([0.0, 0.3, -2.5, 17.0, -300.0, 4000.0])
    weights = twohot(symlog(targets), BINS)
    logits = jnp.log(weights + 1e-30)  # a prediction equal to the two-hot target
    np.testing.assert_allclose(twohot_mean(logits, BINS), targets, rtol=1e-4, atol=1e-5)
    # The log-likelihood is maximised by that prediction: a uniform prediction scores worse.
    best = twohot_log_prob(logits, targets, BINS)
    uniform = twohot_log_prob(jnp.zeros_like(logits), targets, BINS)
    np.testing.assert_allclose(uniform, -np.log(255.0), rtol=1e-6)
    assert bool(jnp.all(best > uniform))
    expected = np.sum(np.asarray(weights) * np.log(np.asarray(weights) + 1e-30), -1)
    np.testing.assert_allclose(best, expected, atol=1e-4)


def test_free_bits_clip_the_kl_below_one_nat_with_zero_gradient():
    kl = jnp.array([0.0, 0.25, 0.999, 1.001, 1.5, 7.0])
    np.testing.assert_array_equal(free_bits(kl, 1.0), np.maximum(np.asarray(kl), np.float32(1.0)))
    np.testing.assert_array_equal(free_bits(kl, 1.0)[:3], 1.0)
    grad = jax.grad(lambda k: jnp.sum(free_bits(k, 1.0) * jnp.arange(1.0, 7.0)))(kl)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0, 4.0, 5.0, 6.0])


def python_lambda_returns(reward, value, discount, lam):
    horizon = reward.shape[0]
    returns = np.zeros_like(reward)
    nxt = value[horizon]
    for t in reversed(range(horizon)):
        nxt = reward[t] + discount[t] * ((1 - lam) * value[t + 1] + lam * nxt)
        returns[t] = nxt
    return returns


@pytest.mark.parametrize("lam", [0.0, 0.95, 1.0])
def test_lambda_returns_match_a_plain_python_recursion(lam):
    rng = np.random.default_rng(2)
    horizon, n = 15, 6
    reward = rng.normal(size=(horizon, n)).astype(np.float32)
    value = rng.normal(size=(horizon + 1, n)).astype(np.float32)
    cont = (rng.random((horizon, n)) > 0.2).astype(np.float32)
    discount = (1 - 1 / 333) * cont
    got = lambda_returns(jnp.asarray(reward), jnp.asarray(value), jnp.asarray(discount), lam)
    np.testing.assert_allclose(got, python_lambda_returns(reward, value, discount, lam), rtol=1e-5, atol=1e-5)
    if lam == 0.0:  # one-step TD targets
        np.testing.assert_allclose(got, reward + discount * value[1:], rtol=1e-6, atol=1e-6)


def test_percentile_normaliser_matches_numpy_and_its_ema():
    rng = np.random.default_rng(3)
    state = init_return_norm()
    low, high = 0.0, 0.0
    for scale in (0.1, 5.0, 40.0, 40.0):
        returns = (rng.standard_t(3, size=(15, 64)) * scale + 2.0).astype(np.float32)
        state = update_return_norm(state, jnp.asarray(returns), 0.99, 5.0, 95.0)
        low = 0.99 * low + 0.01 * np.percentile(returns, 5)
        high = 0.99 * high + 0.01 * np.percentile(returns, 95)
        np.testing.assert_allclose(state.low, low, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state.high, high, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(return_scale(state, 1.0), max(1.0, high - low), rtol=1e-5)
    assert high - low > 1.0  # the last updates exercised the range branch, the first the floor
    small = ReturnNormState(low=jnp.float32(0.2), high=jnp.float32(0.5))
    assert float(return_scale(small, 1.0)) == 1.0


def test_straight_through_samples_are_one_hot_with_nonzero_gradients():
    logits = jnp.array([[0.3, -1.0, 2.0, 0.0], [1.0, 1.0, -3.0, 0.5]])
    weights = jnp.array([1.0, -2.0, 0.5, 3.0])
    sample = OneHotDist(logits).sample(jax.random.PRNGKey(0))
    assert set(np.unique(np.asarray(sample))) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.asarray(sample).sum(-1), 1.0)
    grad = jax.grad(lambda l: jnp.sum(OneHotDist(l).sample(jax.random.PRNGKey(0)) * weights))(logits)
    assert np.abs(np.asarray(grad)).min() > 0
    # Straight-through: the gradient is that of the expected value under the probabilities.
    expected = jax.grad(lambda l: jnp.sum(jax.nn.softmax(l) * weights))(logits)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_unimix_probabilities_never_fall_below_the_mix_floor():
    classes = 32
    logits = jnp.concatenate([jnp.full((1, classes), -1e4), jax.random.normal(jax.random.PRNGKey(1), (4, classes)) * 50])
    logits = logits.at[0, 3].set(1e4)
    probs = np.exp(np.asarray(unimix_logits(logits, 0.01)))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert probs.min() >= 0.01 / classes * (1 - 1e-5)
    np.testing.assert_allclose(probs[0, 3], 0.99 + 0.01 / classes, rtol=1e-6)


def test_categorical_kl_matches_numpy_and_vanishes_on_equal_distributions():
    rng = np.random.default_rng(4)
    p_logits, q_logits = rng.normal(size=(2, 5, 8)).astype(np.float32)
    p = np.exp(p_logits) / np.exp(p_logits).sum(-1, keepdims=True)
    q = np.exp(q_logits) / np.exp(q_logits).sum(-1, keepdims=True)
    kl = OneHotDist(jnp.asarray(p_logits)).kl(OneHotDist(jnp.asarray(q_logits)))
    np.testing.assert_allclose(kl, (p * (np.log(p) - np.log(q))).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(OneHotDist(jnp.asarray(p_logits)).kl(OneHotDist(jnp.asarray(p_logits))), 0.0, atol=1e-6)


def test_bounded_normal_keeps_mean_and_std_in_range_and_matches_the_gaussian_density():
    raw = jnp.array([[-1e3, 0.0, 1e3]])
    dist = BoundedNormalDist.from_outputs(raw, raw, 0.1, 1.0)
    np.testing.assert_allclose(dist.mean, [[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(dist.std, [[0.1, 0.1 + 0.9 * (1 / (1 + np.exp(-2.0))), 1.0]], rtol=1e-6)
    x = jnp.array([[0.5, -0.2, 0.9]])
    mean, std = np.asarray(dist.mean), np.asarray(dist.std)
    expected = np.sum(-0.5 * ((x - mean) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi)), -1)
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-5)
    np.testing.assert_allclose(dist.entropy(), np.sum(0.5 * np.log(2 * np.pi * np.e * std**2), -1), rtol=1e-6)
    # Reparameterised samples carry gradients to the mean output.
    grad = jax.grad(lambda m: BoundedNormalDist.from_outputs(m, raw, 0.1, 1.0).sample(jax.random.PRNGKey(0)).sum())(
        jnp.zeros((1, 3))
    )
    np.testing.assert_allclose(grad, 1.0)


def test_bernoulli_log_prob_matches_the_closed_form():
    logit = jnp.array([-3.0, 0.0, 2.0])
    prob = 1 / (1 + np.exp(-np.asarray(logit)))
    np.testing.assert_allclose(bernoulli_log_prob(logit, jnp.ones(3)), np.log(prob), rtol=1e-6)
    np.testing.assert_allclose(bernoulli_log_prob(logit, jnp.zeros(3)), np.log(1 - prob), rtol=1e-6)
