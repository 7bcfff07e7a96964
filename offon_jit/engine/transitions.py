"""What one env step contributes to the replay buffer.

Row t holds obs_t with the reward and flags that arrived with it, and the action
the policy took after seeing obs_t (DreamerV3 v1 convention). Discrete actions
are stored one-hot so the buffer layout does not depend on the action space.
Info vectors the spec records (`EnvSpec.recorded_info`, e.g. the vision maze's
position) are stored beside them; the agent never reads them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.spec import EnvSpec


def replay_schema(spec: EnvSpec) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    return {
        "obs": (spec.obs_shape, spec.obs_dtype),
        "action": ((spec.action.dim,), np.dtype(np.float32)),
        "reward": ((), np.dtype(np.float32)),
        "is_first": ((), np.dtype(bool)),
        "is_terminal": ((), np.dtype(bool)),
        **{name: ((size,), np.dtype(np.float32)) for name, size in spec.recorded_info},
    }


def encode_action(action: jax.Array, spec: EnvSpec) -> jax.Array:
    if spec.action.is_discrete:
        return jax.nn.one_hot(action, spec.action.num_actions, dtype=jnp.float32)
    return action.astype(jnp.float32)


def make_row(obs, reward, is_first, terminated, action, spec: EnvSpec, info=None) -> dict:
    """`info` must hold every field of `spec.recorded_info` (JAX-native tasks record none)."""
    return {
        "obs": obs,
        "action": encode_action(action, spec),
        "reward": reward.astype(jnp.float32),
        "is_first": is_first,
        "is_terminal": terminated,
        **{name: jnp.asarray(info[name], jnp.float32) for name, _ in spec.recorded_info},
    }
