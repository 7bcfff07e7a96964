"""World model (encoder, RSSM, decoder, reward and continue heads) and its loss.

Loss (DreamerV3 Eq. 4 / S1), per step of every sequence:

    total = beta_pred * pred + beta_dyn * dyn + beta_rep * rep
    pred  = -ln p(x_t | s_t) - ln p(r_t | s_t) - ln p(c_t | s_t)
    dyn   = max(free, KL[sg(q(z_t | h_t, x_t)) || p(z_t | h_t)])
    rep   = max(free, KL[q(z_t | h_t, x_t) || sg(p(z_t | h_t))])

Image decoder: squared error summed over pixels (images scaled to [0, 1]); vector
decoder: squared error to symlog(x) summed over dimensions; reward: two-hot
symlog regression; continue: Bernoulli on c_t = 1 - is_terminal_t.

`world_model_loss_per_step` is THE loss: training minimises the mean of its 'total',
and OOD ratios are ratios of its means on different data, so both use one function.
"""

from __future__ import annotations

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.distributions import (
    OneHotDist,
    bernoulli_log_prob,
    free_bits,
    symlog,
    twohot_bins,
    twohot_log_prob,
    twohot_mean,
)
from offon_jit.dreamer.networks import BinaryHead, ImageDecoder, ImageEncoder, TwoHotHead, VectorDecoder, VectorEncoder
from offon_jit.dreamer.rssm import RSSM, Latent, reset_where_first

sg = jax.lax.stop_gradient

BATCH_KEYS = ("obs", "action", "reward", "is_first", "is_terminal")


def is_image_shape(obs_shape) -> bool:
    return len(obs_shape) == 3


class WorldModel(nn.Module):
    config: DreamerConfig
    obs_shape: tuple[int, ...]
    action_dim: int

    def setup(self):
        c = self.config
        dtype = c.compute_dtype
        if is_image_shape(self.obs_shape):
            self.encoder = ImageEncoder(c.cnn_depth, c.cnn_min_resolution, c.layernorm_eps, dtype)
            self.decoder = ImageDecoder(tuple(self.obs_shape), c.cnn_depth, c.cnn_min_resolution, c.layernorm_eps, dtype)
        elif len(self.obs_shape) == 1:
            self.encoder = VectorEncoder(c.vector_layers, c.vector_units, c.layernorm_eps, dtype)
            self.decoder = VectorDecoder(self.obs_shape[0], c.vector_layers, c.vector_units, c.layernorm_eps, dtype)
        else:
            raise ValueError(f"observations must be vectors (D,) or images (H, W, C), got shape {self.obs_shape}")
        self.rssm = RSSM(c.deter, c.units, c.stoch, c.classes, c.unimix, c.action_clip, c.layernorm_eps, dtype)
        self.reward = TwoHotHead(c.layers, c.units, c.twohot_bins, c.layernorm_eps, dtype)
        self.cont = BinaryHead(c.layers, c.units, c.layernorm_eps, dtype)

    # Each method below is one entry point for `model.apply(..., method=...)`.
    def encode(self, obs):
        return self.encoder(obs)

    def initial(self, batch_size: int) -> Latent:
        return self.rssm.initial(batch_size)

    def obs_step(self, prev: Latent, prev_action, embed, key):
        return self.rssm.obs_step(prev, prev_action, embed, key)

    def img_step(self, prev: Latent, prev_action, key):
        return self.rssm.img_step(prev, prev_action, key)

    def posterior_and_prior_logits(self, deter, embed):
        """(q(z | h, e), p(z | h)) logits at given deterministic states, without a transition."""
        return self.rssm.posterior_logits(deter, embed), self.rssm.prior_logits(deter)

    def heads(self, feat):
        """(decoder output, reward logits, continue logit) from latent features."""
        return self.decoder(feat), self.reward(feat), self.cont(feat)

    def reward_logits(self, feat):
        return self.reward(feat)

    def cont_logit(self, feat):
        return self.cont(feat)

    def init_all(self, obs, action, key):
        """Touches every submodule once so that `init` creates all parameters."""
        embed = self.encode(obs)
        initial = self.initial(obs.shape[0])
        post, _, _ = self.obs_step(initial, action, embed, key)
        latent, _ = self.img_step(post, action, key)
        return self.heads(latent.feat())


