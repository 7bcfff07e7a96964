"""MinAtar frame conversion shared by both backends: 10x10xC binary -> 32x32xC uint8.

The JAX backend converts with `envs.wrappers.cast_obs` + `resize_image` (jax.image
nearest); this module is the numpy twin for the host backend and must stay
bit-identical to it (tests/envs/test_minatar.py checks that).
"""

from __future__ import annotations

import functools

import numpy as np

GAME_NAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
GRID = 10  # MinAtar boards are 10x10


@functools.lru_cache(maxsize=None)
def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source index of every output pixel, computed exactly as jax.image.resize(method="nearest").

    jax samples at half-pixel centres in float32: floor((i + 0.5) * in / out).
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"image sizes must be >= 1, got {in_size} -> {out_size}")
    centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * np.float32(in_size)
    index = np.floor(centres / np.float32(out_size)).astype(np.int64)
    index.setflags(write=False)
    return index


def binary_to_uint8(frame: np.ndarray) -> np.ndarray:
    """{0,1} (bool or numeric) -> uint8 {0,255}; anything else is an error."""
    frame = np.asarray(frame)
    if frame.dtype != bool and not np.all((frame == 0) | (frame == 1)):
        raise ValueError("MinAtar frames must be binary (0/1)")
    return frame.astype(bool).astype(np.uint8) * np.uint8(255)


def upsample_nearest(image: np.ndarray, size: int) -> np.ndarray:
    """HxWxC -> size x size x C by nearest neighbour (jax.image.resize convention)."""
    if image.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {image.shape}")
    rows = nearest_indices(image.shape[0], size)
    cols = nearest_indices(image.shape[1], size)
    return image[rows[:, None], cols[None, :], :]


def host_frame(state: np.ndarray, size: int) -> np.ndarray:
    """The original MinAtar `state()` (10x10xC bool) as the agent sees it: size x size x C uint8."""
    return upsample_nearest(binary_to_uint8(state), size)
