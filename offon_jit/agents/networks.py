"""Small Flax networks of the model-free families: an MLP and an observation torso.

Image observations (uint8 H x W x C) are scaled to [0, 1], optionally resized (nearest) to
`image_size` x `image_size` (MinAtar's 32 x 32 frames are its 10 x 10 grid upscaled), and
passed through one convolution as in the MinAtar DQN (Young & Tian, 2019); vectors pass as they are.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


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
    """uint8 (..., H, W, C) -> float32 in [0, 1], resized to image_size x image_size unless 0."""
    x = obs.astype(jnp.float32) / 255.0
    if image_size and x.shape[-3:-1] != (image_size, image_size):
        shape = x.shape[:-3] + (image_size, image_size, x.shape[-1])
        x = jax.image.resize(x, shape, method="nearest")
    return x


class Torso(nn.Module):
    """Observation -> flat features: one 3x3 convolution (valid padding) for images, identity for vectors."""

    conv_channels: int = 16
    image_size: int = 0

    @nn.compact
    def __call__(self, obs):
        if obs.ndim >= 3 and obs.dtype == jnp.uint8:
            x = prepare_image(obs, self.image_size)
            lead = x.shape[:-3]
            x = x.reshape((-1,) + x.shape[-3:])
            x = nn.relu(nn.Conv(self.conv_channels, (3, 3), padding="VALID")(x))
            return x.reshape(lead + (-1,))
        return obs.astype(jnp.float32)
