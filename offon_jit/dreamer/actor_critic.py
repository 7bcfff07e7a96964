"""Actor and critic trained in imagination (DreamerV3 v1 'ImagActorCritic' + 'VFunction').

From every posterior state of the batch the actor imagines `imag_horizon` steps with
the world model's prior. Along the trajectory (states s_0..s_H):

    r_t      = reward head mean at s_t                      (t = 1..H)
    c_0      = 1 - is_terminal of the start state; c_t = continue-head mode (t >= 1)
    weight_t = prod_{i<=t} (gamma * c_i) / gamma            (stop-gradient)
    R_t      = r_{t+1} + gamma c_{t+1} ((1 - lambda) v(s_{t+1}) + lambda R_{t+1}),  R_H = v(s_H)
    adv_t    = (R_t - v(s_t)) / max(1, EMA(P95(R) - P5(R)))

Actor loss: mean_t weight_t * (-objective_t - eta * H[pi(.|s_t)]) with
objective = adv (continuous: gradients flow through the imagined dynamics, as in v1
the value baseline is not stop-gradiented) or log pi(a_t|s_t) * sg(adv) (discrete:
Reinforce). Critic loss: mean_t weight_t * (-ln p_psi(R_t | s_t) - ln p_psi(v_slow(s_t) | s_t)).
The slow critic then moves towards the critic by `slow_critic_fraction`.

With an exploration reward (Plan2Explore) the agent is DreamerV3 v1's `Explore` behaviour:
each reward term k (task: the reward head; disag: r_disag(s_t, a_t), the transition out of
s_t, t = 1..H) has its own critic, slow critic and return normaliser S_k, and the actor's
advantage is sum_k w_k (R^k_t - v_k(s_t)) / S_k with w_task = 1 - w_expl, w_disag = w_expl
(paper Eq. 5: weights normalised to sum to 1). Without one, the task term alone is plain DreamerV3.
"""

from __future__ import annotations

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.distributions import (
    BoundedNormalDist,
    OneHotDist,
    bernoulli_mode,
    twohot_bins,
    twohot_log_prob,
    twohot_mean,
    unimix_logits,
)
from offon_jit.dreamer.networks import MLP, OutputDense, TwoHotHead
from offon_jit.dreamer.normalizer import ReturnNormState, return_scale, update_return_norm
from offon_jit.dreamer.remat import over_time, rematerialised
from offon_jit.dreamer.rssm import Latent
from offon_jit.dreamer.world_model import WorldModel

sg = jax.lax.stop_gradient

REWARD_TERMS = ("task", "disag")  # the task term first: a plain agent learns it alone
# The action at the last imagined state (only the disagreement reward needs it) is drawn from
# this fold of the imagination key, so the plain agent's draws are unchanged.
LAST_ACTION_SALT = 0xA17


class Actor(nn.Module):
    """Policy over latent features: one-hot categorical (discrete) or bounded normal."""

    config: DreamerConfig
    action_dim: int
    discrete: bool

    @nn.compact
    def __call__(self, feat):
        c = self.config
        dense = functools.partial(OutputDense, self.action_dim, dtype=c.compute_dtype)
        x = MLP(c.layers, c.units, c.layernorm_eps, c.compute_dtype, name="mlp")(feat)
        if self.discrete:
            return OneHotDist(unimix_logits(dense(name="logits")(x), c.unimix))
        mean, std = dense(name="mean")(x), dense(name="std")(x)
        return BoundedNormalDist.from_outputs(mean, std, c.actor_min_std, c.actor_max_std)


@functools.lru_cache(maxsize=None)
def make_actor(config: DreamerConfig, action_dim: int, discrete: bool) -> Actor:
    return Actor(config=config, action_dim=int(action_dim), discrete=bool(discrete))


@functools.lru_cache(maxsize=None)
def make_critic(config: DreamerConfig) -> TwoHotHead:
    return TwoHotHead(config.layers, config.units, config.twohot_bins, config.layernorm_eps, config.compute_dtype)


