"""JAX-native MinAtar backend: gymnax's MinAtar games behind the functional env protocol.

We call gymnax's `reset_env`/`step_env` (not `step`, which auto-resets and applies
gymnax's own time limit), so the terminal frame is kept and `envs.wrappers` own
resets, sticky actions and truncation. `terminated` is gymnax's game-over flag; in
gymnax 1.0.1 that flag never looks at the time counter (`is_terminal` ignores
`time` for all five games; Freeway never terminates and relies on our time limit,
exactly like the original, whose own 2500-frame timer fires one frame after ours).
`max_steps_in_episode` is still raised far above any episode so no gymnax code path
can end an episode early.

Observations: gymnax's 10x10xC float {0,1} frame -> uint8 {0,255} -> nearest
32x32xC (or `frame_size`; 10 keeps the grid), through the shared `cast_obs`/`resize_image`
wrappers (the host backend reproduces this bit for bit with `envs.minatar_frames`).
Actions: int32 index into the game's minimal action set; gymnax and the original
MinAtar order their minimal sets identically (checked in the tests).

Known differences from the original (pinned in tests/envs/test_minatar.py, which
otherwise finds every frame, reward and flag identical):
  * seaquest: on the terminal frame after surfacing with no diver, gymnax has already
    refilled the oxygen, so its oxygen gauge is full (the original shows what was left);
  * asterix: gymnax's spawn-slot search skips the first slot of its random permutation
    and, when the other seven are taken, overwrites an occupied row with an empty one;
    with 7-8 entities on screen an entity can vanish instead of a new one spawning.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import minatar as gymnax_minatar

from envs import wrappers
from envs.core import EnvState, JaxEnv, first_state
from envs.minatar_frames import GRID
from envs.registry import TaskEntry
from envs.spec import EnvSpec

GYMNAX_CLASSES = {
    "asterix": gymnax_minatar.MinAsterix,
    "breakout": gymnax_minatar.MinBreakout,
    "freeway": gymnax_minatar.MinFreeway,
    "seaquest": gymnax_minatar.MinSeaquest,
    "space_invaders": gymnax_minatar.MinSpaceInvaders,
}

# Far beyond any episode (ours truncate at 2500); int32-safe for gymnax's counter.
NO_GYMNAX_TIME_LIMIT = 2**30


def gymnax_game(game: str):
    """(gymnax env with the minimal action set, params without gymnax's time limit)."""
    if game not in GYMNAX_CLASSES:
        raise KeyError(f"unknown MinAtar game {game!r}; known: {', '.join(GYMNAX_CLASSES)}")
    env = GYMNAX_CLASSES[game](use_minimal_action_set=True)
    params = env.default_params.replace(max_steps_in_episode=NO_GYMNAX_TIME_LIMIT)
    return env, params


def _strongly_typed(tree):
    """Drop JAX weak types (gymnax builds some fields from Python ints) so that reset and
    step states have identical avals, as `lax.cond` in `auto_reset` requires."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), tree)


def uint8_frames(env: JaxEnv, size: int) -> JaxEnv:
    """float {0,1} HxWxC observations -> uint8 {0,255} size x size x C (nearest neighbour)."""
    return wrappers.resize_image(wrappers.cast_obs(env, np.uint8, 255.0), size)


def make_raw(entry: TaskEntry, frame_size: int | None = None) -> JaxEnv:
    game_env, params = gymnax_game(entry.task)
    channels = entry.spec.obs_shape[-1]
    if game_env.obs_shape != (GRID, GRID, channels):
        raise ValueError(f"{entry.name}: gymnax frames are {game_env.obs_shape}, registry expects {channels} channels")
    if game_env.num_actions != entry.spec.action.num_actions:
        raise ValueError(
            f"{entry.name}: gymnax has {game_env.num_actions} actions, registry expects {entry.spec.action.num_actions}"
        )

    def reset(key: jax.Array) -> EnvState:
        key, reset_key = jax.random.split(key)
        obs, game_state = game_env.reset_env(reset_key, params)
        return first_state(jnp.asarray(obs, jnp.float32), key, _strongly_typed(game_state))

    def step(state: EnvState, action: jax.Array) -> EnvState:
        key, step_key = jax.random.split(state.key)
        action = jnp.asarray(action, jnp.int32)
        obs, game_state, reward, done, _ = game_env.step_env(step_key, state.backend, action, params)
        return state.replace(
            obs=jnp.asarray(obs, jnp.float32),
            reward=jnp.asarray(reward, jnp.float32),
            terminated=jnp.asarray(done, bool),
            is_first=jnp.zeros((), bool),
            backend=_strongly_typed(game_state),
            key=key,
        )

    spec = EnvSpec(
        name=entry.name,
        obs_shape=game_env.obs_shape,
        obs_dtype=np.float32,
        action=entry.spec.action,
        episode_length=entry.settings.episode_length,
        action_repeat=1,
    )
    return uint8_frames(JaxEnv(spec=spec, reset=reset, step=step), frame_size or entry.settings.image_size)
