"""Actor and critic losses on fixed inputs against a float64 NumPy re-derivation of DreamerV3 v1.

The reference follows danijar/dreamerv3 at 8fa35f8 (`WorldModel.imagine`, `VFunction.score/loss`,
`ImagActorCritic.loss`, `jaxutils.Moments` 'perc_ema', `DiscDist`, the 'onehot' and 'normal' actor
heads) and uses v1's constants (`V1`), not our config's, so a drifted default fails here too.

Set-up (tiny modules, N = 8 starts of which two are terminal, H = 3 imagined steps): the reward,
continue, critic and slow-critic heads get fixed output layers, so rewards, values and continue
flags are non-trivial and the two critics differ. `actor_loss` imagines the trajectory; the
reference reads its features back (aux['feat']) with the sampled actions (`imagine`, same key),
takes only the heads' raw outputs on those features, and re-derives all the rest.

The tests also evaluate a mutated reference (one index, sign or flag changed) and assert that the
code is far from it, so each is shown to catch that bug (and each fails when the same bug is put
into actor_critic.py):
  reward index off by one (r_t read at s_t)  -> test_returns_normaliser_and_actor_loss_match_v1
  entropy bonus with the wrong sign           -> test_returns_normaliser_and_actor_loss_match_v1,
                                                 test_reinforce_gradient_of_the_logits_layer_matches_v1
  first continue flag from the continue head  -> test_weights_and_continue_flags_match_v1
  slow-critic regulariser with the wrong sign -> test_critic_loss_and_its_output_layer_gradient_match_v1
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit.dreamer import actor_critic as ac
from tests.dreamer.v1_reference import (
    KINDS,
    NORM_STATES,
    RTOL,
    START_CONT,
    V1,
    assert_gradient_close,
    case,
    critic_reference,
    disc_mean,
    fixed_inputs,
    lambda_returns_v1,
    reinforce_logits_gradient,
    relative_gap,
    run_critic_loss,
)


def test_lambda_returns_is_v1s_backward_recursion():
    rng = np.random.default_rng(3)
    reward, value = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    cont = (rng.random((6, 4)) > 0.2).astype(np.float64)
    ours = jax.jit(ac.lambda_returns, static_argnums=3)(
        jnp.float32(reward), jnp.float32(value), jnp.float32(V1["gamma"] * cont[1:]), V1["lam"]
    )  # fmt: skip
    np.testing.assert_allclose(ours, lambda_returns_v1(reward, value, cont), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_and_continue_flags_match_v1(kind):
    run = case(kind)
    ref, aux = run["ref"], run["aux"]
    # The trajectory the reference reads is the one actor_loss imagined.
    np.testing.assert_allclose(run["feat"], aux["feat"], rtol=1e-6, atol=1e-6)
    # The fixture exercises both flags: some imagined steps end, some starts are terminal.
    assert 0 < ref["cont"][1:].mean() < 1
    np.testing.assert_allclose(aux["weight"], ref["weight"], rtol=RTOL)
    # First-step weight = c_0 = 1 - is_terminal of the start, exactly; a terminal start's weights are all 0.
    np.testing.assert_array_equal(aux["weight"][0], START_CONT)
    assert np.all(aux["weight"][:, START_CONT == 0] == 0.0)
    np.testing.assert_allclose(aux["metrics"]["imag_cont"], ref["cont"][1:].mean(), rtol=1e-6)
    # Catches c_0 taken from the continue head instead of the start's is_terminal.
    mutant = run["reference"](mutation="first_cont_from_head")
    assert relative_gap(aux["weight"], mutant["weight"]) > 0.5


@pytest.mark.parametrize("norm", list(NORM_STATES))
@pytest.mark.parametrize("kind", KINDS)
def test_returns_normaliser_and_actor_loss_match_v1(kind, norm):
    run = case(kind, norm)
    ref, aux, metrics = run["ref"], run["aux"], run["aux"]["metrics"]
    np.testing.assert_allclose(metrics["imag_reward"], ref["reward"].mean(), rtol=RTOL)
    np.testing.assert_allclose(metrics["imag_value"], ref["value"][:-1].mean(), rtol=RTOL)
    np.testing.assert_allclose(aux["returns"]["task"], ref["returns"], rtol=RTOL, atol=1e-6)
    new_norm = aux["norm_states"]["task"]
    np.testing.assert_allclose([new_norm.low, new_norm.high], [ref["low"], ref["high"]], rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(metrics["retnorm_scale"], ref["scale"], rtol=RTOL)
    assert (ref["scale"] == 1.0) == (norm == "fresh")  # the floor applies exactly in the fresh state
    np.testing.assert_allclose(metrics["adv_abs"], np.abs(ref["adv"]).mean(), rtol=RTOL)
    np.testing.assert_allclose(metrics["actor_entropy"], ref["entropy"].mean(), rtol=RTOL)
    np.testing.assert_allclose(run["loss"], ref["loss"], rtol=RTOL, atol=RTOL * ref["loss_size"])
    # Off-by-one reward index and a flipped entropy sign each move the loss by far more than the tolerance.
    for mutation in ("reward_at_s_t", "entropy_penalty"):
        mutant = run["reference"](mutation=mutation)["loss"]
        assert abs(mutant - run["loss"]) > 100 * RTOL * ref["loss_size"], mutation


def test_reinforce_gradient_of_the_logits_layer_matches_v1():
    run = case("discrete")
    ref, out = run["ref"], run["out"]
    actions = run["actions"]
    assert np.all(actions.sum(-1) == 1.0) and set(np.unique(actions)) == {0.0, 1.0}
    dlogits = reinforce_logits_gradient(ref, actions)
    grads = run["grads"]["params"]["logits"]
    hidden = out["actor_hidden"][:-1]
    assert_gradient_close(grads["bias"], dlogits.sum((0, 1)))
    assert_gradient_close(grads["kernel"], np.einsum("tnh,tnk->hk", hidden, dlogits))
    # A flipped entropy sign changes the bias gradient by far more than the tolerance.
    mutant = reinforce_logits_gradient(ref, actions, mutation="entropy_penalty").sum((0, 1))
    assert relative_gap(grads["bias"], mutant) > 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_critic_loss_and_its_output_layer_gradient_match_v1(kind):
    run = case(kind)
    ref, out, inputs = run["ref"], run["out"], fixed_inputs()
    returns, weight = ref["returns"].astype(np.float32), ref["weight"].astype(np.float32)
    loss, grads = jax.device_get(run_critic_loss(inputs["critic"], inputs["slow"], run["aux"]["feat"], returns, weight))
    weight = weight[:-1]  # the critic learns at s_0..s_{H-1}
    # The two critics disagree, so the regulariser is not a copy of the return term.
    assert np.abs(disc_mean(out["slow_logits"]) - ref["value"]).min() > 0.1
    hidden, logits, slow_logits = out["critic_hidden"][:-1], ref["critic_logits"][:-1], out["slow_logits"][:-1]
    expected, kernel_grad, bias_grad = critic_reference(hidden, logits, slow_logits, returns, weight)
    np.testing.assert_allclose(float(loss), expected, rtol=RTOL)
    assert_gradient_close(grads["params"]["out"]["bias"], bias_grad)
    assert_gradient_close(grads["params"]["out"]["kernel"], kernel_grad)
    # A flipped slow-critic regulariser moves both the loss and the gradient far beyond the tolerance.
    mutant_loss, _, mutant_bias = critic_reference(hidden, logits, slow_logits, returns, weight, "slowreg_flipped")
    assert abs(mutant_loss - float(loss)) > 100 * RTOL * abs(float(loss))
    assert relative_gap(grads["params"]["out"]["bias"], mutant_bias) > 0.5
