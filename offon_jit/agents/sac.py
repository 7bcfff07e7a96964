"""Soft actor-critic (Haarnoja et al. 2018, v2: twin critics, automatic temperature) for
continuous-action tasks with vector observations (DMC proprio). The agent-family API of
agents/family.py: pure functions over an `AgentState`, jit-able and vmappable over seeds.

SAC rather than TD3: its stochastic policy gives the protocol's two modes directly
("explore" samples the tanh-Gaussian, "eval" takes tanh(mean)), and it is the standard
model-free baseline on DMC proprio.

One `train_step` updates, in this order:
  1. critics  Q1, Q2 (inputs concat(obs, action)) towards the n-step target of nstep.py, with
              next_value[t] = min_i Q_target_i(obs_t, a') - alpha * log pi(a' | obs_t), a' ~ pi(obs_t);
              per row sum_i (Q_i(obs_t, action_t) - target_t)^2, averaged over the valid rows;
  2. actor    mean over every row of alpha * log pi(a | obs) - min_i Q_i(obs, a), a ~ pi(obs) by
              reparameterisation, through the critics of step 1;
  3. alpha    -log_alpha * (log pi(a | obs) + target_entropy), log pi of step 2's sample held fixed;
  4. targets  Polyak: target <- (1 - tau) * target + tau * critic (of step 1).
Steps 1-2 use the temperature from before the update. With n_step > 1 the entropy bonus enters
the target only at the bootstrap (the rewards of the n - 1 intermediate steps are not softened):
the replay rows hold no log pi of the actions that were taken.

Batches: obs (B, T, D) float32, action (B, T, A) in [-1, 1], reward (B, T) (arriving with obs_t),
is_first, is_terminal (B, T) bool; the replay convention of engine/transitions.py.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import optax
from flax import struct

from envs.spec import EnvSpec
from offon_jit.agents import nstep
from offon_jit.agents.networks import MLP
from offon_jit.agents.sac_config import PRESETS, SACConfig
from offon_jit.agents.weight_mix import mixed_groups

CONFIG = SACConfig
__all__ = [
    "CONFIG", "PRESETS", "RUN_DEFAULTS", "AgentState", "init_agent", "initial_policy_carry", "policy_step",
    "train_step", "step_losses", "value_estimate", "mix_agents",
]

# RunConfig fields for DMC proprio on a 2-core CPU: 4 envs and one update per 2 agent steps (half of
# SAC's one per step, to keep CPU runs affordable), standard 256-transition batches of one n-step
# window each (seq_len = n_step + 1 for the default n = 1), 5000 random prefill steps (10 episodes of
# 500), and the deterministic tanh(mean) policy for evaluation, as SAC papers report.
RUN_DEFAULTS = {
    "num_envs": 4,
    "train_every": 2,
    "batch_size": 256,
    "seq_len": 2,
    "prefill": 5000,
    "eval_policy": "mode",
}

POLICY_MODES = ("explore", "eval")
NUM_CRITICS = 2
GROUPS = ("actor", "critic", "log_alpha")  # each has its own Adam
MIXED_GROUPS = GROUPS  # Eq. S3 mixes every learned parameter; the target critics copy the mix
LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)

sg = jax.lax.stop_gradient


@struct.dataclass
class AgentState:
    """params: {"actor", "critic" (the two critics' variables stacked on a leading axis of 2),
    "target_critic" (same layout), "log_alpha" (float32 scalar)}; opt_state: one Adam state per group."""

    params: dict
    opt_state: dict
    step: jax.Array  # int32: completed updates
    config: SACConfig = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


def check_spec(spec: EnvSpec) -> None:
    if spec.action.is_discrete:
        raise ValueError(f"{spec.name}: SAC needs continuous actions, this task has {spec.action.num_actions} "
                         "discrete ones (use --algo dqn)")  # fmt: skip
    if len(spec.obs_shape) != 1:
        raise ValueError(f"{spec.name}: SAC takes vector observations, got shape {spec.obs_shape} "
                         "(use the task's -proprio variant)")  # fmt: skip


def _actor_net(config: SACConfig, action_dim: int) -> MLP:
    return MLP(features=config.hidden + (2 * action_dim,))  # mean and log std


def _critic_net(config: SACConfig) -> MLP:
    return MLP(features=config.hidden + (1,))


def _optimizers(config: SACConfig) -> dict:
    lrs = {"actor": config.actor_lr, "critic": config.critic_lr, "log_alpha": config.alpha_lr}
    return {name: optax.adam(lrs[name], eps=config.adam_eps) for name in GROUPS}


def init_agent(key: jax.Array, spec: EnvSpec, config: SACConfig) -> AgentState:
    """Fresh actor and critics, the target critics a copy of the critics, log_alpha = log(init_alpha)."""
    check_spec(spec)
    if not isinstance(config, SACConfig):
        raise ValueError(f"SAC needs a SACConfig, got {type(config).__name__}")
    return _init_agent(key, spec, config)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init_agent(key: jax.Array, spec: EnvSpec, config: SACConfig) -> AgentState:
    actor_key, critic_key = jax.random.split(key)
    obs = jnp.zeros((1,) + spec.obs_shape, jnp.float32)
    critic_in = jnp.zeros((1, spec.obs_shape[0] + spec.action.dim), jnp.float32)
    critic = jax.vmap(lambda k: _critic_net(config).init(k, critic_in))(jax.random.split(critic_key, NUM_CRITICS))
    params = {
        "actor": _actor_net(config, spec.action.dim).init(actor_key, obs),
        "critic": critic,
        "target_critic": jax.tree_util.tree_map(jnp.copy, critic),
        "log_alpha": jnp.asarray(math.log(config.init_alpha), jnp.float32),
    }
    optimizers = _optimizers(config)
    return AgentState(
        params=params,
        opt_state={name: optimizers[name].init(params[name]) for name in GROUPS},
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


# --- networks and the tanh-Gaussian policy ---------------------------------------------------


def actor_outputs(actor_params, obs, config: SACConfig, action_dim: int):
    """(mean, log_std) of the pre-tanh Gaussian, each (..., action_dim); log_std clipped to the config's range."""
    out = _actor_net(config, action_dim).apply(actor_params, obs.astype(jnp.float32))
    mean, log_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.clip(log_std, config.log_std_min, config.log_std_max)


def tanh_gaussian(mean, log_std, noise):
    """action = tanh(mean + exp(log_std) * noise) and its log density, summed over the last axis.

    Change of variables: log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2), with
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), which stays finite for large |u|.
    """
    pre = mean + jnp.exp(log_std) * noise
    gaussian = -0.5 * jnp.square(noise) - log_std - 0.5 * LOG_2PI
    log_det = 2.0 * (LOG_2 - pre - jax.nn.softplus(-2.0 * pre))
    return jnp.tanh(pre), jnp.sum(gaussian - log_det, axis=-1)


def sample_action(actor_params, obs, key, config: SACConfig, action_dim: int):
    """a ~ pi(obs) by reparameterisation, and log pi(a | obs): ((..., A), (...)). noise = normal(key, (..., A))."""
    mean, log_std = actor_outputs(actor_params, obs, config, action_dim)
    noise = jax.random.normal(key, mean.shape, jnp.float32)
    return tanh_gaussian(mean, log_std, noise)


def q_values(critic_params, obs, action, config: SACConfig):
    """Both critics' Q(obs, action), stacked: (2, ...) for obs (..., D) and action (..., A)."""
    x = jnp.concatenate([obs.astype(jnp.float32), action.astype(jnp.float32)], axis=-1)
    return jax.vmap(lambda p: _critic_net(config).apply(p, x)[..., 0])(critic_params)


# --- losses --------------------------------------------------------------------------------


def _masked_mean(x, valid):
    return jnp.sum(jnp.where(valid, x, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


def critic_targets(params: dict, batch: dict, key, config: SACConfig, action_dim: int):
    """(target, valid) (B, T): the n-step soft target of every row's transition (stop-gradient).

    next_value[t] = min_i Q_target_i(obs_t, a') - alpha * log pi(a' | obs_t) with a' ~ pi(obs_t)
    drawn with `key`; nstep.py reads it at the bootstrap rows only.
    """
    alpha = jnp.exp(params["log_alpha"])
    next_action, next_log_prob = sample_action(params["actor"], batch["obs"], key, config, action_dim)
    next_q = jnp.min(q_values(params["target_critic"], batch["obs"], next_action, config), axis=0)
    next_value = next_q - alpha * next_log_prob
    target, valid = nstep.nstep_targets(
        batch["reward"].astype(jnp.float32), batch["is_first"], batch["is_terminal"], next_value,
        config.discount, config.n_step,
    )  # fmt: skip
    return sg(target), valid


def _critic_row_losses(critic_params, batch: dict, target, valid, config: SACConfig):
    """Per-row squared TD errors {"total": q1 + q2, "q1", "q2"} (zero on invalid rows) and Q (2, B, T)."""
    q = q_values(critic_params, batch["obs"], batch["action"], config)
    squared = jnp.where(valid, jnp.square(q - target), 0.0)
    return {"total": squared[0] + squared[1], "q1": squared[0], "q2": squared[1]}, q


def alpha_loss(log_alpha, log_prob, target_entropy: float):
    """Temperature loss mean(-log_alpha * (log pi + target_entropy)); log pi is held fixed.

    Its gradient -(mean log pi + target_entropy) raises alpha while the policy's entropy
    (-mean log pi) is below the target, and lowers it above.
    """
    return jnp.mean(-log_alpha * (sg(log_prob) + target_entropy))


def temperature_update(log_alpha, opt_state, log_prob, config: SACConfig, target_entropy: float):
    """One Adam step on log_alpha: (new log_alpha, new opt state, loss before the step)."""
    loss, grad = jax.value_and_grad(alpha_loss)(log_alpha, log_prob, target_entropy)
    updates, opt_state = _optimizers(config)["log_alpha"].update(grad, opt_state, log_alpha)
    return optax.apply_updates(log_alpha, updates), opt_state, loss


def polyak(target, online, tau: float):
    """(1 - tau) * target + tau * online, leaf by leaf."""
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


# --- the protocol ----------------------------------------------------------------------------


def _check_obs(spec: EnvSpec, obs, lead: tuple[int, ...], what: str) -> None:
    if tuple(obs.shape) != lead + spec.obs_shape:
        raise ValueError(f"{spec.name}: {what} must be ({', '.join(['B', 'T'][:len(lead)])}, "
                         f"*{spec.obs_shape}), got {tuple(obs.shape)}")  # fmt: skip


def _check_batch(batch: dict, spec: EnvSpec) -> None:
    missing = sorted({"obs", "action", "reward", "is_first", "is_terminal"} - set(batch))
    if missing:
        raise ValueError(f"SAC batch is missing {missing}")
    if batch["reward"].ndim != 2:
        raise ValueError(f"reward must be (B, T), got shape {tuple(batch['reward'].shape)}")
    lead = tuple(batch["reward"].shape)
    if lead[1] < 2:
        raise ValueError(f"SAC needs windows of T >= 2 rows (a transition and its next obs), got T = {lead[1]}")
    _check_obs(spec, batch["obs"], lead, "batch obs")
    if tuple(batch["action"].shape) != lead + (spec.action.dim,):
        raise ValueError(f"{spec.name}: batch action must be {lead + (spec.action.dim,)}, "
                         f"got {tuple(batch['action'].shape)}")  # fmt: skip
    for name in ("is_first", "is_terminal"):
        if tuple(batch[name].shape) != lead:
            raise ValueError(f"batch {name} must be {lead} like reward, got {tuple(batch[name].shape)}")


def initial_policy_carry(state: AgentState, batch_size: int):
    """The policy is not recurrent: a placeholder carry that policy_step passes through."""
    return jnp.zeros((batch_size,), jnp.int32)


def policy_step(state: AgentState, carry, obs, is_first, key, mode: str):
    """Actions float32 (B, A) in [-1, 1]: a tanh-Gaussian sample ("explore") or tanh(mean) ("eval")."""
    if mode not in POLICY_MODES:
        raise ValueError(f"unknown policy mode {mode!r}; expected one of {POLICY_MODES}")
    spec, config = state.spec, state.config
    if obs.ndim != 1 + len(spec.obs_shape):
        raise ValueError(f"{spec.name}: obs must be (B, *{spec.obs_shape}), got {tuple(obs.shape)}")
    _check_obs(spec, obs, tuple(obs.shape[:1]), "obs")
    if tuple(is_first.shape) != tuple(obs.shape[:1]):
        raise ValueError(f"is_first must be ({obs.shape[0]},), got {tuple(is_first.shape)}")
    if mode == "explore":
        action, _ = sample_action(state.params["actor"], obs, key, config, spec.action.dim)
    else:
        mean, _ = actor_outputs(state.params["actor"], obs, config, spec.action.dim)
        action = jnp.tanh(mean)
    return sg(action).astype(jnp.float32), carry


def train_step(state: AgentState, batch: dict, key) -> tuple[AgentState, dict]:
    """One SAC update (critics, actor, temperature, Polyak; see the module docstring)."""
    spec, config = state.spec, state.config
    _check_batch(batch, spec)
    dim = spec.action.dim
    params, opt_state = state.params, state.opt_state
    optimizers = _optimizers(config)
    target_key, actor_key = jax.random.split(key)  # step_losses draws its targets with the same split

    target, valid = critic_targets(params, batch, target_key, config, dim)

    def critic_objective(critic_params):
        losses, q = _critic_row_losses(critic_params, batch, target, valid, config)
        return _masked_mean(losses["total"], valid), q

    (critic_loss, q), grads = jax.value_and_grad(critic_objective, has_aux=True)(params["critic"])
    updates, critic_opt = optimizers["critic"].update(grads, opt_state["critic"], params["critic"])
    critic = optax.apply_updates(params["critic"], updates)

    alpha = jnp.exp(params["log_alpha"])

    def actor_objective(actor_params):
        action, log_prob = sample_action(actor_params, batch["obs"], actor_key, config, dim)
        q_new = jnp.min(q_values(critic, batch["obs"], action, config), axis=0)
        return jnp.mean(alpha * log_prob - q_new), log_prob

    (actor_loss, log_prob), grads = jax.value_and_grad(actor_objective, has_aux=True)(params["actor"])
    updates, actor_opt = optimizers["actor"].update(grads, opt_state["actor"], params["actor"])
    actor = optax.apply_updates(params["actor"], updates)

    log_alpha, alpha_opt, temp_loss = temperature_update(
        params["log_alpha"], opt_state["log_alpha"], log_prob, config, config.target_entropy(dim)
    )
    new_params = {
        "actor": actor,
        "critic": critic,
        "target_critic": polyak(params["target_critic"], critic, config.tau),
        "log_alpha": log_alpha,
    }
    metrics = {
        "loss": critic_loss,  # the TD loss: masked mean of step_losses' "total"
        "critic_loss": critic_loss,
        "actor_loss": actor_loss,
        "alpha_loss": temp_loss,
        "alpha": alpha,  # the temperature this update used
        "entropy": -jnp.mean(log_prob),
        "q_mean": _masked_mean(jnp.mean(q, axis=0), valid),
        "target_mean": _masked_mean(target, valid),
        "valid_fraction": jnp.mean(valid.astype(jnp.float32)),
    }
    new_state = state.replace(
        params=new_params,
        opt_state={"actor": actor_opt, "critic": critic_opt, "log_alpha": alpha_opt},
        step=state.step + 1,
    )
    return new_state, {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}


def step_losses(state: AgentState, batch: dict, key):
    """({"total", "q1", "q2"} (B, T), valid (B, T)): every row's critic TD loss as train_step trains it.

    Same targets (the same `key` gives train_step's next-action draw), same per-row loss, at the
    current parameters; zero on rows without a complete n-step target.
    """
    _check_batch(batch, state.spec)
    target_key, _ = jax.random.split(key)
    target, valid = critic_targets(state.params, batch, target_key, state.config, state.spec.action.dim)
    losses, _ = _critic_row_losses(state.params["critic"], batch, target, valid, state.config)
    return losses, valid


def value_estimate(state: AgentState, batch: dict):
    """V(obs_t) (B, T) = min_i Q_i(obs_t, tanh(mean(obs_t))): the critics' value of the eval policy.

    The eval policy is the one whose Monte-Carlo returns the value error compares against; no
    entropy term is subtracted, since those returns carry none (the soft Q still includes the
    entropy bonus of later steps). min, not mean, of the twins: the estimate the actor trains on.
    """
    spec, config = state.spec, state.config
    obs = batch["obs"]
    if obs.ndim != 2 + len(spec.obs_shape):
        raise ValueError(f"{spec.name}: batch obs must be (B, T, *{spec.obs_shape}), got {tuple(obs.shape)}")
    _check_obs(spec, obs, tuple(obs.shape[:2]), "batch obs")
    mean, _ = actor_outputs(state.params["actor"], obs, config, spec.action.dim)
    return jnp.min(q_values(state.params["critic"], obs, jnp.tanh(mean), config), axis=0).astype(jnp.float32)


def mix_agents(active: AgentState, tandem: AgentState, alpha) -> AgentState:
    """Eq. S3: the Tandem agent with actor, critics and log_alpha = (1 - alpha) Active + alpha Tandem.

    (`alpha` is the mixing weight, not the temperature.) The target critics become copies of the
    mixed critics and every optimiser state is fresh; the step count is the Tandem's. alpha may be
    traced (vmap); alpha = 0 and 1 give the Active's and the Tandem's parameters exactly.
    """
    mixed = mixed_groups(active, tandem, alpha, MIXED_GROUPS)
    mixed["target_critic"] = jax.tree_util.tree_map(jnp.copy, mixed["critic"])
    optimizers = _optimizers(tandem.config)
    return tandem.replace(params=mixed, opt_state={name: optimizers[name].init(mixed[name]) for name in GROUPS})
