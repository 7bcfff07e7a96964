"""The functional environment protocol shared by every JAX-native backend.

An environment is a pair of pure functions plus a spec:

    state = env.reset(key)          # first state of an episode, is_first=True
    state = env.step(state, action) # next state; obs/reward/flags live in the state

Episode-boundary convention (the one DreamerV3's replay expects):
  * `reset` returns `is_first=True`, `reward=0`, `terminated=truncated=False`.
  * the step that ends an episode returns the *last* observation with
    `terminated` (the MDP ended: no bootstrap) or `truncated` (time limit) set.
  * with `auto_reset` (on by default in `envs.make`), stepping a finished state
    ignores the action and returns a freshly drawn initial state (`is_first=True`,
    new randomness from the state's key), so one transition per boundary is
    spent on the reset. Without it, stepping a finished state is undefined.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from envs.spec import EnvSpec


@struct.dataclass
class EnvState:
    obs: jax.Array
    reward: jax.Array  # float32 scalar: reward received on arriving at `obs`
    terminated: jax.Array  # bool scalar
    truncated: jax.Array  # bool scalar
    is_first: jax.Array  # bool scalar
    step_count: jax.Array  # int32: agent steps taken in this episode
    key: jax.Array  # the env's own randomness (resets, sticky actions, noise)
    backend: Any  # backend-specific pytree (physics data, game state, ...)
    info: dict = struct.field(default_factory=dict)  # extra per-step scalars, e.g. {"success": ...}

    @property
    def done(self) -> jax.Array:
        return jnp.logical_or(self.terminated, self.truncated)


def first_state(obs, key, backend, info=None) -> EnvState:
    """Build the `is_first` state that every backend's reset returns."""
    return EnvState(
        obs=obs,
        reward=jnp.zeros((), jnp.float32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        is_first=jnp.ones((), bool),
        step_count=jnp.zeros((), jnp.int32),
        key=key,
        backend=backend,
        info={} if info is None else info,
    )


@dataclasses.dataclass(frozen=True)
class JaxEnv:
    """A spec plus pure `reset`/`step`; usable under `jit`, `vmap` and `lax.scan`."""

    spec: EnvSpec
    reset: Callable[[jax.Array], EnvState]
    step: Callable[[EnvState, jax.Array], EnvState]
    # Optional, for envs whose observation is a costly function of the state (rendered pixels):
    # `step_unobserved` advances like `step` but leaves `obs` as it was, and `observe(state)`
    # computes it. `wrappers.action_repeat` uses them to draw only a repeat's last frame.
    step_unobserved: Callable[[EnvState, jax.Array], EnvState] | None = None
    observe: Callable[[EnvState], jax.Array] | None = None

    def replace(self, **changes) -> "JaxEnv":
        return dataclasses.replace(self, **changes)


def tree_select(pred: jax.Array, on_true, on_false):
    """Elementwise `where` over two pytrees of identical structure (scalar predicate)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