@functools.lru_cache(maxsize=None)
def make_world_model(config: DreamerConfig, obs_shape: tuple[int, ...], action_dim: int) -> WorldModel:
    return WorldModel(config=config, obs_shape=tuple(int(d) for d in obs_shape), action_dim=int(action_dim))


def init_world_model(key, config: DreamerConfig, obs_shape, action_dim: int):
    """Variables {'params': {encoder, rssm, decoder, reward, cont}} of a fresh world model."""
    model = make_world_model(config, tuple(obs_shape), action_dim)
    params_key, sample_key = jax.random.split(key)
    obs = jnp.zeros((1, *obs_shape), jnp.float32)
    action = jnp.zeros((1, action_dim), jnp.float32)
    return model.init(params_key, obs, action, sample_key, method=WorldModel.init_all)


def preprocess_obs(obs: jax.Array) -> jax.Array:
    """uint8 images -> float32 in [0, 1]; float vectors pass through as float32."""
    if obs.dtype == jnp.uint8:
        return obs.astype(jnp.float32) / 255.0
    return obs.astype(jnp.float32)


def check_batch(batch: dict) -> tuple[int, int, tuple[int, ...], int]:
    """Validate a (B, T, ...) batch; returns (B, T, obs_shape, action_dim)."""
    missing = [k for k in BATCH_KEYS if k not in batch]
    if missing:
        raise ValueError(f"batch is missing keys {missing}; a batch needs {list(BATCH_KEYS)} with leading axes (B, T)")
    obs, action = batch["obs"], batch["action"]
    if obs.ndim not in (3, 5):
        raise ValueError(f"batch['obs'] must be (B, T, D) vectors or (B, T, H, W, C) images, got shape {obs.shape}")
    lead = obs.shape[:2]
    if obs.ndim == 5 and obs.dtype != jnp.uint8:
        raise ValueError(f"image observations must be uint8, got {obs.dtype}")
    if action.ndim != 3 or action.shape[:2] != lead:
        raise ValueError(
            f"batch['action'] must be (B, T, action_dim) (one-hot for discrete actions), got {action.shape} for obs {obs.shape}"
        )
    for key in ("reward", "is_first", "is_terminal"):
        if batch[key].shape != lead:
            raise ValueError(f"batch[{key!r}] must have shape (B, T) = {lead}, got {batch[key].shape}")
    return lead[0], lead[1], tuple(obs.shape[2:]), action.shape[-1]


def shift_actions(action: jax.Array) -> jax.Array:
    """prev_action[t] = action[t-1], zeros at t = 0 (action[t] is taken after obs[t])."""
    return jnp.concatenate([jnp.zeros_like(action[:, :1]), action[:, :-1]], 1)


def observe(model: WorldModel, wm_params, embed, prev_actions, is_first, key):
    """Filter a (B, T) sequence from the learned initial state.

    Returns (posterior latents, posterior logits, prior logits), each (B, T, ...).
    """
    batch, length = embed.shape[:2]
    initial = model.apply(wm_params, batch, method=WorldModel.initial)

    def step(prev, inputs):
        action, emb, first, step_key = inputs
        prev, action = reset_where_first(prev, action, first, initial)
        post, post_logits, prior_logits = model.apply(wm_params, prev, action, emb, step_key, method=WorldModel.obs_step)
        return post, (post, post_logits, prior_logits)

    time_major = lambda x: jnp.swapaxes(x, 0, 1)
    inputs = (time_major(prev_actions), time_major(embed), time_major(is_first), jax.random.split(key, length))
    _, outs = jax.lax.scan(step, initial, inputs)
    return jax.tree_util.tree_map(time_major, outs)


