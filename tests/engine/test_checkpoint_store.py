"""CheckpointStore round trips, including zero-size arrays (an MJX state's `act` for models without
actuator activations, e.g. cheetah), which orbax refuses to write."""

import jax
import jax.numpy as jnp
import numpy as np

from offon_jit.checkpoint import CheckpointStore


def test_state_with_zero_size_arrays_round_trips(tmp_path):
    state = {"params": {"w": jnp.arange(6.0).reshape(2, 3)},
             "env": {"act": jnp.zeros((3, 0), jnp.float32), "qpos": jnp.ones((3, 4)),
                     "flags": jnp.zeros((0,), jnp.int32)},
             "step": jnp.asarray(7, jnp.int32)}
    store = CheckpointStore(tmp_path / "ckpt")
    store.save(3, state, {"phase": 0})
    restored, meta = store.restore(3, state)
    store.close()
    assert meta == {"phase": 0}
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)
    for got, want in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
