"""The jaxpr FLOP counter: exact matmul and convolution counts, scans times their length,
rematerialisation's recomputation included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from benchmarks.flop_count import count_flops
from benchmarks.update_cost import update_flops
from offon_jit.dreamer.config import DreamerConfig

F32 = jnp.float32


def test_a_scan_counts_its_body_times_its_length():
    w = np.ones((64, 32), np.float32)
    x = jax.ShapeDtypeStruct((16, 64), F32)
    once = count_flops(lambda x: x @ w, x)["matmul_flops"]
    assert once == 2 * 16 * 64 * 32
    looped = count_flops(lambda x: jax.lax.scan(lambda c, _: (c, c @ w), x, None, length=15)[1], x)
    assert looped["matmul_flops"] == 15 * once


def test_batched_matmul_convolution_and_elementwise_counts():
    a, b = jax.ShapeDtypeStruct((3, 5, 7), F32), jax.ShapeDtypeStruct((3, 7, 2), F32)
    assert count_flops(jnp.matmul, a, b)["matmul_flops"] == 2 * 3 * 5 * 7 * 2
    image, kernel = jax.ShapeDtypeStruct((2, 8, 8, 3), F32), jax.ShapeDtypeStruct((4, 4, 3, 6), F32)

    def conv(x, k):
        return jax.lax.conv_general_dilated(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    # Every output element (2 x 4 x 4 x 6) is a 4 x 4 x 3 dot product.
    assert count_flops(conv, image, kernel)["matmul_flops"] == 2 * (2 * 4 * 4 * 6) * (4 * 4 * 3)
    counted = count_flops(lambda x: jnp.tanh(x) + 1.0, jax.ShapeDtypeStruct((10, 3), F32))
    assert counted == {"matmul_flops": 0.0, "elementwise_flops": 60.0, "flops": 60.0}


def test_a_while_loop_is_refused():
    with pytest.raises(ValueError, match="trip count is unknown"):
        count_flops(lambda x: jax.lax.while_loop(lambda c: c < 3.0, lambda c: c + 1.0, x), jax.ShapeDtypeStruct((), F32))


def test_full_remat_counts_the_recomputed_imagination():
    """'full' recomputes each imagination step and the heads in the backward pass; 'dots' keeps
    the matmul outputs, so its matmul FLOPs equal 'none''s."""
    spec = envs.get_task("debug/point_reach").spec
    counts = {remat: update_flops(spec, DreamerConfig.from_preset("tiny", remat=remat), 2, 8)
              for remat in ("none", "dots", "full")}  # fmt: skip
    assert counts["dots"]["matmul_flops"] == counts["none"]["matmul_flops"]
    assert counts["full"]["matmul_flops"] > 1.1 * counts["none"]["matmul_flops"]