def world_model_outputs(wm_params, batch: dict, key, config: DreamerConfig):
    """Per-step losses (B, T) plus the posterior latents and head predictions.

    Returns (losses, extras): losses has 'total', 'pred', 'dyn', 'rep', 'kl' (raw KL),
    'image' or 'vector', 'reward', 'cont'; extras has 'post' (Latent, (B, T)),
    'reward_pred' (B, T), 'cont_prob' (B, T), 'post_entropy', 'prior_entropy'.
    """
    _, _, obs_shape, action_dim = check_batch(batch)
    model = make_world_model(config, obs_shape, action_dim)
    obs = preprocess_obs(batch["obs"])
    action = batch["action"].astype(jnp.float32)
    is_first = batch["is_first"].astype(bool)
    embed = model.apply(wm_params, obs, method=WorldModel.encode)
    post, post_logits, prior_logits = observe(model, wm_params, embed, shift_actions(action), is_first, key)
    decoded, reward_logits, cont_logit = model.apply(wm_params, post.feat(), method=WorldModel.heads)

    losses = {}
    if is_image_shape(obs_shape):
        losses["image"] = jnp.sum((decoded - obs) ** 2, (-3, -2, -1))
        decoder_loss = losses["image"]
    else:
        losses["vector"] = jnp.sum((decoded - symlog(obs)) ** 2, -1)
        decoder_loss = losses["vector"]
    bins = twohot_bins(config.twohot_bins, config.twohot_low, config.twohot_high)
    reward = batch["reward"].astype(jnp.float32)
    cont = 1.0 - batch["is_terminal"].astype(jnp.float32)
    losses["reward"] = -twohot_log_prob(reward_logits, reward, bins)
    losses["cont"] = -bernoulli_log_prob(cont_logit, cont)
    losses["pred"] = decoder_loss + losses["reward"] + losses["cont"]

    post_dist, prior_dist = OneHotDist(post_logits), OneHotDist(prior_logits)
    sg_post, sg_prior = OneHotDist(sg(post_logits)), OneHotDist(sg(prior_logits))
    losses["dyn"] = free_bits(sg_post.kl(prior_dist).sum(-1), config.free_nats)
    losses["rep"] = free_bits(post_dist.kl(sg_prior).sum(-1), config.free_nats)
    losses["kl"] = sg(post_dist.kl(prior_dist).sum(-1))
    losses["total"] = config.beta_pred * losses["pred"] + config.beta_dyn * losses["dyn"] + config.beta_rep * losses["rep"]
    chex.assert_shape(list(losses.values()), batch["reward"].shape)

    extras = {
        "post": post,
        "reward_pred": sg(twohot_mean(reward_logits, bins)),
        "cont_prob": sg(jax.nn.sigmoid(cont_logit)),
        "post_entropy": sg(post_dist.entropy().sum(-1)),
        "prior_entropy": sg(prior_dist.entropy().sum(-1)),
    }
    return losses, extras


def world_model_loss_per_step(wm_params, batch: dict, key, config: DreamerConfig) -> dict:
    """Per-step world-model loss terms, each (B, T), on any batch of sequences.

    Keys: 'total', 'pred', 'dyn', 'rep', 'kl' (unclipped KL, not part of the loss),
    'image' (image tasks) or 'vector' (vector tasks), 'reward', 'cont'.
    """
    return world_model_outputs(wm_params, batch, key, config)[0]


def world_model_loss_means(wm_params, batch: dict, key, config: DreamerConfig) -> dict:
    """Batch means of `world_model_loss_per_step` (its 'total' is the training objective)."""
    return {name: jnp.mean(value) for name, value in world_model_loss_per_step(wm_params, batch, key, config).items()}


def loss_names(obs_shape) -> tuple[str, ...]:
    decoder = "image" if is_image_shape(obs_shape) else "vector"
    return ("total", "pred", "dyn", "rep", "kl", decoder, "reward", "cont")