def lambda_returns(reward: jax.Array, value: jax.Array, discount: jax.Array, lam: float) -> jax.Array:
    """TD(lambda) returns R_0..R_{H-1}.

    reward (H, ...): reward on arriving at s_1..s_H; value (H+1, ...): v(s_0..s_H);
    discount (H, ...): gamma * c_1..c_H. R_t = r_t + d_t ((1 - lam) v_{t+1} + lam R_{t+1}), R_H = v_H.
    """
    chex.assert_equal_shape([reward, discount])
    chex.assert_shape(value, (reward.shape[0] + 1, *reward.shape[1:]))

    def step(next_return, inputs):
        r, d, v_next = inputs
        ret = r + d * ((1.0 - lam) * v_next + lam * next_return)
        return ret, ret

    _, returns = jax.lax.scan(step, value[-1], (reward, discount, value[1:]), reverse=True)
    return returns


def imagine_trajectory(
    wm_model: WorldModel, wm_params, actor_model: Actor, actor_params, start: Latent, key, horizon: int,
    backprop: bool, remat: str = "none",
):  # fmt: skip
    """Roll the prior forward `horizon` steps under the actor from `start` (N, ...).

    Returns latents s_0..s_H (H+1, N, ...), actions a_0..a_{H-1} (H, N, A) and the actor's
    distributions pi(.|s_0..s_{H-1}) (H, N) that drew them, so the actor loss needs no
    second pass of the actor over the same states. The actor sees stop-gradient states;
    with `backprop` its sampled actions carry gradients into the dynamics, otherwise they
    are constants (Reinforce needs no such path). `remat`: see remat.py.
    """

    def step(latent, step_key):
        action_key, dyn_key = jax.random.split(step_key)
        policy = actor_model.apply(actor_params, sg(latent.feat()))
        action = policy.sample(action_key)
        action = action if backprop else sg(action)
        nxt, _ = wm_model.apply(wm_params, latent, action, dyn_key, method=WorldModel.img_step)
        return nxt, (latent, action, policy)

    step = rematerialised(step, remat, in_loop=True)
    last, (latents, actions, policies) = jax.lax.scan(step, start, jax.random.split(key, horizon))
    latents = jax.tree_util.tree_map(lambda seq, x: jnp.concatenate([seq, x[None]], 0), latents, last)
    return latents, actions, policies


def imagine(
    wm_model: WorldModel, wm_params, actor_model: Actor, actor_params, start: Latent, key, horizon: int, backprop: bool
) -> tuple[Latent, jax.Array]:
    """Latents (H+1, N, ...) and actions (H, N, A) of `imagine_trajectory`."""
    latents, actions, _ = imagine_trajectory(wm_model, wm_params, actor_model, actor_params, start, key, horizon, backprop)
    return latents, actions


def critic_logits(critic_model, critics: list, feat: jax.Array) -> tuple[jax.Array, ...]:
    """Logits (*lead, bins) of each of C critics with the same architecture on the same
    features, from one batched call (one matmul per layer instead of C). Only for critics whose
    parameters receive no gradient here (the actor loss), where batching wastes no work."""
    if len(critics) == 1:
        return (critic_model.apply(critics[0], feat),)
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *critics)
    return tuple(jax.vmap(critic_model.apply, in_axes=(0, None))(stacked, feat))


def reward_terms(config: DreamerConfig) -> tuple[str, ...]:
    """The reward terms an agent learns, each with its own critic, slow critic and normaliser:
    the task alone, plus the disagreement when the Plan2Explore ensemble is on as a reward
    (not when it is a signal only, `disag_reward=False`)."""
    return REWARD_TERMS if config.disag_reward_on else REWARD_TERMS[:1]


def critic_key(term: str) -> str:
    """params/opt_states key of a term's critic: 'critic' (task, as plain DreamerV3) or 'disag_critic'."""
    return "critic" if term == "task" else f"{term}_critic"


def slow_critic_key(term: str) -> str:
    return f"slow_{critic_key(term)}"


def term_weights(expl_weight) -> dict:
    """Paper Eq. 5's weights, normalised to sum to one: w_task = 1 - w_expl, w_disag = w_expl."""
    return {"task": 1.0 - expl_weight, "disag": expl_weight}


def normalized_advantage(reward, value, cont, norm_state: ReturnNormState, config: DreamerConfig):
    """One reward term's lambda-returns, its normaliser update and (R_t - v_t) / S.

    reward (H, N) on arriving at s_1..s_H; value (H+1, N) = v(s_0..s_H); cont (H+1, N).
    Returns (adv (H, N), returns (H, N), new normaliser state, scale S). The normaliser's
    offset (low) cancels in the difference, as in v1's (normed_ret - normed_base).
    """
    returns = lambda_returns(reward, value, config.discount * cont[1:], config.return_lambda)
    norm_state = update_return_norm(
        norm_state, returns, config.retnorm_decay, config.retnorm_low_percentile, config.retnorm_high_percentile
    )
    scale = return_scale(norm_state, config.retnorm_max)
    return (returns - value[:-1]) / scale, returns, norm_state, scale


