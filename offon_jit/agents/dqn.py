"""Double DQN for discrete tasks (MinAtar), the model-free family of Ostrovski et al.'s tandem setting.

Pure functions over an `AgentState` (agents/family.py), all jit- and vmap-able over a leading seed
axis. params = {"online": Q network, "target": its hard copy}. Each update regresses
Q_online(s_t, a_t) on the n-step Double DQN target (nstep.nstep_bootstrap)

    G_t = sum_k discount^(k-1) r_{t+k} + discount^m Q_target(s_{t+m}, argmax_a Q_online(s_{t+m}, a))

(the online net picks the bootstrap action, the target net values it: van Hasselt et al. 2016),
with a Huber loss averaged over the rows whose target is complete. Only the first T - n rows of a
window of T train (`trained_rows`: row 0 of the default n + 1 rows), and Q is computed only at
those rows and the rows that bootstrap them. Settings: dqn_config.py.
Acting is epsilon-greedy on Q_online; epsilon follows a linear schedule in UPDATES (the policy
has no env-step counter): env steps = prefill + updates * train_every.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from envs.spec import EnvSpec
from offon_jit.agents import nstep
from offon_jit.agents.dqn_config import PRESETS, DQNConfig
from offon_jit.agents.networks import MLP, Torso
from offon_jit.agents.weight_mix import mixed_groups

CONFIG = DQNConfig
POLICY_MODES = ("explore", "eval")
sg = jax.lax.stop_gradient

# RunConfig fields for MinAtar-like runs on a small CPU: one update per 4 agent steps and batches
# of 32 (Atari DQN, Ostrovski et al.); windows of n_step + 1 rows hold exactly one n-step target
# (row 0); a 5000-step random prefill (the MinAtar DQN's replay start); greedy evaluation.
RUN_DEFAULTS = {
    "train_every": 4,
    "batch_size": 32,
    "seq_len": PRESETS["tiny"]["n_step"] + 1,
    "num_envs": 4,
    "prefill": 5000,  # a multiple of num_envs, 1250 steps per env >= seq_len
    "eval_policy": "mode",
}

__all__ = [
    "CONFIG", "PRESETS", "RUN_DEFAULTS", "AgentState", "DQNConfig", "double_q_value", "epsilon",
    "init_agent", "initial_policy_carry", "mix_agents", "policy_step", "q_values", "step_losses",
    "train_step", "value_estimate",
]  # fmt: skip


@struct.dataclass
class AgentState:
    params: dict  # {"online": Flax variables, "target": Flax variables}
    opt_state: optax.OptState  # Adam's state of the online network
    step: jax.Array  # int32: completed updates (drives the target copies and epsilon)
    config: DQNConfig = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


class QNetwork(nn.Module):
    """Torso (one conv for images, identity for vectors) -> hidden ReLU layer -> one Q per action."""

    conv_channels: int
    image_size: int
    hidden: int
    num_actions: int

    @nn.compact
    def __call__(self, obs):
        return MLP((self.hidden, self.num_actions))(Torso(self.conv_channels, self.image_size)(obs))


def _network(config: DQNConfig, spec: EnvSpec) -> QNetwork:
    return QNetwork(config.conv_channels, config.image_size, config.hidden, spec.action.num_actions)


def _optimizer(config: DQNConfig) -> optax.GradientTransformation:
    adam = optax.adam(config.lr, eps=config.adam_eps)
    return optax.chain(optax.clip_by_global_norm(config.grad_clip), adam) if config.grad_clip else adam


def check_spec(spec: EnvSpec) -> None:
    if not spec.action.is_discrete:
        raise ValueError(f"{spec.name}: DQN needs a discrete action space, got a continuous one {spec.action.shape}")
    if len(spec.obs_shape) == 3:
        if spec.obs_dtype != np.uint8:
            raise ValueError(f"{spec.name}: image observations must be uint8, spec says {spec.obs_dtype}")
    elif len(spec.obs_shape) != 1:
        raise ValueError(f"{spec.name}: observations must be (D,) vectors or (H, W, C) images, got {spec.obs_shape}")


def _check_obs(spec: EnvSpec, obs, lead: int) -> None:
    if tuple(obs.shape[lead:]) != spec.obs_shape:
        raise ValueError(f"{spec.name}: obs must end with {spec.obs_shape}, got {obs.shape}")
    if spec.is_image and obs.dtype != jnp.uint8:
        raise ValueError(f"{spec.name}: image observations must be uint8, got {obs.dtype}")


def _check_batch(state: AgentState, batch: dict) -> None:
    spec, n = state.spec, state.config.n_step
    _check_obs(spec, batch["obs"], 2)
    rows = batch["obs"].shape[:2]
    want = rows + (spec.action.num_actions,)
    if batch["action"].shape != want:
        raise ValueError(f"{spec.name}: action must be one-hot {want}, got {batch['action'].shape}")
    for name in ("reward", "is_first", "is_terminal"):
        if batch[name].shape != rows:
            raise ValueError(f"{name} must be {rows}, got {batch[name].shape}")
    if rows[1] < n + 1:  # shorter windows only hold targets of episodes that end inside them: biased
        raise ValueError(f"windows of {rows[1]} rows hold no complete {n}-step target: seq_len must be >= n_step + 1")


def init_agent(key: jax.Array, spec: EnvSpec, config: DQNConfig) -> AgentState:
    """Fresh online network, the target as its exact copy, fresh Adam state, step 0."""
    check_spec(spec)
    return _init_agent(key, spec, config)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init_agent(key: jax.Array, spec: EnvSpec, config: DQNConfig) -> AgentState:
    online = _network(config, spec).init(key, jnp.zeros((1, *spec.obs_shape), spec.obs_dtype))
    return AgentState(
        params={"online": online, "target": jax.tree_util.tree_map(jnp.copy, online)},
        opt_state=_optimizer(config).init(online),
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


def q_values(state: AgentState, obs, network: str = "online") -> jax.Array:
    """Q(obs, .) of `network` ("online" or "target") for obs with any leading axes: (..., num_actions)."""
    return _network(state.config, state.spec).apply(state.params[network], obs)


def epsilon(state: AgentState) -> jax.Array:
    """Exploration epsilon after `state.step` updates: linear from eps_start to eps_end, then flat."""
    config = state.config
    if config.eps_decay_updates == 0:
        return jnp.asarray(config.eps_end, jnp.float32)
    done = jnp.clip(state.step.astype(jnp.float32) / config.eps_decay_updates, 0.0, 1.0)
    return (config.eps_start + done * (config.eps_end - config.eps_start)).astype(jnp.float32)


def initial_policy_carry(state: AgentState, batch_size: int) -> jax.Array:
    """DQN is not recurrent: a placeholder carry, passed through unchanged."""
    return jnp.zeros((batch_size,), jnp.int32)


def policy_step(state: AgentState, carry, obs, is_first, key, mode: str):
    """Epsilon-greedy on Q_online: "explore" at the schedule's epsilon, "eval" at eval_epsilon.

    obs (B, *obs_shape) raw observations; returns (int32 (B,) actions, carry unchanged).
    """
    if mode not in POLICY_MODES:
        raise ValueError(f"unknown policy mode {mode!r}; expected one of {POLICY_MODES}")
    spec = state.spec
    _check_obs(spec, obs, 1)
    batch = obs.shape[0]
    if is_first.shape != (batch,):
        raise ValueError(f"is_first must be ({batch},), got {is_first.shape}")
    greedy = jnp.argmax(q_values(state, obs), -1).astype(jnp.int32)
    eps = epsilon(state) if mode == "explore" else jnp.asarray(state.config.eval_epsilon, jnp.float32)
    coin_key, action_key = jax.random.split(key)
    random = jax.random.randint(action_key, (batch,), 0, spec.action.num_actions, jnp.int32)
    return jnp.where(jax.random.uniform(coin_key, (batch,)) < eps, random, greedy), carry


def double_q_value(q_online, q_target) -> jax.Array:
    """Double DQN's bootstrap value: the target network's Q of the online network's greedy action."""
    greedy = jnp.argmax(q_online, -1)
    return jnp.take_along_axis(q_target, greedy[..., None], -1)[..., 0]


