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

With an exploration reward (Plan2Explore, `expl_reward_fn`), r_t above becomes
(1 - w) r_t + w r_disag(s_{t-1}, a_{t-1}): the disagreement of the transition that led to s_t.
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
from offon_jit.dreamer.networks import MLP, TwoHotHead, output_init
from offon_jit.dreamer.normalizer import ReturnNormState, return_scale, update_return_norm
from offon_jit.dreamer.plan2explore import mixed_reward
from offon_jit.dreamer.rssm import Latent
from offon_jit.dreamer.world_model import WorldModel

sg = jax.lax.stop_gradient


class Actor(nn.Module):
    """Policy over latent features: one-hot categorical (discrete) or bounded normal."""

    config: DreamerConfig
    action_dim: int
    discrete: bool

    @nn.compact
    def __call__(self, feat):
        c = self.config
        x = MLP(c.layers, c.units, c.layernorm_eps, name="mlp")(feat)
        if self.discrete:
            logits = nn.Dense(self.action_dim, kernel_init=output_init, name="logits")(x)
            return OneHotDist(unimix_logits(logits, c.unimix))
        mean = nn.Dense(self.action_dim, kernel_init=output_init, name="mean")(x)
        std = nn.Dense(self.action_dim, kernel_init=output_init, name="std")(x)
        return BoundedNormalDist.from_outputs(mean, std, c.actor_min_std, c.actor_max_std)


@functools.lru_cache(maxsize=None)
def make_actor(config: DreamerConfig, action_dim: int, discrete: bool) -> Actor:
    return Actor(config=config, action_dim=int(action_dim), discrete=bool(discrete))


@functools.lru_cache(maxsize=None)
def make_critic(config: DreamerConfig) -> TwoHotHead:
    return TwoHotHead(config.layers, config.units, config.twohot_bins, config.layernorm_eps)


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


def imagine(
    wm_model: WorldModel, wm_params, actor_model: Actor, actor_params, start: Latent, key, horizon: int, backprop: bool
) -> tuple[Latent, jax.Array]:
    """Roll the prior forward `horizon` steps under the actor from `start` (N, ...).

    Returns latents s_0..s_H (H+1, N, ...) and actions a_0..a_{H-1} (H, N, A). The actor
    sees stop-gradient states; with `backprop` its sampled actions carry gradients into
    the dynamics, otherwise they are constants (Reinforce needs no such path).
    """

    def step(latent, step_key):
        action_key, dyn_key = jax.random.split(step_key)
        action = actor_model.apply(actor_params, sg(latent.feat())).sample(action_key)
        action = action if backprop else sg(action)
        nxt, _ = wm_model.apply(wm_params, latent, action, dyn_key, method=WorldModel.img_step)
        return nxt, (latent, action)

    last, (latents, actions) = jax.lax.scan(step, start, jax.random.split(key, horizon))
    latents = jax.tree_util.tree_map(lambda seq, x: jnp.concatenate([seq, x[None]], 0), latents, last)
    return latents, actions


def actor_loss(
    actor_params, *, wm_model, wm_params, actor_model, critic_model, critic_params,
    start: Latent, start_cont, norm_state: ReturnNormState, key, config: DreamerConfig,
    expl_reward_fn=None, expl_weight=0.0,
):  # fmt: skip
    """Scalar actor loss and aux (trajectory, returns, weights, new normaliser state, metrics).

    `expl_reward_fn(latents, actions) -> (H, N)`, if given, is the exploration reward of the
    transitions (s_t, a_t), t < H; it is mixed with the task reward by `expl_weight` (Eq. 5).
    """
    backprop = not actor_model.discrete
    latents, actions = imagine(wm_model, wm_params, actor_model, actor_params, start, key, config.imag_horizon, backprop)
    feat = latents.feat()  # (H+1, N, F)
    bins = twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high)
    reward = twohot_mean(wm_model.apply(wm_params, feat[1:], method=WorldModel.reward_logits), bins)
    expl_metrics = {}
    if expl_reward_fn is not None:
        expl_reward = expl_reward_fn(jax.tree_util.tree_map(lambda x: x[:-1], latents), actions)
        chex.assert_equal_shape([expl_reward, reward])
        expl_metrics = {"imag_task_reward": jnp.mean(reward), "imag_disag_reward": jnp.mean(expl_reward)}
        reward = mixed_reward(reward, expl_reward, expl_weight)
    cont = jnp.concatenate(
        [start_cont[None], bernoulli_mode(wm_model.apply(wm_params, feat[1:], method=WorldModel.cont_logit))], 0
    )
    weight = sg(jnp.cumprod(config.discount * cont, 0) / config.discount)
    value = twohot_mean(critic_model.apply(critic_params, feat), bins)
    returns = lambda_returns(reward, value, config.discount * cont[1:], config.return_lambda)
    chex.assert_shape([reward, returns, value[:-1], cont[1:]], (config.imag_horizon, start_cont.shape[0]))

    norm_state = update_return_norm(
        norm_state, returns, config.retnorm_decay, config.retnorm_low_percentile, config.retnorm_high_percentile
    )
    scale = return_scale(norm_state, config.retnorm_max)
    adv = (returns - value[:-1]) / scale  # the offset (low) cancels in the difference
    policy = actor_model.apply(actor_params, sg(feat[:-1]))
    logpi = policy.log_prob(sg(actions))
    objective = adv if backprop else logpi * sg(adv)
    entropy = policy.entropy()
    loss = jnp.mean(-(objective + config.actor_entropy * entropy) * weight[:-1])

    metrics = {
        "actor_entropy": jnp.mean(entropy),
        "imag_reward": jnp.mean(reward),
        "imag_return": jnp.mean(returns),
        "imag_value": jnp.mean(value[:-1]),
        "imag_cont": jnp.mean(cont[1:]),
        "imag_weight": jnp.mean(weight),
        "adv_abs": jnp.mean(jnp.abs(adv)),
        "retnorm_low": norm_state.low,
        "retnorm_high": norm_state.high,
        "retnorm_scale": scale,
        **expl_metrics,
    }
    aux = {"feat": sg(feat), "returns": sg(returns), "weight": weight, "norm_state": norm_state, "metrics": metrics}
    return loss, aux


