"""Public DreamerV3 agent API: init, act, train, per-step world-model loss.

Every function is pure over an `AgentState` pytree (the config and env spec ride along
as static fields), so each can be `jit`ed and `vmap`ed over a leading seed axis:

    state = jax.vmap(lambda k: init_agent(k, spec, config))(seed_keys)
    state, metrics = jax.jit(jax.vmap(train_step))(state, batches, keys)

`train_world_model` (a Python bool) must be static under `jit`:
`jax.jit(train_step, static_argnames="train_world_model")`.

Batch convention (DreamerV3 v1), arrays with leading axes (B, T):
    obs          (B, T, *obs_shape)  raw env observations (uint8 images / float32 vectors)
    action       (B, T, A)           action taken AFTER observing obs[t] (one-hot float for
                                     discrete spaces, the [-1, 1] vector for continuous ones)
    reward       (B, T) float32      reward that arrived WITH obs[t]
    is_first     (B, T) bool         obs[t] starts an episode
    is_terminal  (B, T) bool         obs[t] ends an episode by termination (not truncation)
The RSSM uses prev_action = action[t-1] (zeros at t = 0 and wherever is_first); every
batch starts from the learned initial state (no state is carried across batches).
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from envs.spec import EnvSpec
from offon_jit.dreamer.actor_critic import (
    actor_critic_update,
    critic_key,
    make_actor,
    make_critic,
    reward_terms,
    slow_critic_key,
)
from offon_jit.dreamer.actor_critic import imagine as imagine_latents
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.distributions import symexp, twohot_bins, twohot_mean
from offon_jit.dreamer.expl_schedule import LEVEL, effective_weight, init_disag_level, update_disag_level
from offon_jit.dreamer.mixing import mix_agents
from offon_jit.dreamer.normalizer import init_return_norm
from offon_jit.dreamer.optim import make_optimizers, trained_groups
from offon_jit.dreamer.plan2explore import (
    data_disagreement,
    disagreement_of,
    ensemble_update,
    init_ensemble,
)
from offon_jit.dreamer.policy_autoencoder import (
    init_policy_autoencoder,
    policy_ae_update,
    reconstruction_error,
)
from offon_jit.dreamer.rssm import Latent, reset_where_first
from offon_jit.dreamer.world_model import (
    WorldModel,
    check_batch,
    init_world_model,
    make_world_model,
    preprocess_obs,
    world_model_loss_means,
    world_model_loss_per_step,
    world_model_outputs,
)

sg = jax.lax.stop_gradient

POLICY_MODES = ("explore", "eval")

# Optional modules draw their init keys by fold_in, so switching them on or off never
# changes the keys (hence the parameters) of the world model, actor and critic.
DISAG_KEY_SALT = 0x5D15A6
DISAG_CRITIC_KEY_SALT = 0xC21D
POLICY_AE_KEY_SALT = 0x9A0E

__all__ = [
    "AgentState",
    "DreamerConfig",
    "PolicyCarry",
    "agent_latent",
    "decode_observation",
    "disagreement_reward",
    "imagine",
    "init_agent",
    "initial_policy_carry",
    "mix_agents",
    "policy_input_loss",
    "policy_step",
    "train_step",
    "value_estimate",
    "world_model_loss_means",
    "world_model_loss_per_step",
]


@struct.dataclass
class AgentState:
    """Everything one DreamerV3 agent owns. Arrays only, plus static config and spec."""

    # Flax variables: {'wm', 'actor', 'critic', 'slow_critic'} (+ with the ensemble: 'disag', and, unless
    # it is a signal only, the disagreement term's 'disag_critic', 'slow_disag_critic'; + 'policy_ae')
    params: dict
    opt_states: dict  # one Optax state per trained group (optim.trained_groups)
    return_norm: dict  # reward term ('task', + 'disag' with the disagreement reward) -> its ReturnNormState
    step: jax.Array  # int32: completed train steps
    # float32 scalar w_expl of Eq. 5, the disagreement term's weight in the actor's advantage (an
    # array so runs with different weights vmap together); ignored without the disagreement reward.
    # Under expl_rule "decay" it is the ceiling w_0 of the effective weight; it never changes.
    expl_weight: jax.Array
    # float32 scalar decay in [0, 1] of expl_rule "decay" (expl_schedule.py); ignored by "fixed".
    expl_decay: jax.Array
    # float32 (2,): (peak, EMA) of the ensemble's disagreement on the training batches, updated by
    # expl_rule "decay" only; zeros before its first update.
    disag_level: jax.Array
    config: DreamerConfig = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


@struct.dataclass
class PolicyCarry:
    """Per-env recurrent policy state: the latent (h, z) and the previous action."""

    latent: Latent  # (B, ...)
    prev_action: jax.Array  # (B, A) float32; one-hot for discrete spaces


def check_spec(spec: EnvSpec) -> None:
    if len(spec.obs_shape) == 3:
        if spec.obs_dtype != np.uint8:
            raise ValueError(f"{spec.name}: image observations must be uint8, spec says {spec.obs_dtype}")
    elif len(spec.obs_shape) != 1:
        raise ValueError(f"{spec.name}: observations must be (D,) vectors or (H, W, C) images, got {spec.obs_shape}")


def _world_model(agent_state: AgentState) -> WorldModel:
    spec = agent_state.spec
    return make_world_model(agent_state.config, spec.obs_shape, spec.action.dim)


def _actor(spec: EnvSpec, config: DreamerConfig):
    return make_actor(config, spec.action.dim, spec.action.is_discrete)


def _check_unit_scalar(name: str, value, meaning: str) -> None:
    """A scalar in [0, 1]; a traced value (vmap) is checked for its shape only."""
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar (vmap init_agent for several), got shape {jnp.shape(value)}")
    if not isinstance(value, jax.core.Tracer) and not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] ({meaning}), got {float(value)}")


def init_agent(key: jax.Array, spec: EnvSpec, config: DreamerConfig, expl_weight=0.0, expl_decay=0.0) -> AgentState:
    """Fresh parameters, optimiser states and normaliser; the slow critic starts as a copy.

    `expl_weight` is w_expl of Eq. 5 in [0, 1] (may be traced, e.g. vmapped): the actor's
    advantage weighs the disagreement term's normalised advantage by w and the task's by
    1 - w. It has no effect without the disagreement reward (disag_models == 0 or
    disag_reward False). `expl_decay` in [0, 1] (may be traced) is the decay of
    expl_rule "decay" (expl_schedule.py); a concrete non-zero value needs that rule.
    """
    check_spec(spec)
    _check_unit_scalar("expl_weight", expl_weight, "w_task = 1 - w_expl")
    _check_unit_scalar("expl_decay", expl_decay, "0 keeps w_expl fixed, 1 scales it by the disagreement's fall")
    if config.expl_rule != "decay" and not isinstance(expl_decay, jax.core.Tracer) and float(expl_decay) != 0.0:
        raise ValueError(f"expl_decay={float(expl_decay)} needs DreamerConfig.expl_rule='decay', got {config.expl_rule!r}")
    return _init_agent(key, spec, config, jnp.asarray(expl_weight, jnp.float32), jnp.asarray(expl_decay, jnp.float32))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init_agent(key: jax.Array, spec: EnvSpec, config: DreamerConfig, expl_weight: jax.Array,
                expl_decay: jax.Array) -> AgentState:  # fmt: skip
    # Jitted: one compiled program instead of hundreds of eagerly dispatched init ops.
    wm_key, actor_key, critic_init_key = jax.random.split(key, 3)
    feat = jnp.zeros((1, config.feat_size), jnp.float32)
    critic = make_critic(config).init(critic_init_key, feat)
    params = {
        "wm": init_world_model(wm_key, config, spec.obs_shape, spec.action.dim),
        "actor": _actor(spec, config).init(actor_key, feat),
        "critic": critic,
        "slow_critic": jax.tree_util.tree_map(jnp.copy, critic),
    }
    if config.disag_models:
        params["disag"] = init_ensemble(jax.random.fold_in(key, DISAG_KEY_SALT), config, spec.action.dim)
    if config.disag_reward_on:
        disag_critic = make_critic(config).init(jax.random.fold_in(key, DISAG_CRITIC_KEY_SALT), feat)
        params[critic_key("disag")] = disag_critic
        params[slow_critic_key("disag")] = jax.tree_util.tree_map(jnp.copy, disag_critic)
    if config.policy_ae_bottleneck:
        params["policy_ae"] = init_policy_autoencoder(jax.random.fold_in(key, POLICY_AE_KEY_SALT), config)
    optimizers = make_optimizers(config)
    opt_states = {name: optimizers[name].init(params[name]) for name in trained_groups(config)}
    return AgentState(
        params=params,
        opt_states=opt_states,
        return_norm={term: init_return_norm() for term in reward_terms(config)},
        step=jnp.zeros((), jnp.int32),
        expl_weight=expl_weight.astype(jnp.float32).reshape(()),
        expl_decay=expl_decay.astype(jnp.float32).reshape(()),
        disag_level=init_disag_level(),
        config=config,
        spec=spec,
    )


def initial_policy_carry(agent_state: AgentState, batch_size: int) -> PolicyCarry:
    """The learned initial latent and a zero previous action for `batch_size` envs."""
    wm = _world_model(agent_state)
    latent = wm.apply(agent_state.params["wm"], batch_size, method=WorldModel.initial)
    action = jnp.zeros((batch_size, agent_state.spec.action.dim), jnp.float32)
    return PolicyCarry(latent=sg(latent), prev_action=action)


def policy_step(agent_state: AgentState, carry: PolicyCarry, obs, is_first, key, mode: str):
    """One action per env from raw observations.

    obs (B, *obs_shape); is_first (B,) bool resets the latent to the learned initial
    state and the previous action to zero. mode "explore" samples the actor, "eval"
    takes its mode (discrete) / mean (continuous). Returns (action, new carry), with
    action int32 (B,) for discrete spaces and float32 (B, dim) in [-1, 1] otherwise.
    """
    if mode not in POLICY_MODES:
        raise ValueError(f"unknown policy mode {mode!r}; expected one of {POLICY_MODES}")
    spec, config = agent_state.spec, agent_state.config
    if tuple(obs.shape[1:]) != spec.obs_shape:
        raise ValueError(f"{spec.name}: obs must be (B, *{spec.obs_shape}), got {obs.shape}")
    if spec.is_image and obs.dtype != jnp.uint8:
        raise ValueError(f"{spec.name}: image observations must be uint8, got {obs.dtype}")
    batch = obs.shape[0]
    if is_first.shape != (batch,):
        raise ValueError(f"is_first must be ({batch},), got {is_first.shape}")
    wm, wm_params = _world_model(agent_state), agent_state.params["wm"]
    latent_key, action_key = jax.random.split(key)

    embed = wm.apply(wm_params, preprocess_obs(obs), method=WorldModel.encode)
    initial = wm.apply(wm_params, batch, method=WorldModel.initial)
    prev, prev_action = reset_where_first(carry.latent, carry.prev_action, is_first.astype(bool), initial)
    latent, _, _ = wm.apply(wm_params, prev, prev_action, embed, latent_key, method=WorldModel.obs_step)
    policy = _actor(spec, config).apply(agent_state.params["actor"], latent.feat())
    action = policy.sample(action_key) if mode == "explore" else policy.mode()
    if spec.action.is_discrete:
        index = jnp.argmax(action, -1).astype(jnp.int32)
        vector = jax.nn.one_hot(index, spec.action.dim, dtype=jnp.float32)
        return index, PolicyCarry(latent=sg(latent), prev_action=vector)
    action = jnp.clip(sg(action), -1.0, 1.0).astype(jnp.float32)
    chex.assert_shape(action, (batch, spec.action.dim))
    return action, PolicyCarry(latent=sg(latent), prev_action=action)


def _check_batch_matches_spec(batch: dict, spec: EnvSpec) -> None:
    _, _, obs_shape, action_dim = check_batch(batch)
    if obs_shape != spec.obs_shape or action_dim != spec.action.dim:
        raise ValueError(
            f"{spec.name}: batch has obs {obs_shape} and action dim {action_dim}, "
            f"spec has obs {spec.obs_shape} and action dim {spec.action.dim}"
        )


def train_step(agent_state: AgentState, batch: dict, key, train_world_model: bool = True) -> tuple[AgentState, dict]:
    """One DreamerV3 update: world model, then actor and critic in imagination.

    Imagination starts from every posterior state of the batch (B*T starts) and uses
    the freshly updated world model, as DreamerV3 v1 does. With `train_world_model=False`
    (a static Python bool) the world model and its optimiser state stay exactly as they
    are (its losses are still reported; 'wm_grad_norm' is 0) and the actor and critic
    learn in imagination of that fixed model. The Plan2Explore ensemble and the policy
    autoencoder, when enabled, train on the batch's stop-gradient posterior either way
    (the ensemble before imagination, so its updated disagreement is the reward). With
    expl_rule "decay" the updated ensemble's disagreement on the batch's transitions then
    moves `disag_level`, which sets this update's w_expl (expl_schedule.py).
    Returns the new state and a dict of scalar metrics (see `README.md` for the keys).
    """
    if not isinstance(train_world_model, bool):
        raise TypeError(
            "train_world_model must be a Python bool (static under jit: "
            f"jax.jit(train_step, static_argnames='train_world_model')), got {type(train_world_model).__name__}"
        )
    spec, config = agent_state.spec, agent_state.config
    _check_batch_matches_spec(batch, spec)
    params, opt_states = agent_state.params, agent_state.opt_states
    optimizers = make_optimizers(config)
    wm_key, ac_key = jax.random.split(key)

    if train_world_model:

        def wm_objective(wm_params):
            losses, extras = world_model_outputs(wm_params, batch, wm_key, config)
            return jnp.mean(losses["total"]), (losses, extras)

        (_, (losses, extras)), wm_grads = jax.value_and_grad(wm_objective, has_aux=True)(params["wm"])
        wm_updates, wm_opt = optimizers["wm"].update(wm_grads, opt_states["wm"], params["wm"])
        wm_params = optax.apply_updates(params["wm"], wm_updates)
        wm_grad_norm = optax.tree.norm(wm_grads)
    else:
        losses, extras = world_model_outputs(params["wm"], batch, wm_key, config)
        wm_params, wm_opt = params["wm"], opt_states["wm"]
        wm_grad_norm = jnp.zeros((), jnp.float32)

    post = jax.tree_util.tree_map(sg, extras["post"])
    aux_params, aux_opt, aux_metrics = {}, {}, {}
    expl_reward_fn, expl_weight, disag_level = None, agent_state.expl_weight, agent_state.disag_level
    if config.disag_models:
        action = batch["action"].astype(jnp.float32)
        aux_params["disag"], aux_opt["disag"], disag_metrics = ensemble_update(
            params["disag"], opt_states["disag"], optimizers["disag"], config, post, action, batch["is_first"],
        )  # fmt: skip
        aux_metrics.update(disag_metrics)
    if config.disag_reward_on:  # a signal-only ensemble trains above and is never rewarded
        expl_reward_fn = functools.partial(disagreement_of, aux_params["disag"], config)
    if config.expl_rule == "decay":
        measured = data_disagreement(aux_params["disag"], config, post, action, batch["is_first"])
        disag_level = update_disag_level(disag_level, measured, config.expl_decay_rate, agent_state.step == 0)
        expl_weight = effective_weight(agent_state.expl_weight, agent_state.expl_decay, disag_level)
        aux_metrics.update(expl_weight_eff=expl_weight, disag_level=disag_level[LEVEL])
    if config.policy_ae_bottleneck:
        aux_params["policy_ae"], aux_opt["policy_ae"], ae_metrics = policy_ae_update(
            params["policy_ae"], opt_states["policy_ae"], optimizers["policy_ae"], config, post.feat()
        )
        aux_metrics.update(ae_metrics)

    flatten = lambda x: x.reshape((-1,) + x.shape[2:])
    start = jax.tree_util.tree_map(flatten, post)
    start_cont = 1.0 - flatten(batch["is_terminal"]).astype(jnp.float32)
    ac_params, ac_opt, norm_state, ac_metrics = actor_critic_update(
        {**params, "wm": wm_params}, opt_states, agent_state.return_norm,
        wm_model=_world_model(agent_state), wm_params=wm_params, actor_model=_actor(spec, config),
        critic_model=make_critic(config), start=start, start_cont=start_cont, key=ac_key, config=config,
        optimizers=optimizers, expl_reward_fn=expl_reward_fn, expl_weight=expl_weight,
    )  # fmt: skip

    metrics = {f"wm_{name}": jnp.mean(value) for name, value in losses.items()}
    metrics["wm_grad_norm"] = wm_grad_norm
    metrics["post_entropy"] = jnp.mean(extras["post_entropy"])
    metrics["prior_entropy"] = jnp.mean(extras["prior_entropy"])
    metrics.update(ac_metrics)
    metrics.update(aux_metrics)
    new_state = agent_state.replace(
        params={**ac_params, **aux_params},
        opt_states={**ac_opt, **aux_opt, "wm": wm_opt},
        return_norm=norm_state,
        step=agent_state.step + 1,
        disag_level=disag_level,
    )
    return new_state, metrics


def agent_latent(agent_state: AgentState, batch: dict, key) -> Latent:
    """Posterior latents (B, T, ...) of a batch of sequences (the policy's inputs are `.feat()`)."""
    _check_batch_matches_spec(batch, agent_state.spec)
    _, extras = world_model_outputs(agent_state.params["wm"], batch, key, agent_state.config)
    return extras["post"]


def value_estimate(agent_state: AgentState, latent: Latent, slow: bool = False) -> jax.Array:
    """Critic value v(s) of latents with any leading axes (the slow copy if `slow`)."""
    config = agent_state.config
    params = agent_state.params["slow_critic" if slow else "critic"]
    logits = make_critic(config).apply(params, latent.feat())
    return twohot_mean(logits, twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high))