def actor_loss(
    actor_params, *, wm_model, wm_params, actor_model, critic_model, critics: dict,
    start: Latent, start_cont, norm_states: dict, key, config: DreamerConfig,
    expl_reward_fn=None, expl_weight=0.0,
):  # fmt: skip
    """Scalar actor loss and aux (trajectory, per-term returns, weights, normaliser states, metrics).

    `critics` and `norm_states` map each reward term ("task", and "disag" with an
    exploration reward) to that term's critic parameters and return normaliser.
    `expl_reward_fn(latents, actions) -> (H, N)`, if given, is the exploration reward of
    the transitions (s_t, a_t), t = 1..H (v1's index: the transition out of each state
    reached in imagination, so the actor also draws a_H at the last state).
    """
    backprop = not actor_model.discrete
    latents, actions, policy = imagine_trajectory(
        wm_model, wm_params, actor_model, actor_params, start, key, config.imag_horizon, backprop, config.remat
    )
    feat = latents.feat()  # (H+1, N, F)
    bins = twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high)
    world_heads = lambda f: (wm_model.apply(wm_params, f, method=WorldModel.reward_logits),
                             wm_model.apply(wm_params, f, method=WorldModel.cont_logit))  # fmt: skip
    reward_logits, cont_logit = over_time(world_heads, feat[1:], config.remat)  # at s_1..s_H
    values = dict(zip(critics, over_time(lambda f: critic_logits(critic_model, list(critics.values()), f), feat,
                                          config.remat)))  # fmt: skip
    rewards = {"task": twohot_mean(reward_logits, bins)}
    if expl_reward_fn is not None:
        last_action = actor_model.apply(actor_params, sg(feat[-1])).sample(jax.random.fold_in(key, LAST_ACTION_SALT))
        last_action = last_action if backprop else sg(last_action)
        later = jax.tree_util.tree_map(lambda x: x[1:], latents)
        rewards["disag"] = expl_reward_fn(later, jnp.concatenate([actions[1:], last_action[None]], 0))
        chex.assert_equal_shape([rewards["disag"], rewards["task"]])
    if set(rewards) != set(critics) or set(rewards) != set(norm_states):
        raise ValueError(f"reward terms {sorted(rewards)} need one critic and normaliser each, got "
                         f"{sorted(critics)} and {sorted(norm_states)}")  # fmt: skip
    cont = jnp.concatenate([start_cont[None], bernoulli_mode(cont_logit)], 0)
    weight = sg(jnp.cumprod(config.discount * cont, 0) / config.discount)
    term_weight = term_weights(expl_weight)

    adv, returns, new_norms, metrics, magnitudes = 0.0, {}, {}, {}, {}
    for term, reward in rewards.items():
        value = twohot_mean(values[term], bins)  # at s_0..s_H
        term_adv, returns[term], new_norms[term], scale = normalized_advantage(
            reward, value, cont, norm_states[term], config
        )
        chex.assert_shape([reward, returns[term], value[:-1], cont[1:]], (config.imag_horizon, start_cont.shape[0]))
        # A lone term's advantage is used as is (no multiply by 1), so the plain agent's program is unchanged.
        weighted = term_adv if len(rewards) == 1 else term_weight[term] * term_adv
        adv = adv + weighted
        magnitudes[term] = jnp.mean(jnp.abs(weighted))
        prefix = "" if term == "task" else f"{term}_"
        metrics.update({
            f"imag_{term}_reward" if prefix else "imag_reward": jnp.mean(reward),
            f"imag_{prefix}return": jnp.mean(returns[term]),
            f"imag_{prefix}value": jnp.mean(value[:-1]),
            f"{prefix}retnorm_low": new_norms[term].low,
            f"{prefix}retnorm_high": new_norms[term].high,
            f"{prefix}retnorm_scale": scale,
        })  # fmt: skip
    if "disag" in rewards:
        metrics["adv_disag_share"] = magnitudes["disag"] / jnp.maximum(sum(magnitudes.values()), 1e-12)

    logpi = policy.log_prob(sg(actions))
    objective = adv if backprop else logpi * sg(adv)
    entropy = policy.entropy()
    loss = jnp.mean(-(objective + config.actor_entropy * entropy) * weight[:-1])

    metrics.update({
        "actor_entropy": jnp.mean(entropy),
        "imag_cont": jnp.mean(cont[1:]),
        "imag_weight": jnp.mean(weight),
        "adv_abs": jnp.mean(jnp.abs(adv)),
    })  # fmt: skip
    aux = {"feat": sg(feat), "returns": sg(returns), "weight": weight, "norm_states": new_norms, "metrics": metrics}
    return loss, aux


