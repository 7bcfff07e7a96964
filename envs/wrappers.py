"""Small composable wrappers: each takes a `JaxEnv` and returns a new `JaxEnv`.

Standard stack built by `envs.make` (innermost first):
    backend -> [sticky_actions] -> action_repeat -> time_limit -> [obs transforms] -> auto_reset

Backends never touch `step_count` or `truncated`; `time_limit` owns both and
counts agent steps (after action repeat).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.core import EnvState, JaxEnv, tree_select


def action_repeat(env: JaxEnv, repeat: int) -> JaxEnv:
    """Repeat each action `repeat` frames, summing rewards; stops early at termination."""
    if repeat < 1:
        raise ValueError(f"action repeat must be >= 1, got {repeat}")
    if repeat == 1:
        return env

    # Frames whose observation is dropped are not observed (not rendered) where the env allows it.
    frame_step = env.step_unobserved if env.observe is not None else env.step

    def step(state: EnvState, action) -> EnvState:
        def frame(carry, _):
            current, total = carry
            nxt = frame_step(current, action)
            # After termination inside the repeat, further frames are no-ops.
            total = total + jnp.where(current.terminated, 0.0, nxt.reward)
            nxt = tree_select(current.terminated, current, nxt)
            return (nxt, total), None

        start = state.replace(terminated=jnp.zeros((), bool))
        (final, total), _ = jax.lax.scan(frame, (start, jnp.zeros((), jnp.float32)), None, length=repeat)
        if env.observe is not None:
            final = final.replace(obs=env.observe(final))
        return final.replace(reward=total.astype(jnp.float32), is_first=jnp.zeros((), bool))

    spec = env.spec.replace(action_repeat=env.spec.action_repeat * repeat)
    return JaxEnv(spec=spec, reset=env.reset, step=step)


def time_limit(env: JaxEnv, max_steps: int) -> JaxEnv:
    """Truncate episodes after `max_steps` agent steps (termination wins a tie)."""
    if max_steps < 1:
        raise ValueError(f"time limit must be >= 1 step, got {max_steps}")

    def step(state: EnvState, action) -> EnvState:
        nxt = env.step(state, action)
        count = state.step_count + 1
        truncated = jnp.logical_and(count >= max_steps, jnp.logical_not(nxt.terminated))
        return nxt.replace(step_count=count, truncated=truncated, is_first=jnp.zeros((), bool))

    return JaxEnv(spec=env.spec.replace(episode_length=max_steps), reset=env.reset, step=step)


def auto_reset(env: JaxEnv) -> JaxEnv:
    """Stepping a finished state returns a *freshly drawn* initial state (action ignored)."""

    def step(state: EnvState, action) -> EnvState:
        key, reset_key = jax.random.split(state.key)
        return jax.lax.cond(
            state.done,
            lambda: env.reset(reset_key),
            lambda: env.step(state.replace(key=key), action),
        )

    return JaxEnv(spec=env.spec, reset=env.reset, step=step)


def sticky_actions(env: JaxEnv, prob: float) -> JaxEnv:
    """With probability `prob` the previous action is repeated instead of the new one.

    This is the original MinAtar's behaviour (default 0.1). The previous action
    lives next to the backend state; it starts at 0 (no-op) on reset.
    """
    if not 0.0 <= prob < 1.0:
        raise ValueError(f"sticky action probability must be in [0, 1), got {prob}")
    if not env.spec.action.is_discrete:
        raise ValueError(f"{env.spec.name}: sticky actions need a discrete action space")

    def wrap(state: EnvState, last_action) -> EnvState:
        return state.replace(backend={"inner": state.backend, "last_action": last_action})

    def unwrap(state: EnvState) -> EnvState:
        return state.replace(backend=state.backend["inner"])

    def reset(key) -> EnvState:
        return wrap(env.reset(key), jnp.zeros((), jnp.int32))

    def step(state: EnvState, action) -> EnvState:
        key, sticky_key = jax.random.split(state.key)
        last = state.backend["last_action"]
        action = jnp.where(jax.random.uniform(sticky_key) < prob, last, jnp.asarray(action, jnp.int32))
        nxt = env.step(unwrap(state).replace(key=key), action)
        return wrap(nxt, action)

    return JaxEnv(spec=env.spec, reset=reset, step=step)


def map_obs(env: JaxEnv, fn, obs_shape, obs_dtype) -> JaxEnv:
    """Apply `fn` to every observation; the spec is updated to the new shape/dtype."""

    def reset(key):
        state = env.reset(key)
        return state.replace(obs=fn(state.obs))

    def step(state, action):
        # The inner env never sees the transformed obs; backends keep their own copy.
        nxt = env.step(state, action)
        return nxt.replace(obs=fn(nxt.obs))

    spec = env.spec.replace(obs_shape=tuple(obs_shape), obs_dtype=np.dtype(obs_dtype))
    return JaxEnv(spec=spec, reset=reset, step=step)


def cast_obs(env: JaxEnv, dtype, scale: float = 1.0) -> JaxEnv:
    """Cast observations to `dtype` after multiplying by `scale` (e.g. bool -> uint8 with 255)."""
    dtype = np.dtype(dtype)

    def fn(obs):
        return (jnp.asarray(obs, jnp.float32) * scale).astype(dtype)

    return map_obs(env, fn, env.spec.obs_shape, dtype)


def resize_image(env: JaxEnv, size: int, method: str = "nearest") -> JaxEnv:
    """Resize HxWxC image observations to size x size (channels and dtype kept).

    Convention (the paper's Table S1): DMC and Metaworld pixels are rendered at
    64x64 directly; MinAtar's 10x10 binary channel frames are upsampled with
    nearest-neighbour to 32x32 (values stay exactly 0/255).
    """
    if not env.spec.is_image:
        raise ValueError(f"{env.spec.name}: resize_image needs HxWxC observations, got {env.spec.obs_shape}")
    height, width, channels = env.spec.obs_shape
    dtype = env.spec.obs_dtype
    out_shape = (size, size, channels)

    def fn(obs):
        resized = jax.image.resize(jnp.asarray(obs, jnp.float32), out_shape, method=method)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            resized = jnp.clip(jnp.round(resized), info.min, info.max)
        return resized.astype(dtype)

    return map_obs(env, fn, out_shape, dtype)


def batched(env: JaxEnv, num_envs: int, auto_reset: bool = False, reset_axis_name: str | None = None) -> JaxEnv:
    """`num_envs` independent copies: `reset(key)` splits the key, `step` maps over axis 0.

    With `auto_reset`, `env` must not auto-reset itself: finished copies are reset here
    with the semantics of `auto_reset` above, but the reset runs only on steps where some
    copy finished. (Inside `vmap` a per-env `lax.cond` computes both branches, so every
    step would pay for a reset; DMC resets can cost hundreds of physics substeps.)

    `reset_axis_name` names an enclosing `vmap` axis (the engine's seed axis) under which
    this env always runs: the reset decision is then reduced over that axis, so it stays a
    real branch there too (one reset for all seeds when any copy of any seed finished)
    instead of becoming a select that resets every step. Results are unchanged: finished
    copies take the reset, the others keep their step.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    vstep, vreset = jax.vmap(env.step), jax.vmap(env.reset)

    def reset(key):
        return vreset(jax.random.split(key, num_envs))

    def step_with_reset(state, action):
        keys = jax.vmap(jax.random.split)(state.key)
        stepped = vstep(state.replace(key=keys[:, 0]), action)

        def reset_finished():
            return jax.vmap(tree_select)(state.done, vreset(keys[:, 1]), stepped)

        any_done = jnp.any(state.done)
        if reset_axis_name is not None:
            any_done = jax.lax.psum(any_done.astype(jnp.int32), reset_axis_name) > 0
        return jax.lax.cond(any_done, reset_finished, lambda: stepped)

    return JaxEnv(spec=env.spec, reset=reset, step=step_with_reset if auto_reset else vstep)
