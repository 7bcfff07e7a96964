"""Initial-state sampling shared by the DMC tasks (JAX twins of dm_control's helpers)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from envs.dmc_playground.physics import Simulator

# dm_control gives up after this many collision-free attempts (finger); we return the
# last sample instead of raising. Acceptance is >= 75% for every task here.
MAX_ATTEMPTS = 1000

_FREE = int(mujoco.mjtJoint.mjJNT_FREE)
_BALL = int(mujoco.mjtJoint.mjJNT_BALL)
_SLIDE = int(mujoco.mjtJoint.mjJNT_SLIDE)
_HINGE = int(mujoco.mjtJoint.mjJNT_HINGE)


def joint_randomizer(model: mujoco.MjModel, limited_only: bool = False) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """`randomize_limited_and_rotational_joints` of dm_control as `(key, qpos) -> qpos`.

    Limited hinges/slides: uniform in range. Unlimited hinges: uniform in [-pi, pi].
    Unlimited balls: uniform on the unit 3-sphere. Free joints: orientation from
    dm_control's (deliberately kept) `rand(4)` normalised, position untouched.
    Unlimited slides are untouched. `limited_only` randomises only limited joints
    (cheetah's own initialisation).
    """
    rules = []  # (qpos address, kind, low, high)
    for j in range(model.njnt):
        kind, limited = int(model.jnt_type[j]), bool(model.jnt_limited[j])
        adr = int(model.jnt_qposadr[j])
        low, high = (float(v) for v in model.jnt_range[j])
        if limited:
            if kind in (_HINGE, _SLIDE):
                rules.append((adr, "uniform", low, high))
            elif kind == _BALL:
                raise ValueError(f"joint {model.joint(j).name!r}: limited ball joints are not supported")
        elif not limited_only:
            if kind == _HINGE:
                rules.append((adr, "uniform", -np.pi, np.pi))
            elif kind == _BALL:
                rules.append((adr, "sphere", 0.0, 0.0))
            elif kind == _FREE:
                rules.append((adr + 3, "positive_quat", 0.0, 0.0))

    def randomize(key: jax.Array, qpos: jax.Array) -> jax.Array:
        keys = jax.random.split(key, max(len(rules), 1))
        for k, (adr, rule, low, high) in zip(keys, rules):
            if rule == "uniform":
                qpos = qpos.at[adr].set(jax.random.uniform(k, (), jnp.float32, low, high))
            else:
                quat = jax.random.normal(k, (4,)) if rule == "sphere" else jax.random.uniform(k, (4,))
                qpos = qpos.at[adr : adr + 4].set(quat / jnp.linalg.norm(quat))
        return qpos

    return randomize


def sample_collision_free(
    sim: Simulator,
    key: jax.Array,
    propose: Callable[[jax.Array], jax.Array],
    mocap_pos: jax.Array | None = None,
) -> jax.Array:
    """Draw `propose(key) -> qpos` until the configuration has no contact (dm_control's loop)."""

    def redraw(carry):
        key, _, _, attempts = carry
        key, sub = jax.random.split(key)
        qpos = propose(sub)
        return key, qpos, sim.penetrating(qpos, mocap_pos), attempts + 1

    def keep_going(carry):
        _, _, penetrating, attempts = carry
        return jnp.logical_and(penetrating, attempts < MAX_ATTEMPTS)

    start = (key, jnp.asarray(sim.mj_model.qpos0, jnp.float32), jnp.ones((), bool), jnp.zeros((), jnp.int32))
    _, qpos, _, _ = jax.lax.while_loop(keep_going, redraw, start)
    return qpos
