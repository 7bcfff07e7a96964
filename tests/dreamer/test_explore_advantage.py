"""Plan2Explore's advantage (DreamerV3 v1 `Explore` + `ImagActorCritic.loss` at 8fa35f8): per-term
normalisation, Eq. 5's weights, the disagreement's index. (w = 0 equals the plain agent bitwise:
test_plan2explore.py.)

The fixed inputs, the jitted head outputs and the float64 v1 reference are those of
test_actor_critic_values.py (continuous actor, N = 8 starts, H = 3); the disagreement reward comes
from a small fresh ensemble, wrapped so that the test sees what `actor_loss` hands it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import actor_critic as ac
from offon_jit.dreamer import plan2explore as p2e
from offon_jit.dreamer.normalizer import ReturnNormState, init_return_norm
from tests.dreamer import v1_reference as V

KIND = "continuous"
P2E_CONFIG = V.CONFIG.replace(disag_models=4)  # only the ensemble reads it; actor_loss runs on V.CONFIG
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@jax.jit
def explore_loss(actor_params, wm_params, critics, norm_states, disag_params, reward_scale, expl_weight, start,
                 start_cont, key):  # fmt: skip
    """actor_loss with reward_scale * r_disag as the exploration reward. Also returns what the reward
    function received (features, actions, its rewards) and the actions `imagine` drew with the same key."""
    received = {}

    def expl_reward(latents, actions):
        reward = reward_scale * p2e.disagreement_of(disag_params, P2E_CONFIG, latents, actions)
        received.update(feat=latents.feat(), actions=actions, reward=reward)
        return reward

    model = V.actor_model(KIND)
    loss, aux = ac.actor_loss(
        actor_params, wm_model=V.WM_MODEL, wm_params=wm_params, actor_model=model, critic_model=V.CRITIC,
        critics=critics, start=start, start_cont=start_cont, norm_states=norm_states, key=key, config=V.CONFIG,
        expl_reward_fn=expl_reward, expl_weight=expl_weight,
    )  # fmt: skip
    _, imagined = ac.imagine(V.WM_MODEL, wm_params, model, actor_params, start, key, V.HORIZON, True)
    return loss, aux, received, imagined


normalized_advantage = jax.jit(ac.normalized_advantage, static_argnums=4)


def norm(low: float, high: float) -> ReturnNormState:
    return ReturnNormState(low=jnp.float32(low), high=jnp.float32(high))


@pytest.fixture(scope="module")
def setup():
    """V's fixed inputs and a fresh ensemble. The disagreement term's critic is either V's fresh
    critic (v = 0, consistent with any reward scale) or one with non-zero values (V's slow critic)."""
    disag = jax.jit(p2e.init_ensemble, static_argnums=(1, 2))(jax.random.PRNGKey(5), P2E_CONFIG, V.ACTION_DIM)
    return {**V.fixed_inputs(), "disag": disag}


def run(setup, disag_critic, norms: dict, scale: float = 1.0, weight: float = 0.5):
    """explore_loss on the fixed inputs (numpy outputs); arrays vary, so every call shares one program."""
    critics = {"task": setup["critic"], "disag": disag_critic}
    out = explore_loss(setup["actors"][KIND], setup["wm"], critics, norms, setup["disag"], jnp.float32(scale),
                       jnp.float32(weight), setup["start"], V.START_CONT, setup["key"])  # fmt: skip
    return jax.device_get(out)


def as_tuple(state: ReturnNormState) -> tuple:
    return float(state.low), float(state.high)


def v1_reference(setup, aux, received, disag_critic, norms: dict, weight: float) -> dict:
    """v1 `Explore` on the trajectory actor_loss imagined: each term's returns, normaliser and
    advantage (V.v1_reference for the task term, the same formulas for the disagreement with the
    rewards the reward function returned), advantages weighted by scale_k / sum of scales."""
    feat = aux["feat"]
    no_actions = np.zeros((V.HORIZON, V.STARTS, V.ACTION_DIM))  # the backprop objective needs no log-prob
    task = V.v1_reference(V.numpy_head_outputs(KIND, feat, setup["critic"]), V.START_CONT, no_actions,
                          as_tuple(norms["task"]), KIND)  # fmt: skip
    out = V.numpy_head_outputs(KIND, feat, disag_critic)
    value = V.disc_mean(out["critic_hidden"] @ out["critic_kernel"] + out["critic_bias"])
    returns = V.lambda_returns_v1(np.asarray(received["reward"], np.float64), value, task["cont"])
    adv, low, high, scale = V.normalised_advantage_v1(returns, value, as_tuple(norms["disag"]))
    scales = {"task": 1.0 - weight, "disag": weight}
    total = sum(scales.values())
    combined = (scales["task"] * task["adv"] + scales["disag"] * adv) / total
    per_step = -(combined + V.ETA * task["entropy"]) * task["weight"][:-1]
    disag = dict(value=value, returns=returns, adv=adv, low=low, high=high, scale=scale)
    return {"task": task, "disag": disag, "adv": combined, "loss": per_step.mean(), "loss_size": np.abs(per_step).mean()}


WARM = {"task": norm(-2.0, 3.0), "disag": norm(-0.5, 1.5)}  # both ranges above the floor of 1
WARM_TENFOLD = {"task": WARM["task"], "disag": norm(-5.0, 15.0)}  # the disagreement's state at 10x its scale
FRESH_DISAG = {"task": WARM["task"], "disag": init_return_norm()}  # first update: under the floor


def test_disagreement_reward_is_taken_at_v1s_index(setup):
    """r_disag for t = 1..H is the disagreement of (s_t, a_t), the transition out of each imagined
    state, with a_H a fresh draw from the policy at s_H (v1: traj['action'][t] = policy(s_t), and
    Disag returns preds.std(0).mean(-1)[1:])."""
    _, aux, received, imagined = run(setup, setup["fresh_critic"], WARM)
    np.testing.assert_array_equal(received["feat"], aux["feat"][1:])  # s_1..s_H
    np.testing.assert_array_equal(received["actions"][:-1], imagined[1:])  # a_1..a_{H-1}
    policy_at_last = V.actor_model(KIND).apply(setup["actors"][KIND], aux["feat"][-1])
    last = policy_at_last.sample(jax.random.fold_in(setup["key"], ac.LAST_ACTION_SALT))
    np.testing.assert_allclose(received["actions"][-1], last, rtol=1e-6, atol=1e-6)  # a_H ~ pi(. | s_H)
    assert np.abs(received["actions"][-1] - imagined[-1]).min() > 1e-4  # not a_{H-1} reused
    # The rewards enter the disagreement's returns in that order: R_0 starts with r_disag(s_1, a_1).
    ref = v1_reference(setup, aux, received, setup["fresh_critic"], WARM, 0.5)
    assert np.abs(ref["disag"]["value"]).max() < 1e-12  # a fresh critic predicts 0
    np.testing.assert_allclose(aux["returns"]["disag"], ref["disag"]["returns"], rtol=V.RTOL, atol=1e-7)


@pytest.mark.parametrize("weight", [0.25, 1.0])
def test_actor_loss_weighs_per_term_normalised_advantages_as_v1(setup, weight):
    """Each term has its own returns and normaliser; the advantage is sum_k w_k (R_k - v_k) / S_k."""
    loss, aux, received, _ = run(setup, setup["slow"], WARM, weight=weight)
    ref = v1_reference(setup, aux, received, setup["slow"], WARM, weight)
    metrics = aux["metrics"]
    for term in ("task", "disag"):
        expected = ref[term]
        np.testing.assert_allclose(aux["returns"][term], expected["returns"], rtol=V.RTOL, atol=1e-7)
        state = aux["norm_states"][term]
        np.testing.assert_allclose(as_tuple(state), (expected["low"], expected["high"]), rtol=V.RTOL, atol=1e-7)
        prefix = "" if term == "task" else "disag_"
        np.testing.assert_allclose(metrics[f"{prefix}retnorm_scale"], expected["scale"], rtol=V.RTOL)
    assert ref["disag"]["scale"] != ref["task"]["scale"]  # separate normalisers with different scales
    np.testing.assert_allclose(metrics["adv_abs"], np.abs(ref["adv"]).mean(), rtol=V.RTOL)
    np.testing.assert_allclose(loss, ref["loss"], rtol=V.RTOL, atol=V.RTOL * ref["loss_size"])


@pytest.mark.parametrize("regime", ["above_floor", "floor"])
def test_normalized_advantage_is_invariant_to_the_reward_scale_above_the_floor(regime):
    """Scaling rewards and values by 10 scales returns, both percentile EMAs and the range by 10, so
    (R - v) / S is unchanged, as long as S is the range. Under the floor S = 1 / retnorm_max = 1
    for both, so the advantage scales by 10 instead: v1 does not amplify returns whose range is
    under 1 (sparse or tiny rewards), and the floor is the one place the scale shows."""
    rng = np.random.default_rng(8)
    reward = rng.normal(0.3, 0.2, (V.HORIZON, 16)).astype(np.float32)
    value = rng.normal(1.0, 0.5, (V.HORIZON + 1, 16)).astype(np.float32)
    cont = (rng.random((V.HORIZON + 1, 16)) > 0.1).astype(np.float32)
    state = norm(-0.5, 1.5) if regime == "above_floor" else init_return_norm()
    tenfold = ReturnNormState(low=10 * state.low, high=10 * state.high)
    adv, returns, new_state, scale = jax.device_get(normalized_advantage(reward, value, cont, state, V.CONFIG))
    adv10, returns10, new_state10, scale10 = jax.device_get(
        normalized_advantage(10 * reward, 10 * value, cont, tenfold, V.CONFIG)
    )  # fmt: skip
    np.testing.assert_allclose(returns10, 10 * returns, rtol=1e-5)
    np.testing.assert_allclose(as_tuple(new_state10), 10 * np.array(as_tuple(new_state)), rtol=1e-5)
    if regime == "above_floor":
        assert scale > 1.0 and scale10 > 1.0
        np.testing.assert_allclose(scale10, 10 * scale, rtol=1e-5)
        np.testing.assert_allclose(adv10, adv, rtol=1e-5, atol=1e-6)
    else:
        assert scale == scale10 == 1.0
        np.testing.assert_allclose(adv10, 10 * adv, rtol=1e-5, atol=1e-6)


def test_tenfold_disagreement_reward_leaves_the_actor_loss_unchanged(setup):
    """End to end: 10 r_disag with a disagreement critic and normaliser consistent with that scale
    (a fresh critic predicts 0 at any scale; the normaliser's state is 10x) gives the same loss,
    the same disagreement advantage (w = 1: the advantage is the disagreement term alone) and 10x
    the disagreement's returns and scale. Under the floor the advantage grows 10x instead."""
    critic = setup["fresh_critic"]
    for weight in (0.5, 1.0):
        loss, aux, _, _ = run(setup, critic, WARM, scale=1.0, weight=weight)
        loss10, aux10, _, _ = run(setup, critic, WARM_TENFOLD, scale=10.0, weight=weight)
        metrics, metrics10 = aux["metrics"], aux10["metrics"]
        np.testing.assert_allclose(metrics10["imag_disag_return"], 10 * metrics["imag_disag_return"], rtol=1e-5)
        np.testing.assert_allclose(metrics10["disag_retnorm_scale"], 10 * metrics["disag_retnorm_scale"], rtol=1e-5)
        assert metrics["disag_retnorm_scale"] > 1.0
        np.testing.assert_allclose(metrics10["adv_abs"], metrics["adv_abs"], rtol=1e-5)
        np.testing.assert_allclose(loss10, loss, rtol=1e-5)
    _, floor, _, _ = run(setup, critic, FRESH_DISAG, scale=1.0, weight=1.0)
    _, floor10, _, _ = run(setup, critic, FRESH_DISAG, scale=10.0, weight=1.0)
    assert floor["metrics"]["disag_retnorm_scale"] == floor10["metrics"]["disag_retnorm_scale"] == 1.0
    np.testing.assert_allclose(floor10["metrics"]["adv_abs"], 10 * floor["metrics"]["adv_abs"], rtol=1e-5)


def test_disagreement_share_of_the_advantage_grows_with_w(setup):
    """adv_disag_share = mean|w A_disag| / (mean|(1 - w) A_task| + mean|w A_disag|) over w in
    {0, .25, .5, .75, 1}, same parameters and key: exactly 0 and 1 at the ends, strictly increasing,
    and w a / ((1 - w) b + w a) with a, b the two terms' mean |advantage| (read at w = 1 and w = 0)."""
    runs = [run(setup, setup["slow"], WARM, weight=w) for w in WEIGHTS]
    for _, aux, _, _ in runs[1:]:  # the trajectory and each term's returns do not depend on w
        for term in ("task", "disag"):
            np.testing.assert_array_equal(aux["returns"][term], runs[0][1]["returns"][term])
    shares = np.array([float(aux["metrics"]["adv_disag_share"]) for _, aux, _, _ in runs])
    print("adv_disag_share over w", dict(zip(WEIGHTS, shares.round(4))))
    assert shares[0] == 0.0 and shares[-1] == 1.0
    assert np.all(np.diff(shares) > 0)
    task_abs, disag_abs = (float(runs[i][1]["metrics"]["adv_abs"]) for i in (0, -1))
    w = np.array(WEIGHTS)
    np.testing.assert_allclose(shares, w * disag_abs / ((1 - w) * task_abs + w * disag_abs), rtol=1e-5)
