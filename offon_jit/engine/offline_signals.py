"""Offline OOD signals: how far the current policy's imagination leaves the agent's data, with no env steps.

The paper's adaptive agent needs evaluation rollouts for its OOD ratio and leaves an offline measure
to future work (its Q1). These signals use only the agent's model and its replay data. From the
posterior states of replay windows (sampled exactly like training batches), the current actor
imagines `horizon` = min(imag_horizon, seq_len - 1) steps with the world model, and each signal
compares that imagination with the replay data itself:

  offline_disag_ratio  mean Plan2Explore ensemble disagreement over the imagined transitions
                       (s_t, a_t ~ pi), t = 0..H-1, divided by its mean over the replay transitions
                       (s_t, a_t from the data): epistemic uncertainty where the policy goes relative
                       to where the data is. Needs an ensemble (absent for agents without one).
  offline_kl_ratio     mean round-trip KL over imagined states s_1..s_H divided by its mean over the
                       replay states: decode s to an observation, encode it again, and take
                       KL(q(z | h, e(decoded)) || p(z | h)), the world-model loss's KL term on the
                       model's own observation. States the model knows survive the round trip; states
                       it has never fitted need not.
  offline_value_gap    mean over replay windows of |imagined lambda-return - data lambda-return| / S from
                       each window's first state, where the data return uses the window's observed rewards
                       and terminations and the critic at its posterior states (windows with an episode
                       start after row 0 are skipped), and S is the actor's task return normaliser: how far
                       the model's prediction of the policy's return departs from what the data shows.

Ratios are 1 and the gap is 0 when imagination retraces the data (`test_offline_signals.py`). All
signals are logged for every agent at every evaluation (the disagreement ratio by agents with an
ensemble: exploring Actives, every agent with RunConfig.signal_ensemble, and a Passive armed by it),
beside the eval-based `ood_ratio`;
`passive_offline_auto` arms its bursts from one of them (RunConfig.offline_signal).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from offon_jit.dreamer import agent as agent_lib
from offon_jit.dreamer.actor_critic import lambda_returns
from offon_jit.dreamer.distributions import OneHotDist, bernoulli_mode, twohot_bins, twohot_mean
from offon_jit.dreamer.normalizer import return_scale
from offon_jit.dreamer.world_model import WorldModel, make_world_model, preprocess_obs

SIGNALS = ("offline_disag_ratio", "offline_kl_ratio", "offline_value_gap")
ENSEMBLE_SIGNAL = "offline_disag_ratio"  # measured only by agents with an ensemble (RunConfig.signal_ensemble)
SIGNAL_KEY_SALT = 0x51C  # folded into each replay batch's key, so the eval losses' draws are unchanged


def _world_model(agent_state) -> WorldModel:
    return make_world_model(agent_state.config, agent_state.spec.obs_shape, agent_state.spec.action.dim)


def has_ensemble(agent_state) -> bool:
    return "disag" in agent_state.params


def round_trip_kl(agent_state, latent) -> jax.Array:
    """KL(q(z | h, e(decode(s))) || p(z | h)) summed over the latent's groups, with its leading shape."""
    model, wm_params = _world_model(agent_state), agent_state.params["wm"]
    decoded = agent_lib.decode_observation(agent_state, latent)
    embed = model.apply(wm_params, preprocess_obs(decoded), method=WorldModel.encode)
    post, prior = model.apply(wm_params, latent.deter, embed, method=WorldModel.posterior_and_prior_logits)
    return OneHotDist(post).kl(OneHotDist(prior)).sum(-1)


def imagined_returns(agent_state, latents) -> jax.Array:
    """lambda-return R_0 of imagined trajectories (H+1, N): reward and continue heads, critic bootstrap."""
    config, model, wm_params = agent_state.config, _world_model(agent_state), agent_state.params["wm"]
    feat = latents.feat()[1:]
    bins = twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high)
    reward = twohot_mean(model.apply(wm_params, feat, method=WorldModel.reward_logits), bins)
    cont = bernoulli_mode(model.apply(wm_params, feat, method=WorldModel.cont_logit))
    values = agent_lib.value_estimate(agent_state, latents)
    return lambda_returns(reward, values, config.discount * cont, config.return_lambda)[0]


