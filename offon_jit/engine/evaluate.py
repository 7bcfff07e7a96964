"""Evaluation on the device: episodes of the agent's own policy, and the OOD ratio.

Every eval point runs `eval_episodes` fresh episodes with the policy's mode
(no exploration noise) and reports:
  score           undiscounted return per episode, mean over episodes
  eval_wm_loss    world-model loss (the training loss, per step) averaged over the
                  recorded eval trajectories; per-term versions as eval_wm_<term>
  replay_wm_loss  the same loss on a replay batch sampled at the same moment
  ood_ratio       eval_wm_loss / replay_wm_loss (the paper's adaptive-interaction signal)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.core import JaxEnv
from offon_jit.dreamer import agent as agent_lib
from offon_jit.engine.transitions import make_row
from offon_jit.replay import buffer as replay


def rollout_episodes(agent_state, env: JaxEnv, key, episodes: int):
    """Run `episodes` episodes (env without auto-reset) for episode_length steps.

    Returns (rows, valid): rows is a replay-format dict of (episodes, L + 1, ...) arrays
    starting with the reset observation; valid marks rows up to and including each
    episode's last step (stepping a finished env is undefined, so later rows are masked).
    """
    length = env.spec.episode_length
    reset_key, key = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
    carry = agent_lib.initial_policy_carry(agent_state, episodes)

    def body(loop, step_key):
        state, carry, alive = loop
        action, carry = agent_lib.policy_step(agent_state, carry, state.obs, state.is_first, step_key, "eval")
        row = make_row(state.obs, state.reward, state.is_first, state.terminated, action, env.spec)
        next_state = jax.vmap(env.step)(state, action)
        return (next_state, carry, alive & ~state.done), (row, alive)

    alive = jnp.ones((episodes,), bool)
    _, (rows, valid) = jax.lax.scan(body, (state, carry, alive), jax.random.split(key, length + 1))
    swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731  (time, episode) -> (episode, time)
    return jax.tree_util.tree_map(swap, rows), swap(valid)


def masked_mean(values, mask):
    mask = mask.astype(values.dtype)
    return (values * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def world_model_losses(agent_state, batch, mask, key) -> dict:
    """Mean of every per-step world-model loss term over the masked steps."""
    params, config = agent_state.params["wm"], agent_state.config
    per_step = agent_lib.world_model_loss_per_step(params, batch, key, config)
    return {name: masked_mean(value, mask) for name, value in per_step.items()}


def trajectory_metrics(agent_state, rows, valid, buffer, key, *, batch_size: int, seq_len: int) -> dict:
    """Score, eval/replay world-model losses and the OOD ratio from recorded eval episodes."""
    eval_loss_key, sample_key, replay_loss_key = jax.random.split(key, 3)
    score = jnp.where(valid, rows["reward"], 0.0).sum(axis=1)
    eval_losses = world_model_losses(agent_state, rows, valid, eval_loss_key)
    batch, _ = replay.sample(buffer, sample_key, batch_size, seq_len)
    replay_losses = world_model_losses(agent_state, batch, jnp.ones(batch["reward"].shape, bool), replay_loss_key)
    metrics = {
        "score": score.mean(),
        "score_std": score.std(),
        "episode_length": valid.sum(axis=1).mean() - 1.0,
        "ood_ratio": eval_losses["total"] / replay_losses["total"],
    }
    metrics.update({f"eval_wm_{k}" if k != "total" else "eval_wm_loss": v for k, v in eval_losses.items()})
    metrics.update({f"replay_wm_{k}" if k != "total" else "replay_wm_loss": v for k, v in replay_losses.items()})
    return metrics


def evaluate(agent_state, buffer, key, *, env: JaxEnv, episodes: int, batch_size: int, seq_len: int) -> dict:
    """All eval metrics for one agent (one seed) on a JAX-native env; vmap for seeds."""
    roll_key, metrics_key = jax.random.split(key)
    rows, valid = rollout_episodes(agent_state, env, roll_key, episodes)
    return trajectory_metrics(agent_state, rows, valid, buffer, metrics_key, batch_size=batch_size, seq_len=seq_len)
