"""Adaptive exploration weight (expl_rule "decay", expl_schedule.py): the pure rule's range, limits
and monotonicity; the agent's update under it (vmappable, decay 0 = the fixed rule bitwise, the
logged weight follows the logged disagreement level, measured on the batch's own transitions)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import agent
from offon_jit.dreamer import expl_schedule as rule
from offon_jit.dreamer import plan2explore as p2e
from tests.dreamer import helpers as H

# Equal to test_plan2explore / test_controls' P2E_CONFIG, so one pytest process compiles its update once.
FIXED_CONFIG = H.POINT_CONFIG.replace(disag_models=8)
# A fast EMA so that three updates move the level visibly (the default rate is 0.01).
DECAY_CONFIG = FIXED_CONFIG.replace(expl_rule="decay", expl_decay_rate=0.5)
# Rows of the vmapped run: (init seed, w_0, decay). Row 0 is the fixed-rule comparison, row 1 decays fully.
AGENTS = ((7, 0.5, 0.0), (7, 0.5, 1.0), (8, 0.9, 0.5))
STEPS = 3

train_step_vmapped = jax.jit(jax.vmap(agent.train_step))
agent_latent = jax.jit(agent.agent_latent)
data_disagreement = jax.jit(p2e.data_disagreement, static_argnums=1)


# ---------------------------------------------------------------- the pure rule


@jax.jit
@jax.vmap
def rule_trajectory(expl_weight, expl_decay, rate, disagreements):
    """(levels (L, 2), weights (L,)) of the rule along one sequence of measured disagreements."""

    def step(carry, inputs):
        level, first = carry
        level = rule.update_disag_level(level, inputs, rate, first)
        return (level, False), (level, rule.effective_weight(expl_weight, expl_decay, level))

    _, out = jax.lax.scan(step, (rule.init_disag_level(), True), disagreements)
    return out


def reference_levels(disagreements: np.ndarray, rate: float) -> np.ndarray:
    """float64 (peak, EMA) per step: the EMA starts at the first value, the peak is its running max."""
    ema, levels = disagreements[0], []
    for i, d in enumerate(disagreements):
        ema = d if i == 0 else (1 - rate) * ema + rate * d
        levels.append((max(levels[-1][0], ema) if levels else ema, ema))
    return np.array(levels)


def random_cases(rng, cases: int, length: int):
    """w_0 and decay in [0, 1] (the ends included), rates in (0, 1], disagreement sequences >= 0:
    log-normal over four decades, about a third of the entries zero, every tenth sequence all zeros."""
    def unit(size):
        u = rng.random(size)
        u[rng.random(size) < 0.1] = 0.0
        u[rng.random(size) < 0.1] = 1.0
        return u.astype(np.float32)

    weights, decays = unit(cases), unit(cases)
    rates = np.where(rng.random(cases) < 0.2, 1.0, rng.uniform(1e-3, 1.0, cases)).astype(np.float32)
    disag = np.exp(rng.normal(-2.0, 2.0, (cases, length)))
    disag[rng.random((cases, length)) < 0.3] = 0.0
    disag[::10] = 0.0
    return weights, decays, rates, disag.astype(np.float32)


def test_rule_stays_in_range_and_has_the_stated_limits():
    rng = np.random.default_rng(15)
    weights, decays, rates, disag = random_cases(rng, 2000, 24)
    levels, w = jax.device_get(rule_trajectory(weights, decays, rates, disag))
    assert np.isfinite(w).all() and np.isfinite(levels).all()
    peak, ema = levels[..., 0], levels[..., 1]
    assert (ema >= 0).all() and (ema <= peak).all()
    assert (w >= 0).all() and (w <= weights[:, None]).all() and (w <= 1).all()
    # The level is the EMA (started at the first measurement) and its running max.
    for i in range(0, 2000, 37):
        # float32 rounding of (d - m) is relative to the sequence's largest values
        np.testing.assert_allclose(levels[i], reference_levels(disag[i].astype(np.float64), float(rates[i])),
                                   rtol=1e-5, atol=1e-6 * disag[i].max())  # fmt: skip
    # decay = 0: w_0 exactly, at every step.
    fixed = decays == 0
    assert fixed.sum() > 100
    np.testing.assert_array_equal(w[fixed], np.broadcast_to(weights[fixed, None], w[fixed].shape))
    # decay = 1: w_0 * m / peak (and w_0 while the peak is 0, e.g. for an all-zero sequence).
    full = decays == 1
    assert full.sum() > 100
    ratio = np.where(peak > 0, ema / np.where(peak > 0, peak, 1), 1.0)
    np.testing.assert_allclose(w[full], weights[full, None] * ratio[full], rtol=1e-6, atol=1e-7)
    zero_peak = peak == 0
    assert zero_peak.any()
    np.testing.assert_array_equal(w[zero_peak], np.broadcast_to(weights[:, None], w.shape)[zero_peak])
    # Some cases do decay: the sweep is not all at the ceiling.
    assert (w < 0.5 * weights[:, None]).sum() > 1000


def test_rule_is_monotone_under_a_falling_disagreement():
    rng = np.random.default_rng(16)
    weights, decays, rates, disag = random_cases(rng, 1000, 24)
    falling = -np.sort(-disag, axis=1)  # non-increasing; repeated values and trailing zeros included
    falling[::7, 8:16] = falling[::7, 8:9]  # long flat stretches
    _, w = jax.device_get(rule_trajectory(weights, decays, rates, falling))
    assert (np.diff(w, axis=1) <= 0).all()
    assert (np.diff(w, axis=1) < 0).any()
    # A rising sequence never lowers w: the level is its own peak.
    _, w_rising = jax.device_get(rule_trajectory(weights, decays, rates, np.sort(disag, axis=1)))
    np.testing.assert_array_equal(w_rising, np.broadcast_to(weights[:, None], w_rising.shape))


# ---------------------------------------------------------------- the agent


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _row(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _numpy_leaves(tree) -> list:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


def _assert_trees_equal(a, b, what: str) -> None:
    flat_a, flat_b = _numpy_leaves(a), _numpy_leaves(b)
    assert len(flat_a) == len(flat_b), what
    for x, y in zip(flat_a, flat_b):
        np.testing.assert_array_equal(x, y, err_msg=what)


def _init(config, seed, w0, decay):
    return agent.init_agent(jax.random.PRNGKey(seed), H.POINT_SPEC, config, expl_weight=w0, expl_decay=decay)


def _run(state):
    """STEPS updates on point batches 0.. with keys 20..: (states after each step, metrics of each step)."""
    states, metrics = [state], []
    for i in range(STEPS):
        state, m = H.train_step(state, H.point_batch(i), jax.random.PRNGKey(20 + i))
        states.append(state)
        metrics.append(jax.device_get(m))
    return states, metrics


@pytest.fixture(scope="module")
def decay_runs():
    """Each agent of AGENTS run alone under the decay rule."""
    return [_run(_init(DECAY_CONFIG, *row)) for row in AGENTS]


def test_train_step_vmaps_over_weights_and_decays(decay_runs):
    state = _stack([_init(DECAY_CONFIG, *row) for row in AGENTS])
    np.testing.assert_array_equal(state.expl_decay, np.float32([d for _, _, d in AGENTS]))
    rows = len(AGENTS)
    for i in range(STEPS):
        batch = _stack([H.point_batch(i)] * rows)
        state, metrics = train_step_vmapped(state, batch, jnp.stack([jax.random.PRNGKey(20 + i)] * rows))
        metrics = jax.device_get(metrics)
        for r, (states, alone) in enumerate(decay_runs):
            row, single = _row(state, r), states[i + 1]
            # The rule's state agrees up to the rounding of batched matmuls: its input, the ensemble's
            # disagreement, comes from them (bitwise on some CPUs, 1 ulp apart on others).
            rule_leaves = lambda s: (s.disag_level, s.expl_weight, s.expl_decay)
            for x, y in zip(_numpy_leaves(rule_leaves(row)), _numpy_leaves(rule_leaves(single))):
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=0, err_msg="rule")
            for name in alone[i]:
                np.testing.assert_allclose(metrics[name][r], alone[i][name], rtol=1e-6, atol=1e-6, err_msg=name)
            # atol 1e-5: Adam's first steps are ~lr * g / (|g| + eps), so a gradient element near eps
            # (1e-8) turns rounding-sized differences into parameter differences of a few 1e-6.
            for x, y in zip(_numpy_leaves(row), _numpy_leaves(single)):
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-5)
    # The three rows really differ: their effective weights are w_0, a decayed w_0, and a third value.
    w_eff = metrics["expl_weight_eff"]
    assert w_eff[0] == 0.5 and w_eff[1] < 0.5 and len(set(w_eff.tolist())) == 3
    np.testing.assert_array_equal(state.expl_weight, np.float32([w for _, w, _ in AGENTS]))  # the leaf never changes


def test_zero_decay_equals_the_fixed_rule_bitwise(decay_runs):
    fixed_states, fixed_metrics = _run(_init(FIXED_CONFIG, 7, 0.5, 0.0))
    decay_states, decay_metrics = decay_runs[0]
    for fixed, decayed in zip(fixed_states[1:], decay_states[1:]):
        for field in ("params", "opt_states", "return_norm", "step", "expl_weight"):
            _assert_trees_equal(getattr(fixed, field), getattr(decayed, field), field)
        np.testing.assert_array_equal(fixed.disag_level, 0.0)  # the fixed rule never measures
        assert (decayed.disag_level > 0).all()
    for fixed, decayed in zip(fixed_metrics, decay_metrics):
        assert set(decayed) - set(fixed) == {"expl_weight_eff", "disag_level"}
        for name in fixed:
            assert fixed[name] == decayed[name], name
        assert decayed["expl_weight_eff"] == np.float32(0.5)


def test_full_decay_logs_w0_times_the_levels_fall_from_its_peak(decay_runs):
    w0 = AGENTS[1][1]
    states, metrics = decay_runs[1]
    weights = np.array([m["expl_weight_eff"] for m in metrics])
    levels = np.array([np.asarray(s.disag_level) for s in states[1:]])
    np.testing.assert_array_equal([m["disag_level"] for m in metrics], levels[:, 1])
    np.testing.assert_array_equal(levels[:, 0], np.maximum.accumulate(levels[:, 1]))  # the peak
    assert (weights <= w0).all() and weights[0] == np.float32(w0)  # the first level is its own peak
    np.testing.assert_allclose(weights, w0 * levels[:, 1] / levels[:, 0], rtol=1e-6)
    assert weights[-1] < w0  # on this data the disagreement falls, and w with it
    # The EMA started at the updated ensemble's mean disagreement on the first batch's transitions
    # (the data's actions; pairs across an episode start masked), taken on that update's posterior.
    before, after, batch = states[0], states[1], H.point_batch(0)
    wm_key, _ = jax.random.split(jax.random.PRNGKey(20))
    post = agent_latent(before, batch, wm_key)
    assert (batch["is_first"][:, 1:]).any()  # the mask matters on this batch
    measured = data_disagreement(after.params["disag"], DECAY_CONFIG, post, batch["action"], batch["is_first"])
    np.testing.assert_allclose(levels[0, 1], measured, rtol=1e-5)


def test_mixing_keeps_the_tandems_rule_state(decay_runs):
    active, tandem = decay_runs[2][0][-1], decay_runs[1][0][-1]  # different seeds: different levels
    mixed = agent.mix_agents(active, tandem, 0.5)
    assert float(mixed.expl_decay) == 1.0 and float(mixed.expl_weight) == 0.5
    np.testing.assert_array_equal(mixed.disag_level, tandem.disag_level)
    assert not np.array_equal(mixed.disag_level, active.disag_level)


def test_decay_is_validated_and_vmappable_at_init():
    decays = jnp.array([0.0, 0.25, 1.0])
    init_decay = lambda d: _init(DECAY_CONFIG, 0, 0.5, d)
    state = jax.jit(jax.vmap(init_decay))(decays)
    np.testing.assert_array_equal(state.expl_decay, decays)
    assert state.disag_level.shape == (3, 2) and not np.any(state.disag_level)
    with pytest.raises(ValueError, match=r"expl_decay must lie in \[0, 1\]"):
        _init(DECAY_CONFIG, 0, 0.5, 1.5)
    with pytest.raises(ValueError, match="expl_decay must be a scalar"):
        _init(DECAY_CONFIG, 0, 0.5, np.zeros(2))
    with pytest.raises(ValueError, match="expl_decay=0.5 needs DreamerConfig.expl_rule='decay'"):
        _init(FIXED_CONFIG, 0, 0.5, 0.5)
    with pytest.raises(ValueError, match="expl_rule='decay' needs the disagreement reward"):
        FIXED_CONFIG.replace(expl_rule="decay", disag_reward=False)
    with pytest.raises(ValueError, match="expl_rule='decay' needs the disagreement reward"):
        H.POINT_CONFIG.replace(expl_rule="decay")
