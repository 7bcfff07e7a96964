"""Rematerialisation (`jax.checkpoint`) of imagination and its heads, set by DreamerConfig.remat.

The actor-critic update imagines imag_horizon steps from every posterior state of the batch
(16K states at the paper's 16 x 64 batch) and backpropagates through all of them; the
activations the backward pass keeps are most of the update's memory. The policies:

* "none": keep every activation (fastest where memory is plentiful);
* "dots": keep only matmul outputs and recompute the cheap elementwise work (LayerNorm,
  SiLU, softmax) in the backward pass;
* "full": keep only each step's inputs and recompute the whole step.

Rematerialisation changes what is stored, never what is computed: values and gradients
are those of "none" up to floating-point reassociation.
"""

from __future__ import annotations

import jax

POLICIES = {
    "dots": jax.checkpoint_policies.dots_saveable,
    "full": jax.checkpoint_policies.nothing_saveable,
}


def rematerialised(fn, remat: str, in_loop: bool = False):
    """`fn` under the `remat` policy ("none": `fn` itself).

    `in_loop`: `fn` is a scan body, where XLA cannot hoist the recomputation out of the
    loop anyway, so common-subexpression protection is dropped (JAX's advice for scans).
    """
    if remat == "none":
        return fn
    if remat not in POLICIES:
        raise ValueError(f"unknown remat policy {remat!r}; valid: none, {', '.join(POLICIES)}")
    return jax.checkpoint(fn, policy=POLICIES[remat], prevent_cse=not in_loop)


def over_time(fn, xs, remat: str):
    """`fn` on every time slice of `xs` (a pytree with a leading time axis), outputs stacked.

    With "none", one call on the whole (T, N, ...) batch. Otherwise a loop over the T slices
    with `fn` rematerialised, so the backward pass recomputes and holds the activations of one
    slice at a time instead of all T: checkpointing a single call over the whole batch would
    only move the peak into its own backward pass.
    """
    if remat == "none":
        return fn(xs)
    return jax.lax.map(rematerialised(fn, remat, in_loop=True), xs)
