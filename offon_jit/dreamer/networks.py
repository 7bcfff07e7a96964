"""Flax building blocks: LayerNorm + SiLU dense/conv layers, MLPs, image encoder/decoder.

Initialisation follows DreamerV3 v1: hidden layers use a truncated normal scaled by
fan-average; output layers use a fan-average uniform; layers followed by LayerNorm
have no bias (the norm's offset plays that role).

Mixed precision: every module takes `dtype`, the compute dtype of its matmuls and
activations (bfloat16 under DreamerConfig.precision "bf16"). Parameters are always
float32 (Flax's param_dtype), LayerNorm statistics are reduced in float32, and every
output layer returns float32, so the losses, log-probabilities and KLs built on the
outputs are float32 whatever the compute dtype. Biases are added in float32 after the
matmul (`OutputDense`) and the image decoder's last layer is float32: a bias's gradient
sums the whole batch, and a bfloat16 sum stops growing once it is ~256 times its terms.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from offon_jit.dreamer.distributions import flat_sample, symlog



def _fan_avg(shape) -> float:
    """Mean of fan-in and fan-out; kernels are (..., in, out), leading axes are the receptive field."""
    receptive = math.prod(shape[:-2])
    return (shape[-2] + shape[-1]) * receptive / 2.0


def fan_avg_truncated_normal(key, shape, dtype=jnp.float32):
    """Truncated normal (±2 std) with variance 1 / fan_avg (v1 'normal', fan 'avg')."""
    std = math.sqrt(1.0 / _fan_avg(shape)) / 0.87962566103423978  # undo the truncation's shrinkage
    sampler = lambda k, flat: jax.random.truncated_normal(k, -2.0, 2.0, flat)
    return (flat_sample(sampler, key, shape) * std).astype(dtype)


def fan_avg_uniform(key, shape, dtype=jnp.float32):
    """Uniform with variance 1 / fan_avg (v1 'uniform', fan 'avg')."""
    limit = math.sqrt(3.0 / _fan_avg(shape))
    return flat_sample(jax.random.uniform, key, shape, minval=-limit, maxval=limit).astype(dtype)


hidden_init = fan_avg_truncated_normal
output_init = fan_avg_uniform
Dtype = Any  # a JAX dtype (jnp.float32, jnp.bfloat16)


def to_float32(x):
    """A network output as float32 (a no-op at float32): the maths on outputs stays full precision."""
    return x.astype(jnp.float32)


class OutputDense(nn.Module):
    """Dense layer with a bias (parameters 'kernel', 'bias' as flax's Dense), returning float32:
    the matmul in `dtype`, the bias added in float32. Identical to nn.Dense at float32."""

    features: int
    kernel_init: Any = output_init
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        y = jax.lax.dot_general(x.astype(self.dtype), kernel.astype(self.dtype), (((x.ndim - 1,), (0,)), ((), ())))
        return to_float32(y) + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))


class DenseNormAct(nn.Module):
    """Dense (no bias) -> LayerNorm -> SiLU."""

    features: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(self.features, use_bias=False, kernel_init=hidden_init, dtype=self.dtype)(x)
        x = nn.LayerNorm(epsilon=self.eps, dtype=self.dtype)(x)
        return nn.silu(x)


class MLP(nn.Module):
    """`layers` x DenseNormAct(units); returns the last hidden activation."""

    layers: int
    units: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        for i in range(self.layers):
            x = DenseNormAct(self.units, self.eps, self.dtype, name=f"h{i}")(x)
        return x


def conv_stages(image_size: int, min_resolution: int) -> int:
    """Number of stride-2 stages from `image_size` down to `min_resolution`."""
    if image_size < min_resolution or image_size & (image_size - 1):
        raise ValueError(
            f"image side {image_size} must be a power of two >= the CNN's minimum resolution {min_resolution}"
        )
    return int(math.log2(image_size) - math.log2(min_resolution))


class ImageEncoder(nn.Module):
    """Stride-2 4x4 convs (depth, 2*depth, ...) down to min_resolution, flattened.

    Input: float images in [0, 1], shape (..., H, W, C); they are centred to [-0.5, 0.5].
    """

    depth: int
    min_resolution: int = 4
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, image):
        lead, (height, width, channels) = image.shape[:-3], image.shape[-3:]
        if height != width:
            raise ValueError(f"image encoder needs square images, got {height}x{width}")
        x = image.reshape((-1, height, width, channels)) - 0.5
        depth = self.depth
        for i in range(conv_stages(height, self.min_resolution)):
            x = nn.Conv(depth, (4, 4), strides=2, padding="SAME", use_bias=False, kernel_init=hidden_init,
                        dtype=self.dtype, name=f"conv{i}")(x)  # fmt: skip
            x = nn.LayerNorm(epsilon=self.eps, dtype=self.dtype, name=f"norm{i}")(x)
            x = nn.silu(x)
            depth *= 2
        return x.reshape(lead + (-1,))


class ImageDecoder(nn.Module):
    """Mirror of ImageEncoder: linear to (r, r, depth * 2^(stages-1)), transposed convs up.

    Returns the predicted image in [0, 1] units (the network's output plus 0.5).
    """

    shape: tuple[int, int, int]
    depth: int
    min_resolution: int = 4
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, feat):
        height, width, channels = self.shape
        stages = conv_stages(height, self.min_resolution)
        depth = self.depth * 2 ** (stages - 1)
        res = self.min_resolution
        lead = feat.shape[:-1]
        x = OutputDense(res * res * depth, dtype=self.dtype, name="in")(feat.reshape((-1, feat.shape[-1])))
        x = x.reshape((-1, res, res, depth))
        for i in range(stages):
            if i == stages - 1:
                # float32: its bias gradient sums every pixel of the batch (see OutputDense).
                x = nn.ConvTranspose(channels, (4, 4), strides=(2, 2), padding="SAME", kernel_init=output_init,
                                     dtype=jnp.float32, name=f"deconv{i}")(x)  # fmt: skip
            else:
                depth //= 2
                x = nn.ConvTranspose(depth, (4, 4), strides=(2, 2), padding="SAME", use_bias=False,
                                     kernel_init=hidden_init, dtype=self.dtype, name=f"deconv{i}")(x)  # fmt: skip
                x = nn.LayerNorm(epsilon=self.eps, dtype=self.dtype, name=f"norm{i}")(x)
                x = nn.silu(x)
        return x.reshape(lead + (height, width, channels)) + 0.5


class VectorEncoder(nn.Module):
    """MLP on symlog-squashed vector observations; its last hidden layer is the embedding
    (no output projection, as v1's MultiEncoder)."""

    layers: int
    units: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, obs):
        return MLP(self.layers, self.units, self.eps, self.dtype, name="mlp")(symlog(obs))


class VectorDecoder(nn.Module):
    """MLP, then a biased linear layer predicting the observation in symlog space (v1 'symlog_mse')."""

    size: int
    layers: int
    units: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, feat):
        x = MLP(self.layers, self.units, self.eps, self.dtype, name="mlp")(feat)
        return OutputDense(self.size, dtype=self.dtype, name="out")(x)


class TwoHotHead(nn.Module):
    """MLP -> logits over two-hot bins; the output layer starts at zero (predicts 0)."""

    layers: int
    units: int
    bins: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, feat):
        x = MLP(self.layers, self.units, self.eps, self.dtype, name="mlp")(feat)
        return OutputDense(self.bins, nn.initializers.zeros, self.dtype, name="out")(x)


class BinaryHead(nn.Module):
    """MLP -> one Bernoulli logit."""

    layers: int
    units: int
    eps: float = 1e-3
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, feat):
        x = MLP(self.layers, self.units, self.eps, self.dtype, name="mlp")(feat)
        return OutputDense(1, dtype=self.dtype, name="out")(x)[..., 0]


def count_params(tree) -> int:
    return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))

