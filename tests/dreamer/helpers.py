"""Shared pieces for the DreamerV3 tests: specs, a synthetic JAX system, batches, jitted functions.

Jitted functions live at module level so every test file in one pytest process reuses
the same compiled executables (jit caches per function object and input shapes).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.spec import ActionSpec, EnvSpec
from offon_jit.dreamer import agent
from offon_jit.dreamer.config import DreamerConfig
from offon_jit.dreamer.world_model import world_model_outputs

# Point-mass tests: the tiny preset with a 10x world-model learning rate, so the
# learning test converges within ~150 CPU updates. Image tests: the tiny preset with
# the entropy bonus off, so the discrete actor's only gradient is Reinforce.
POINT_CONFIG = DreamerConfig.from_preset("tiny", wm_lr=1e-3)
IMAGE_CONFIG = DreamerConfig.from_preset("tiny", actor_entropy=0.0)

# A 2-D point mass: obs = (position, velocity), continuous 2-D force, reward from position.
POINT_SPEC = EnvSpec(
    name="synthetic/point",
    obs_shape=(4,),
    obs_dtype="float32",
    action=ActionSpec(kind="continuous", shape=(2,)),
    episode_length=1000,
)
IMAGE_SPEC = envs.get_task("minatar/breakout").spec  # 32x32x4 uint8 images, 3 discrete actions

BATCH, LENGTH = 8, 16  # every point-mass batch has this shape, so compiled code is shared
TRAIN_SEQUENCES = 224  # of the 256 dataset sequences; the rest are held out


def point_reward(pos):
    return jnp.sin(2.0 * pos[..., 0]) + 0.5 * pos[..., 1]


def point_stream(key, steps: int):
    """One auto-resetting stream of the point-mass system in the replay convention.

    Returns dict of (steps, ...) arrays: obs[t], reward[t] and flags arriving with obs[t],
    action[t] taken after obs[t]. Episodes terminate when the point leaves [-1.5, 1.5]^2.
    """

    def reset(key):
        return jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0), jnp.zeros(2)

    def step(carry, key):
        pos, vel, prev_action, done = carry
        reset_key, noise_key = jax.random.split(key)
        action = jnp.clip(0.7 * prev_action + 0.6 * jax.random.normal(noise_key, (2,)), -1.0, 1.0)
        obs = jnp.concatenate([pos, vel])
        reward = jnp.where(done[0], 0.0, point_reward(pos))
        out = {"obs": obs, "action": action, "reward": reward, "is_first": done[0], "is_terminal": done[1]}
        # Next state: reset after a terminal step, else integrate.
        new_vel = 0.7 * vel + 0.3 * action
        new_pos = pos + 0.25 * new_vel
        terminal = jnp.any(jnp.abs(new_pos) > 1.5)
        reset_pos, reset_vel = reset(reset_key)
        ended = done[1]
        pos = jnp.where(ended, reset_pos, new_pos)
        vel = jnp.where(ended, reset_vel, new_vel)
        next_done = (ended, jnp.logical_and(~ended, terminal))
        return (pos, vel, jnp.where(ended, 0.0, action), next_done), out

    first_key, key = jax.random.split(key)
    pos, vel = reset(first_key)
    start = (pos, vel, jnp.zeros(2), (jnp.array(True), jnp.array(False)))
    _, stream = jax.lax.scan(step, start, jax.random.split(key, steps))
    return stream


@functools.lru_cache(maxsize=None)
def point_dataset(seed: int = 0, streams: int = 16, chunks: int = 16):
    """(streams * chunks, LENGTH) sequences cut from auto-resetting streams, as numpy."""
    keys = jax.random.split(jax.random.PRNGKey(seed), streams)
    data = jax.vmap(lambda k: point_stream(k, chunks * LENGTH))(keys)
    data = jax.tree_util.tree_map(lambda x: np.asarray(x).reshape((streams * chunks, LENGTH) + x.shape[2:]), data)
    data["obs"] = data["obs"].astype(np.float32)
    data["action"] = data["action"].astype(np.float32)
    data["reward"] = data["reward"].astype(np.float32)
    return data


def take(data: dict, index) -> dict:
    return {k: v[index] for k, v in data.items()}


def random_image_batch(seed: int, batch: int = 4, length: int = 8) -> dict:
    rng = np.random.default_rng(seed)
    spec = IMAGE_SPEC
    is_first = np.zeros((batch, length), bool)
    is_first[:, 0] = True
    is_terminal = rng.random((batch, length)) < 0.1
    return {
        "obs": (rng.random((batch, length) + spec.obs_shape) < 0.2).astype(np.uint8) * 255,
        "action": np.eye(spec.action.num_actions, dtype=np.float32)[rng.integers(0, spec.action.num_actions, (batch, length))],
        "reward": rng.choice([0.0, 1.0], (batch, length), p=[0.8, 0.2]).astype(np.float32),
        "is_first": is_first,
        "is_terminal": is_terminal,
    }


train_step = jax.jit(agent.train_step)
train_step_seeds = jax.jit(jax.vmap(agent.train_step))
policy_step = jax.jit(agent.policy_step, static_argnames="mode")
wm_outputs = jax.jit(world_model_outputs, static_argnums=3)


def init_point(seed: int = 0) -> agent.AgentState:
    return agent.init_agent(jax.random.PRNGKey(seed), POINT_SPEC, POINT_CONFIG)


def init_image(seed: int = 0) -> agent.AgentState:
    return agent.init_agent(jax.random.PRNGKey(seed), IMAGE_SPEC, IMAGE_CONFIG)


def point_batch(seed: int = 0) -> dict:
    """A fixed training batch of BATCH sequences from the point-mass dataset."""
    index = np.random.default_rng(seed).choice(TRAIN_SEQUENCES, BATCH, replace=False)
    return take(point_dataset(), index)


def max_abs_diff(a, b) -> float:
    diffs = jax.tree_util.tree_map(lambda x, y: float(jnp.max(jnp.abs(x - y))) if x.size else 0.0, a, b)
    return max(jax.tree_util.tree_leaves(diffs))


def leaf_changes(before, after) -> dict:
    """{'/'-joined path: max |after - before|} for every parameter leaf."""
    flat_before = jax.tree_util.tree_flatten_with_path(before)[0]
    flat_after = jax.tree_util.tree_leaves(after)
    return {
        "/".join(str(getattr(k, "key", k)) for k in path): float(jnp.max(jnp.abs(b - a)))
        for (path, a), b in zip(flat_before, flat_after)
    }