def critic_loss(critic_params, *, critic_model, slow_params, feat, returns, weight, config: DreamerConfig):
    """Two-hot regression onto lambda-returns plus a pull towards the slow critic's mean.

    The critic and its slow copy run as two calls, not one batched call: a batched call's
    backward pass would also compute the slow copy's (discarded) weight gradient, about 5% of
    the update's FLOPs at size S."""
    bins = twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high)
    feat = sg(feat[:-1])
    logits = over_time(lambda f: critic_model.apply(critic_params, f), feat, config.remat)
    slow_logits = over_time(lambda f: critic_model.apply(slow_params, f), feat, config.remat)
    slow_value = twohot_mean(slow_logits, bins)
    loss = -twohot_log_prob(logits, sg(returns), bins)
    reg = -twohot_log_prob(logits, sg(slow_value), bins)
    return jnp.mean((loss + config.slow_critic_reg * reg) * sg(weight[:-1]))


def ema_update(slow, fast, fraction: float):
    return jax.tree_util.tree_map(lambda s, f: (1.0 - fraction) * s + fraction * f, slow, fast)


def actor_critic_update(
    params: dict, opt_states: dict, norm_states: dict, *, wm_model, wm_params, actor_model,
    critic_model, start: Latent, start_cont, key, config: DreamerConfig, optimizers: dict,
    expl_reward_fn=None, expl_weight=0.0,
):  # fmt: skip
    """One actor step, then one step and one slow-copy EMA of each reward term's critic on the
    actor's trajectory (v1 `ImagActorCritic.train`).

    `params`/`opt_states` hold 'actor' and each term's critic (`critic_key`, with its slow copy
    `slow_critic_key` in params); `norm_states` maps each term to its return normaliser.
    Returns (params, opt_states, norm_states, metrics). `expl_reward_fn`/`expl_weight`: see `actor_loss`.
    """
    terms = tuple(norm_states)
    (a_loss, aux), a_grads = jax.value_and_grad(actor_loss, has_aux=True)(
        params["actor"], wm_model=wm_model, wm_params=wm_params, actor_model=actor_model, critic_model=critic_model,
        critics={term: params[critic_key(term)] for term in terms}, start=start, start_cont=start_cont,
        norm_states=norm_states, key=key, config=config, expl_reward_fn=expl_reward_fn, expl_weight=expl_weight,
    )  # fmt: skip
    a_updates, actor_opt = optimizers["actor"].update(a_grads, opt_states["actor"], params["actor"])
    new_params = {**params, "actor": optax.apply_updates(params["actor"], a_updates)}
    new_opt_states = {**opt_states, "actor": actor_opt}
    metrics = {"actor_loss": a_loss, "actor_grad_norm": optax.tree.norm(a_grads)}

    for term in terms:
        name, slow_name = critic_key(term), slow_critic_key(term)
        c_loss, c_grads = jax.value_and_grad(critic_loss)(
            params[name], critic_model=critic_model, slow_params=params[slow_name], feat=aux["feat"],
            returns=aux["returns"][term], weight=aux["weight"], config=config,
        )  # fmt: skip
        c_updates, new_opt_states[name] = optimizers[name].update(c_grads, opt_states[name], params[name])
        new_params[name] = optax.apply_updates(params[name], c_updates)
        new_params[slow_name] = ema_update(params[slow_name], new_params[name], config.slow_critic_fraction)
        metrics[f"{name}_loss"] = c_loss
        metrics[f"{name}_grad_norm"] = optax.tree.norm(c_grads)
    metrics.update(aux["metrics"])
    return new_params, new_opt_states, aux["norm_states"], metrics
