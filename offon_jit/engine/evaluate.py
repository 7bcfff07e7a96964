"""Evaluation on the device: episodes of the agent's own policy, and the OOD ratio.

Every eval point runs `eval_episodes` fresh episodes of the task actor. As in DreamerV3 v1
(whose eval mode samples the task actor), actions are sampled from the actor by default;
`RunConfig.eval_policy = "mode"` takes the actor's mode (discrete) / mean (continuous)
instead. Every phase is also evaluated once before its first update (env step 0, v1's
`eval_initial`). Each eval point reports:
  score           undiscounted return per episode, mean over episodes
  eval_wm_loss    world-model loss (the training loss, per step) averaged over every valid step
                  of the recorded eval episodes (E episodes x up to L + 1 steps, each episode
                  observed from the learned initial state); per-term versions as eval_wm_<term>
  replay_wm_loss  the same per-step loss averaged over k = ceil(E (L + 1) / (B T)) replay batches
                  of B windows x T steps, sampled exactly as training batches are (each window
                  observed from the learned initial state): at least as many replay steps as
                  the eval episodes can hold
  ood_ratio       eval_wm_loss / replay_wm_loss (the paper's adaptive-interaction signal)
  value_error     value_estimate - mc_return, mean over episodes (Fig. S2), where
                  value_estimate is the critic's V(s_0) at each episode's first posterior state and
                  mc_return the discounted return from s_0 with the critic's bootstrap at the cut:
                  G_0 = sum_{t=1..n} gamma^(t-1) r_t + gamma^n V(s_n) [episode truncated at its
                  last step n], without the bootstrap when it terminated (reward r_t arrives with
                  observation t, row 0 is the reset); see `bootstrapped_returns`
  offline_disag_ratio, offline_kl_ratio, offline_value_gap
                  offline OOD signals from the agent's model and replay batches alone, no env steps
                  (engine/offline_signals.py; the ensemble ratio only for agents with an ensemble)
  policy_input_loss  reconstruction error of the policy-input autoencoder on the eval
                  trajectories' latents (Eq. S2, App. A.3), when the agent has one

Model-free families (agents/family.py: DQN, SAC) have no world model: their step loss is the
TD loss they train on (each row with a complete n-step target), reported as eval_td_loss and
replay_td_loss, and ood_ratio = eval_td_loss / replay_td_loss (the same estimator with the
agent's own training loss); value_estimate is their V(s_0); the offline signals, the policy-input
loss and decoded observations need a world model and are not reported.

`episode_trace` records one test episode step by step (Fig. S3: reward, world-model loss
and policy-input loss per step; Fig. S4: true and decoded observations).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from envs.core import JaxEnv
from offon_jit.agents import api as agent_lib
from offon_jit.agents.family import family_of
from offon_jit.dreamer import agent as dreamer
from offon_jit.dreamer.world_model import world_model_outputs
from offon_jit.engine import offline_signals
from offon_jit.engine.transitions import make_row
from offon_jit.replay import buffer as replay

# RunConfig.eval_policy -> the mode `agent.policy_step` acts in.
POLICY_MODES = {"sample": "explore", "mode": "eval"}


def policy_mode(eval_policy: str) -> str:
    if eval_policy not in POLICY_MODES:
        raise ValueError(f"eval_policy must be one of {tuple(POLICY_MODES)}, got {eval_policy!r}")
    return POLICY_MODES[eval_policy]


def rollout_episodes(agent_state, env: JaxEnv, key, episodes: int, eval_policy: str):
    """Run `episodes` episodes (env without auto-reset) for episode_length steps, acting with
    `eval_policy` ("sample": the actor's samples, "mode": its mode / mean).

    Returns (rows, valid): rows is a replay-format dict of (episodes, L + 1, ...) arrays
    starting with the reset observation; valid marks rows up to and including each
    episode's last step (stepping a finished env is undefined, so later rows are masked).
    """
    mode = policy_mode(eval_policy)
    length = env.spec.episode_length
    reset_key, key = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
    carry = agent_lib.initial_policy_carry(agent_state, episodes)

    def body(loop, step_key):
        state, carry, alive = loop
        action, carry = agent_lib.policy_step(agent_state, carry, state.obs, state.is_first, step_key, mode)
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


def step_losses(agent_state, batch, key, recorded=None):
    """(loss terms (B, T), rows that have a loss (B, T) or None for all, latents or None) of the
    agent's family: DreamerV3's world-model loss and posterior, a model-free family's TD loss.

    `recorded` (B, T) marks the rows of eval episodes up to each one's last step: a TD target must not
    read the rows after it (a finished env's undefined steps), so for it they start new episodes."""
    family = family_of(agent_state)
    if family.has_world_model:
        losses, post = per_step_outputs(agent_state, batch, key)
        return losses, None, post
    if recorded is not None:
        batch = {**batch, "is_first": batch["is_first"] | ~recorded}
    losses, valid = family.module.step_losses(agent_state, batch, key)
    return losses, valid, None


def loss_key(agent_state, where: str, term: str) -> str:
    """Metric name of a step-loss term: eval_wm_loss, replay_wm_dyn, ... (DreamerV3) or eval_td_loss, ..."""
    prefix = f"{where}_{family_of(agent_state).loss_name}"
    return f"{prefix}_loss" if term == "total" else f"{prefix}_{term}"


def replay_batch_count(eval_steps: int, batch_size: int, seq_len: int) -> int:
    """k: the fewest replay batches of batch_size x seq_len steps holding at least `eval_steps` steps."""
    return max(1, math.ceil(eval_steps / (batch_size * seq_len)))


def replay_wm_losses(agent_state, buffer, key, *, batch_size: int, seq_len: int, num_batches: int,
                     with_signals: bool = False):
    """Per-step world-model loss terms averaged over `num_batches` replay batches, each sampled and
    observed exactly as a training batch (uniform windows, each from the learned initial state).
    The batches run one after another (`lax.map`), so memory stays at one training batch.
    With `with_signals`, returns (losses, offline OOD signals) measured on the same batches."""

    has_world_model = family_of(agent_state).has_world_model
    signals = with_signals and has_world_model  # the offline signals read the world model

    def batch_means(batch_key):
        sample_key, step_key = jax.random.split(batch_key)
        batch, _ = replay.sample(buffer, sample_key, batch_size, seq_len)
        losses, valid, post = step_losses(agent_state, batch, step_key)
        if valid is None:
            means = {name: value.mean() for name, value in losses.items()}
        else:  # rows without a TD target carry no loss: sums and counts, divided once at the end
            means = {name: (jnp.where(valid, value, 0.0).sum(), valid.sum()) for name, value in losses.items()}
        if not signals:
            return means, {}
        return means, offline_signals.batch_statistics(agent_state, batch, post, offline_signals.batch_key(batch_key))

    means, stats = jax.lax.map(batch_means, jax.random.split(key, num_batches))
    if has_world_model:
        losses = {name: value.mean() for name, value in means.items()}  # equal-sized batches: the mean over all steps
    else:
        losses = {name: sums.sum() / jnp.maximum(counts.sum(), 1) for name, (sums, counts) in means.items()}
    if not with_signals:
        return losses
    return losses, offline_signals.signals_from_batches(agent_state, stats) if signals else {}


def last_valid_index(valid) -> jax.Array:
    """(episodes,) index of each episode's last recorded step (valid is a prefix of each row)."""
    return valid.sum(axis=1).astype(jnp.int32) - 1


def bootstrapped_returns(reward, valid, is_terminal, values, discount: float) -> jax.Array:
    """(episodes,) discounted return from each episode's first state, bootstrapped at a truncation.

    Arrays are (episodes, L + 1) in the replay convention: row 0 is the reset, reward[t] arrives
    with observation t, `values` holds the critic's V(s_t). With n the episode's last valid row,
        G_0 = sum_{t=1..n} discount^(t-1) reward[t] + discount^n V(s_n) * (not is_terminal[n]):
    a terminated episode has no future, a truncated (time-limited) one continues past the cut as
    the critic, which is trained without time limits, assumes.
    """
    steps = jnp.arange(reward.shape[1] - 1, dtype=jnp.float32)
    rewards = jnp.where(valid[:, 1:], reward[:, 1:], 0.0)
    observed = (rewards * discount**steps).sum(axis=1)
    last = last_valid_index(valid)
    at_last = lambda x: jnp.take_along_axis(x, last[:, None], axis=1)[:, 0]  # noqa: E731
    bootstrap = jnp.where(at_last(is_terminal), 0.0, at_last(values))
    return observed + discount ** last.astype(jnp.float32) * bootstrap


def value_metrics(agent_state, post, rows, valid) -> dict:
    """V(s_0) against the bootstrapped Monte-Carlo return (`post`: DreamerV3's latents, None otherwise)."""
    if post is None:
        values = family_of(agent_state).module.value_estimate(agent_state, rows)  # (episodes, L + 1)
    else:
        values = dreamer.value_estimate(agent_state, post)
    mc_return = bootstrapped_returns(rows["reward"], valid, rows["is_terminal"], values, agent_state.config.discount)
    value = values[:, 0]
    return {"value_estimate": value.mean(), "mc_return": mc_return.mean(), "value_error": (value - mc_return).mean()}


def has_policy_autoencoder(agent_state) -> bool:
    return "policy_ae" in agent_state.params


def episode_metrics(agent_state, rows, valid, key) -> dict:
    """What recorded eval episodes tell alone (no replay data): score, episode length, the world-model
    loss per term on them, and the value and policy-input analyses."""
    score = jnp.where(valid, rows["reward"], 0.0).sum(axis=1)
    per_step, has_loss, post = step_losses(agent_state, rows, key, valid)
    metrics = {
        "score": score.mean(),
        "score_std": score.std(),
        "episode_length": valid.sum(axis=1).mean() - 1.0,
        **value_metrics(agent_state, post, rows, valid),
    }
    if has_policy_autoencoder(agent_state):
        metrics["policy_input_loss"] = masked_mean(dreamer.policy_input_loss(agent_state, post), valid)
    loss_rows = valid if has_loss is None else valid & has_loss
    metrics.update({loss_key(agent_state, "eval", k): masked_mean(v, loss_rows) for k, v in per_step.items()})
    return metrics


def trajectory_metrics(agent_state, rows, valid, buffer, key, *, batch_size: int, seq_len: int) -> dict:
    """`episode_metrics` of recorded eval episodes, the same loss on replay data, and their ratio (the OOD ratio)."""
    eval_loss_key, replay_key = jax.random.split(key)
    metrics = episode_metrics(agent_state, rows, valid, eval_loss_key)
    replay_losses, signals = replay_wm_losses(agent_state, buffer, replay_key, batch_size=batch_size,
                                              seq_len=seq_len, with_signals=True,
                                              num_batches=replay_batch_count(valid.size, batch_size, seq_len))
    metrics["ood_ratio"] = metrics[loss_key(agent_state, "eval", "total")] / replay_losses["total"]
    metrics.update(signals)
    metrics.update({loss_key(agent_state, "replay", k): v for k, v in replay_losses.items()})
    return metrics


def trace_from_rows(agent_state, rows, valid, key) -> dict:
    """Step-by-step record of the first recorded episode (arrays of length episode_length + 1)."""
    rows, valid = jax.tree_util.tree_map(lambda x: x[:1], (rows, valid))
    per_step, has_loss, post = step_losses(agent_state, rows, key, valid)
    loss = per_step["total"] if has_loss is None else jnp.where(has_loss, per_step["total"], jnp.nan)
    trace = {"reward": rows["reward"][0], f"{family_of(agent_state).loss_name}_loss": loss[0], "valid": valid[0],
             "obs": rows["obs"][0]}
    if has_policy_autoencoder(agent_state):
        trace["policy_input_loss"] = dreamer.policy_input_loss(agent_state, post)[0]
    if agent_state.spec.is_image and post is not None:
        trace["decoded"] = dreamer.decode_observation(agent_state, post)[0]
    if "position" in rows:  # recorded by the vision maze (heatmaps)
        trace["position"] = rows["position"][0]
    return trace


def episode_trace(agent_state, key, *, env: JaxEnv, eval_policy: str) -> dict:
    """One test episode of the agent's eval policy on a JAX-native env, step by step."""
    roll_key, loss_key = jax.random.split(key)
    rows, valid = rollout_episodes(agent_state, env, roll_key, 1, eval_policy)
    return trace_from_rows(agent_state, rows, valid, loss_key)


def evaluate(agent_state, buffer, key, *, env: JaxEnv, episodes: int, batch_size: int, seq_len: int,
             eval_policy: str) -> dict:
    """All eval metrics for one agent (one seed) on a JAX-native env; vmap for seeds."""
    roll_key, metrics_key = jax.random.split(key)
    rows, valid = rollout_episodes(agent_state, env, roll_key, episodes, eval_policy)
    return trajectory_metrics(agent_state, rows, valid, buffer, metrics_key, batch_size=batch_size, seq_len=seq_len)
