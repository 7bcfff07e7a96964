"""Evaluation on the device: episodes of the agent's own policy, and the OOD ratio.

Every eval point runs `eval_episodes` fresh episodes with the policy's mode
(no exploration noise) and reports:
  score           undiscounted return per episode, mean over episodes
  eval_wm_loss    world-model loss (the training loss, per step) averaged over the
                  recorded eval trajectories; per-term versions as eval_wm_<term>
  replay_wm_loss  the same loss on a replay batch sampled at the same moment
  ood_ratio       eval_wm_loss / replay_wm_loss (the paper's adaptive-interaction signal)
  value_error     critic V(s_0) at each episode's first posterior state minus the episode's
                  discounted Monte-Carlo return, mean over episodes (Fig. S2); also
                  value_estimate and mc_return
  policy_input_loss  reconstruction error of the policy-input autoencoder on the eval
                  trajectories' latents (Eq. S2, App. A.3), when the agent has one

`episode_trace` records one test episode step by step (Fig. S3: reward, world-model loss
and policy-input loss per step; Fig. S4: true and decoded observations).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.core import JaxEnv
from offon_jit.dreamer import agent as agent_lib
from offon_jit.dreamer.world_model import world_model_outputs
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
        row = make_row(state.obs, state.reward, state.is_first, state.terminated, action, env.spec, state.info)
        next_state = jax.vmap(env.step)(state, action)
        return (next_state, carry, alive & ~state.done), (row, alive)

    alive = jnp.ones((episodes,), bool)
    _, (rows, valid) = jax.lax.scan(body, (state, carry, alive), jax.random.split(key, length + 1))
    swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731  (time, episode) -> (episode, time)
    return jax.tree_util.tree_map(swap, rows), swap(valid)


def masked_mean(values, mask):
    mask = mask.astype(values.dtype)
    return (values * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def per_step_outputs(agent_state, batch, key) -> tuple[dict, object]:
    """Per-step world-model loss terms (B, T) and the posterior latents of a batch of sequences."""
    losses, extras = world_model_outputs(agent_state.params["wm"], batch, key, agent_state.config)
    return losses, extras["post"]


def discounted_returns(reward, valid, discount: float) -> jax.Array:
    """(episodes,) sum over t >= 1 of discount^(t-1) r_t: the return from each episode's first state."""
    steps = jnp.arange(reward.shape[1] - 1, dtype=jnp.float32)
    rewards = jnp.where(valid[:, 1:], reward[:, 1:], 0.0)
    return (rewards * discount**steps).sum(axis=1)


def value_metrics(agent_state, post, rows, valid) -> dict:
    first = jax.tree_util.tree_map(lambda x: x[:, 0], post)
    value = agent_lib.value_estimate(agent_state, first)
    mc_return = discounted_returns(rows["reward"], valid, agent_state.config.discount)
    return {"value_estimate": value.mean(), "mc_return": mc_return.mean(), "value_error": (value - mc_return).mean()}


def has_policy_autoencoder(agent_state) -> bool:
    return "policy_ae" in agent_state.params


def trajectory_metrics(agent_state, rows, valid, buffer, key, *, batch_size: int, seq_len: int) -> dict:
    """Score, eval/replay world-model losses, the OOD ratio and the value and policy-input
    analyses from recorded eval episodes."""
    eval_loss_key, sample_key, replay_loss_key = jax.random.split(key, 3)
    score = jnp.where(valid, rows["reward"], 0.0).sum(axis=1)
    per_step, post = per_step_outputs(agent_state, rows, eval_loss_key)
    eval_losses = {name: masked_mean(value, valid) for name, value in per_step.items()}
    batch, _ = replay.sample(buffer, sample_key, batch_size, seq_len)
    replay_per_step, _ = per_step_outputs(agent_state, batch, replay_loss_key)
    replay_losses = {name: value.mean() for name, value in replay_per_step.items()}
    metrics = {
        "score": score.mean(),
        "score_std": score.std(),
        "episode_length": valid.sum(axis=1).mean() - 1.0,
        "ood_ratio": eval_losses["total"] / replay_losses["total"],
        **value_metrics(agent_state, post, rows, valid),
    }
    if has_policy_autoencoder(agent_state):
        metrics["policy_input_loss"] = masked_mean(agent_lib.policy_input_loss(agent_state, post), valid)
    metrics.update({f"eval_wm_{k}" if k != "total" else "eval_wm_loss": v for k, v in eval_losses.items()})
    metrics.update({f"replay_wm_{k}" if k != "total" else "replay_wm_loss": v for k, v in replay_losses.items()})
    return metrics


def trace_from_rows(agent_state, rows, valid, key) -> dict:
    """Step-by-step record of the first recorded episode (arrays of length episode_length + 1)."""
    rows, valid = jax.tree_util.tree_map(lambda x: x[:1], (rows, valid))
    per_step, post = per_step_outputs(agent_state, rows, key)
    trace = {"reward": rows["reward"][0], "wm_loss": per_step["total"][0], "valid": valid[0], "obs": rows["obs"][0]}
    if has_policy_autoencoder(agent_state):
        trace["policy_input_loss"] = agent_lib.policy_input_loss(agent_state, post)[0]
    if agent_state.spec.is_image:
        trace["decoded"] = agent_lib.decode_observation(agent_state, post)[0]
    if "position" in rows:  # recorded by the vision maze (heatmaps)
        trace["position"] = rows["position"][0]
    return trace


def episode_trace(agent_state, key, *, env: JaxEnv) -> dict:
    """One test episode of the agent's policy on a JAX-native env, step by step."""
    roll_key, loss_key = jax.random.split(key)
    rows, valid = rollout_episodes(agent_state, env, roll_key, 1)
    return trace_from_rows(agent_state, rows, valid, loss_key)


def evaluate(agent_state, buffer, key, *, env: JaxEnv, episodes: int, batch_size: int, seq_len: int) -> dict:
    """All eval metrics for one agent (one seed) on a JAX-native env; vmap for seeds."""
    roll_key, metrics_key = jax.random.split(key)
    rows, valid = rollout_episodes(agent_state, env, roll_key, episodes)
    return trajectory_metrics(agent_state, rows, valid, buffer, metrics_key, batch_size=batch_size, seq_len=seq_len)