def data_returns(agent_state, batch: dict, post, horizon: int) -> tuple[jax.Array, jax.Array]:
    """(B,) lambda-return R_0 along each window's next `horizon` rows of data, and (B,) whether the window
    stays in one episode over those rows (observed rewards and terminations, the critic at its states)."""
    config = agent_state.config
    rows = horizon + 1
    time_major = lambda x: jnp.swapaxes(x[:, :rows], 0, 1)  # noqa: E731
    values = time_major(agent_lib.value_estimate(agent_state, post))
    reward = time_major(batch["reward"].astype(jnp.float32))[1:]
    cont = 1.0 - time_major(batch["is_terminal"].astype(jnp.float32))[1:]
    returns = lambda_returns(reward, values, config.discount * cont, config.return_lambda)[0]
    one_episode = ~jnp.any(batch["is_first"][:, 1:rows].astype(bool), axis=1)
    return returns, one_episode


def signal_horizon(agent_state, seq_len: int) -> int:
    return min(agent_state.config.imag_horizon, seq_len - 1)


def batch_statistics(agent_state, batch: dict, post, key) -> dict:
    """Per-batch statistics the signals are made of: imagination from every posterior state of the batch."""
    horizon = signal_horizon(agent_state, batch["reward"].shape[1])
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731  (B, T, ...) -> (B*T, ...)
    latents, actions = agent_lib.imagine(agent_state, jax.tree_util.tree_map(flat, post), key, horizon)
    return compare_with_data(agent_state, batch, post, latents, actions)


def compare_with_data(agent_state, batch: dict, post, latents, actions) -> dict:
    """Statistics of imagined trajectories (H+1, B*T) started from the batch's posterior states (B, T), in
    row-major start order, against the batch itself."""
    seq_len = batch["reward"].shape[1]
    horizon = actions.shape[0]
    from_starts = lambda x: x.reshape((x.shape[0], -1, seq_len) + x.shape[2:])[:, :, 0]  # noqa: E731
    returns, one_episode = data_returns(agent_state, batch, post, horizon)
    imagined = imagined_returns(agent_state, jax.tree_util.tree_map(from_starts, latents))
    valid = one_episode.astype(jnp.float32)
    stats = {
        "kl_imagined": jnp.mean(round_trip_kl(agent_state, jax.tree_util.tree_map(lambda x: x[1:], latents))),
        "kl_replay": jnp.mean(round_trip_kl(agent_state, post)),
        "return_gap_sum": jnp.sum(jnp.abs(imagined - returns) * valid),
        "windows": jnp.sum(valid),
    }
    if has_ensemble(agent_state):
        steps = jax.tree_util.tree_map(lambda x: x[:-1], latents)
        stats["disag_imagined"] = jnp.mean(agent_lib.disagreement_reward(agent_state, steps, actions))
        stats["disag_replay"] = jnp.mean(
            agent_lib.disagreement_reward(agent_state, post, batch["action"].astype(jnp.float32)))
    return stats


def signals_from_statistics(agent_state, stats: dict) -> dict:
    """The signals from batch statistics summed (or averaged, for the equal-sized means) over batches."""
    scale = return_scale(agent_state.return_norm["task"], agent_state.config.retnorm_max)
    gap = stats["return_gap_sum"] / jnp.maximum(stats["windows"], 1.0)
    signals = {
        "offline_kl_ratio": stats["kl_imagined"] / stats["kl_replay"],
        "offline_value_gap": gap / scale,
    }
    if "disag_imagined" in stats:
        signals["offline_disag_ratio"] = stats["disag_imagined"] / stats["disag_replay"]
    return signals


def signals_from_batches(agent_state, stats: dict) -> dict:
    """The signals from per-batch statistics stacked over equal-sized batches (leading axis): the value gap's
    sums add up (it averages over the windows that count), the per-batch means average."""
    summed = ("return_gap_sum", "windows")
    return signals_from_statistics(agent_state, {name: value.sum() if name in summed else value.mean()
                                                 for name, value in stats.items()})


def batch_key(key) -> jax.Array:
    return jax.random.fold_in(key, SIGNAL_KEY_SALT)
