"""Small Flax networks of the model-free families: an MLP and an observation torso.

Image observations (uint8 H x W x C) are optionally resized (nearest) to `image_size` x
`image_size` (MinAtar's 32 x 32 frames are its 10 x 10 grid upscaled), scaled to [0, 1], and
passed through one convolution as in the MinAtar DQN (Young & Tian, 2019); vectors pass as they are.

The convolution is computed as patches times a matrix (`PatchConv`): the same parameters and the
same sums as `nn.Conv`, but under a seed vmap XLA's CPU backend turns `nn.Conv` into a grouped
convolution whose gradient is about 10x slower (benchmarks/results/dqn_update_cost-*.json).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from envs.minatar_frames import nearest_indices


class MLP(nn.Module):
    """Dense layers with ReLU between them (none after the last)."""

    features: Sequence[int]

    @nn.compact
    def __call__(self, x):
        for i, width in enumerate(self.features):
            x = nn.Dense(width)(x)
            if i < len(self.features) - 1:
                x = nn.relu(x)
        return x


def prepare_image(obs, image_size: int):
    """uint8 (..., H, W, C) -> float32 in [0, 1], resized to image_size x image_size unless 0.

    The resize picks pixels exactly as jax.image.resize(method="nearest") does (`nearest_indices`),
    with two takes of constant indices on the uint8 frame: much cheaper than resizing floats."""
    height, width = obs.shape[-3:-1]
    if image_size and (height, width) != (image_size, image_size):
        obs = jnp.take(obs, nearest_indices(height, image_size), axis=-3)
        obs = jnp.take(obs, nearest_indices(width, image_size), axis=-2)
    return obs.astype(jnp.float32) / 255.0


class PatchConv(nn.Module):
    """A stride-1 VALID convolution as (every k x k x C patch) @ (k*k*C, features), plus a bias.

    Parameters are nn.Conv's ("kernel" (k, k, C, features) with its lecun-normal init, "bias" zeros),
    so initial weights equal nn.Conv's for the same key."""

    features: int
    kernel_size: int = 3

    @nn.compact
    def __call__(self, x):
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        out_h, out_w = x.shape[-3] - k + 1, x.shape[-2] - k + 1
        # patch element (i, j, c) sits at (i * k + j) * C + c, as in kernel.reshape(k * k * C, features)
        patches = jnp.stack([x[..., i:i + out_h, j:j + out_w, :] for i in range(k) for j in range(k)], axis=-2)
        patches = patches.reshape(x.shape[:-3] + (out_h, out_w, k * k * channels))
        return patches @ kernel.reshape(k * k * channels, self.features) + bias


class Torso(nn.Module):
    """Observation -> flat features: one 3x3 convolution (valid padding) for images, identity for vectors."""

    conv_channels: int = 16
    image_size: int = 0

    @nn.compact
    def __call__(self, obs):
        if obs.ndim >= 3 and obs.dtype == jnp.uint8:
            x = prepare_image(obs, self.image_size)
            x = nn.relu(PatchConv(self.conv_channels, name="Conv_0")(x))
            return x.reshape(x.shape[:-3] + (-1,))
        return obs.astype(jnp.float32)