def critic_loss(critic_params, *, critic_model, slow_params, feat, returns, weight, config: DreamerConfig):
    """Two-hot regression onto lambda-returns plus a pull towards the slow critic's mean."""
    bins = twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high)
    feat = sg(feat[:-1])
    logits = critic_model.apply(critic_params, feat)
    slow_value = twohot_mean(critic_model.apply(slow_params, feat), bins)
    loss = -twohot_log_prob(logits, sg(returns), bins)
    reg = -twohot_log_prob(logits, sg(slow_value), bins)
    return jnp.mean((loss + config.slow_critic_reg * reg) * sg(weight[:-1]))


def ema_update(slow, fast, fraction: float):
    return jax.tree_util.tree_map(lambda s, f: (1.0 - fraction) * s + fraction * f, slow, fast)


def actor_critic_update(
    params: dict, opt_states: dict, norm_state: ReturnNormState, *, wm_model, wm_params, actor_model,
    critic_model, start: Latent, start_cont, key, config: DreamerConfig, optimizers: dict,
    expl_reward_fn=None, expl_weight=0.0,
):  # fmt: skip
    """One actor step, one critic step (on the actor's trajectory) and the slow-critic EMA.

    `params`/`opt_states` hold 'actor', 'critic' (and 'slow_critic' in params). Returns
    (params, opt_states, norm_state, metrics). `expl_reward_fn`/`expl_weight`: see `actor_loss`.
    """
    (a_loss, aux), a_grads = jax.value_and_grad(actor_loss, has_aux=True)(
        params["actor"], wm_model=wm_model, wm_params=wm_params, actor_model=actor_model, critic_model=critic_model,
        critic_params=params["critic"], start=start, start_cont=start_cont, norm_state=norm_state, key=key,
        config=config, expl_reward_fn=expl_reward_fn, expl_weight=expl_weight,
    )  # fmt: skip
    a_updates, actor_opt = optimizers["actor"].update(a_grads, opt_states["actor"], params["actor"])
    actor_params = optax.apply_updates(params["actor"], a_updates)

    c_loss, c_grads = jax.value_and_grad(critic_loss)(
        params["critic"], critic_model=critic_model, slow_params=params["slow_critic"], feat=aux["feat"],
        returns=aux["returns"], weight=aux["weight"], config=config,
    )  # fmt: skip
    c_updates, critic_opt = optimizers["critic"].update(c_grads, opt_states["critic"], params["critic"])
    critic_params = optax.apply_updates(params["critic"], c_updates)
    slow_params = ema_update(params["slow_critic"], critic_params, config.slow_critic_fraction)

    metrics = {
        "actor_loss": a_loss,
        "actor_grad_norm": optax.tree.norm(a_grads),
        "critic_loss": c_loss,
        "critic_grad_norm": optax.tree.norm(c_grads),
        **aux["metrics"],
    }
    new_params = {**params, "actor": actor_params, "critic": critic_params, "slow_critic": slow_params}
    new_opt_states = {**opt_states, "actor": actor_opt, "critic": critic_opt}
    return new_params, new_opt_states, aux["norm_state"], metrics