def imagine(agent_state: AgentState, start: Latent, key, horizon: int | None = None) -> tuple[Latent, jax.Array]:
    """Imagined rollout under the current actor from `start` (N, ...).

    Returns latents (H+1, N, ...) and actions (H, N, A) (one-hot for discrete spaces).
    """
    spec, config = agent_state.spec, agent_state.config
    horizon = config.imag_horizon if horizon is None else horizon
    return imagine_latents(
        _world_model(agent_state), agent_state.params["wm"], _actor(spec, config), agent_state.params["actor"],
        start, key, horizon, backprop=False,
    )  # fmt: skip


def disagreement_reward(agent_state: AgentState, latent: Latent, action: jax.Array) -> jax.Array:
    """Plan2Explore intrinsic reward of (s, a): std across ensemble heads, mean over output dims.

    latent with any leading axes L, action (*L, A) float (one-hot for discrete spaces).
    Returns an array of shape L. Raises ValueError when config.disag_models == 0.
    """
    if action.shape[-1] != agent_state.spec.action.dim:
        raise ValueError(f"{agent_state.spec.name}: action must end with dim {agent_state.spec.action.dim}, got {action.shape}")
    if agent_state.config.disag_models == 0:
        raise ValueError("this agent has no Plan2Explore ensemble (DreamerConfig.disag_models=0)")
    return disagreement_of(agent_state.params["disag"], agent_state.config, latent, action)


def policy_input_loss(agent_state: AgentState, latent: Latent) -> jax.Array:
    """Policy-input autoencoder's mean squared reconstruction error per state (mean over
    feature dims), with the latent's leading shape. High values flag novel policy inputs."""
    if agent_state.config.policy_ae_bottleneck == 0:
        raise ValueError("this agent has no policy-input autoencoder (DreamerConfig.policy_ae_bottleneck=0)")
    return reconstruction_error(agent_state.params["policy_ae"], agent_state.config, latent.feat())


def _decode(world_model: WorldModel, feat):
    return world_model.decoder(feat)


def decode_observation(agent_state: AgentState, latent: Latent) -> jax.Array:
    """The decoder's observation for latents with any leading axes L.

    Image specs: uint8 (*L, H, W, C) (rounded, clipped to [0, 255]); vector specs:
    float32 (*L, D), the decoder's symlog-space output mapped back by symexp.
    """
    decoded = _world_model(agent_state).apply(agent_state.params["wm"], latent.feat(), method=_decode)
    if agent_state.spec.is_image:
        return jnp.clip(jnp.round(decoded * 255.0), 0.0, 255.0).astype(jnp.uint8)
    return symexp(decoded).astype(jnp.float32)