def trained_rows(window: int, n: int) -> int:
    """Rows of a window that train: those whose n-step horizon lies inside it (row 0 of an n + 1 window).

    Each sampled window is then one uniformly drawn transition (a row near an episode's end is not
    counted again from later positions), and the networks see only the rows a target reads."""
    return window - n


def _td_rows(online_params, state: AgentState, batch: dict):
    """Per-row Huber TD loss (0 on rows without a target, and on the last n rows, which do not train),
    valid rows, and scalar diagnostics. Q is computed only at the trained rows and their bootstrap rows."""
    config, spec = state.config, state.spec
    window = batch["obs"].shape[1]
    rows = trained_rows(window, config.n_step)
    partial, boot_row, weight, valid = nstep.nstep_bootstrap(
        batch["reward"].astype(jnp.float32), batch["is_first"].astype(bool), batch["is_terminal"].astype(bool),
        config.discount, config.n_step,
    )  # fmt: skip
    partial, boot_row, weight, valid = (x[:, :rows] for x in (partial, boot_row, weight, valid))
    boot_obs = jax.vmap(lambda obs, row: obs[row])(batch["obs"], boot_row)  # (B, rows, *obs_shape)
    network = _network(config, spec)
    q_now = network.apply(online_params, batch["obs"][:, :rows])
    next_value = double_q_value(sg(network.apply(online_params, boot_obs)), q_values(state, boot_obs, "target"))
    target = sg(partial + weight * next_value)
    q_taken = jnp.sum(q_now * batch["action"][:, :rows].astype(jnp.float32), -1)
    loss = jnp.where(valid, optax.huber_loss(q_taken, target, delta=config.huber_delta), 0.0)
    pad = lambda x, fill: jnp.concatenate([x, jnp.full((x.shape[0], window - rows), fill, x.dtype)], 1)  # noqa: E731
    return pad(loss, 0.0), pad(valid, False), {"q_taken": pad(q_taken, 0.0), "td_target": pad(target, 0.0)}


def _masked_mean(x, valid):
    return jnp.sum(jnp.where(valid, x, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


def step_losses(state: AgentState, batch: dict, key=None):
    """({"total": (B, T)}, valid (B, T)): each row's TD loss as train_step trains it, at the current params.

    `key` is unused: the loss is deterministic (it is accepted for the family protocol).
    """
    _check_batch(state, batch)
    loss, valid, _ = _td_rows(state.params["online"], state, batch)
    return {"total": loss}, valid


def train_step(state: AgentState, batch: dict, key=None) -> tuple[AgentState, dict]:
    """One Adam step on the masked-mean TD loss; the target copies the online net every
    `target_update_every` updates (a jnp.where on the step counter, so seeds vmap). `key` is unused."""
    _check_batch(state, batch)
    config = state.config

    def objective(online):
        loss, valid, extras = _td_rows(online, state, batch)
        return _masked_mean(loss, valid), (valid, extras)

    (loss, (valid, extras)), grads = jax.value_and_grad(objective, has_aux=True)(state.params["online"])
    updates, opt_state = _optimizer(config).update(grads, state.opt_state, state.params["online"])
    online = optax.apply_updates(state.params["online"], updates)
    step = state.step + 1
    copy = step % config.target_update_every == 0
    target = jax.tree_util.tree_map(lambda t, o: jnp.where(copy, o, t), state.params["target"], online)
    metrics = {
        "td_loss": loss,
        "q_mean": _masked_mean(extras["q_taken"], valid),
        "td_target_mean": _masked_mean(extras["td_target"], valid),
        "valid_fraction": jnp.mean(valid.astype(jnp.float32)),
        "grad_norm": optax.tree.norm(grads),
        "epsilon": epsilon(state),
        "target_copied": copy.astype(jnp.float32),
    }
    metrics = {name: value.astype(jnp.float32) for name, value in metrics.items()}
    new_state = state.replace(params={"online": online, "target": target}, opt_state=opt_state, step=step)
    return new_state, metrics


def value_estimate(state: AgentState, batch: dict) -> jax.Array:
    """V(obs_t) = max_a Q_online(obs_t, a) of every row: (B, T) float32 (the greedy policy's value)."""
    _check_obs(state.spec, batch["obs"], 2)
    return jnp.max(q_values(state, batch["obs"]), -1).astype(jnp.float32)


def mix_agents(active: AgentState, tandem: AgentState, alpha) -> AgentState:
    """Eq. S3: online = (1 - alpha) * Active + alpha * Tandem (exact at alpha 0 and 1), target = a copy
    of it, fresh Adam state; the step (hence epsilon) and everything else are the Tandem's."""
    online = mixed_groups(active, tandem, alpha, ("online",))["online"]
    params = {"online": online, "target": jax.tree_util.tree_map(jnp.copy, online)}
    return tandem.replace(params=params, opt_state=_optimizer(tandem.config).init(online))
