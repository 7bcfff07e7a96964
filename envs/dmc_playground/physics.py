"""MuJoCo Playground's DMC models, simulated by MJX with dm_control's physics settings.

What comes from where:
  * model: Playground's MJX-ready XML of the domain (same bodies, joints, actuators and
    sensors as dm_control's; finger's and reacher's targets are mocap bodies instead of
    world-fixed site/geom; humanoid's unused touch sensors are dropped);
  * physics options (timestep, integrator, cone, solver iterations, tolerances, flags):
    copied from dm_control's compiled model. Playground trades accuracy for speed
    (2-8 solver iterations, euler damping off, finger on implicitfast with a pyramidal
    cone, finger/reacher at a 0.005 s timestep instead of dm_control's 0.01/0.02);
    with dm_control's options the Playground XML steps bit-identically to dm_control's
    XML in C MuJoCo (checked for all 7 tasks over 200 control steps);
  * contacts (`set_contact_budget`): Playground's MJX caps pick the `max_geom_pairs`
    geom pairs whose bounding spheres are closest, which drops real contacts (a hopper
    reset with torso, leg and foot in the floor: 0.5 m/s velocity error after one control
    step), and keep `max_contact_points` contacts, fewer than lie active at once in
    walker (up to 7) and humanoid (up to 13) on the floor. We evaluate every geom pair C
    MuJoCo does and keep a per-task budget of the most penetrating contacts, set above
    the most contacts ever active in dm_control rollouts (tasks.py). MJX's cost grows
    with that budget (fixed-size constraint system), so speed is traded for exactness;
  * line search (`cap_line_search`): MJX runs it as a fixed-length masked scan, so under
    vmap every env pays for all `ls_iterations` (dm_control: 50). C MuJoCo never needs
    more than 13 evaluations per solver iteration in these tasks; capping MJX at
    MJX_LS_ITERATIONS makes batched steps ~2x faster (walker, humanoid) and changes
    results only at float32 rounding level (~4e-6, where MJX's float32 convergence test
    never fires and the remaining iterations just polish noise);
  * control timestep: dm_control's; Playground's `ctrl_dt` must agree (checked).

Stepping reproduces dm_control's default ("legacy") `Physics.step(n)`: mj_step2 +
(n-1) mj_step + mj_step1. That is n full steps, after which the position and velocity
stages (kinematics, com, position/velocity sensors) describe the *new* state while
acceleration-stage sensors (touch) keep the values of the last substep's forward pass.
MJX's `step` is forward-then-integrate, so after n steps we recompute the position and
velocity stages in `observation_view`.

Implementation (`choose_impl`): pure-JAX MJX; Warp on request. The observation view
and reset's collision checks always use a pure-JAX model, and the env state is the
implementation-independent `PhysicsState`, so the two differ only in `step`/`forward`.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

# Selects the MJX implementation (`choose_impl`): "jax" (default) or "warp".
IMPL_ENV_VAR = "OFFON_DMC_MJX_IMPL"
_IMPLS = ("jax", "warp")
# dm_control physics options copied onto the Playground model (every MjOption field).
_OPTION_FIELDS = tuple(
    name for name in dir(mujoco.MjOption) if not name.startswith("_") and not callable(getattr(mujoco.MjOption(), name))
)
# Line-search iterations MJX may run per solver iteration (see the module docstring).
MJX_LS_ITERATIONS = 16
# Playground's per-model MJX contact caps (custom numerics).
_CONTACT_CAPS = ("max_contact_points", "max_geom_pairs")


def choose_impl(playground_impl: str) -> str:
    """The MJX implementation that steps the physics: pure JAX unless Warp is requested.

    The brief was Warp on a GPU (Playground's default for all 7 DMC tasks). The raw env
    does run on Warp (the parity tests pass with OFFON_DMC_MJX_IMPL=warp on CPU-Warp), but
    MJX-Warp's `step` is a `custom_vmap` that cannot sit inside a `lax.cond` under `vmap`
    (mujoco 3.17 asserts), which is how `envs.wrappers.auto_reset` runs in batched envs.
    Until auto-reset is decided outside the vmap, Warp is opt-in:
    `OFFON_DMC_MJX_IMPL=warp` (only when `playground_impl` is "warp" and Warp imports).
    """
    forced = os.environ.get(IMPL_ENV_VAR, "jax")
    if forced not in _IMPLS:
        raise ValueError(f"{IMPL_ENV_VAR}={forced!r}; expected one of {_IMPLS}")
    if forced == "warp" and not (playground_impl == "warp" and _warp_installed()):
        raise ValueError(f"{IMPL_ENV_VAR}=warp, but Warp is not installed or Playground does not run this env on Warp")
    return forced


def _warp_installed() -> bool:
    try:
        from mujoco.mjx import warp as mjx_warp
    except ImportError:
        return False
    return bool(mjx_warp.WARP_INSTALLED)


def n_substeps(control_timestep: float, physics_timestep: float) -> int:
    """Physics steps per control step (dm_control's `compute_n_steps`: must divide exactly)."""
    ratio = control_timestep / physics_timestep
    steps = round(ratio)
    if steps < 1 or abs(ratio - steps) > 1e-8:
        raise ValueError(
            f"control timestep {control_timestep} is not a multiple of physics timestep {physics_timestep}"
        )
    return steps


def copy_physics_options(target: mujoco.MjModel, source: mujoco.MjModel) -> None:
    """Give `target` every physics option (`opt`) of `source`, in place."""
    for name in _OPTION_FIELDS:
        setattr(target.opt, name, getattr(source.opt, name))


def cap_line_search(model: mujoco.MjModel, iterations: int = MJX_LS_ITERATIONS) -> None:
    """Limit the solver's line search to `iterations` (in place; never raises the limit)."""
    model.opt.ls_iterations = min(int(model.opt.ls_iterations), iterations)


def set_contact_budget(model: mujoco.MjModel, max_contacts: int | None) -> None:
    """Collide every geom pair; keep at most `max_contacts` contacts (None: all), in place.

    MJX keeps the most penetrating ones, so the physics is C MuJoCo's whenever no more
    than `max_contacts` contacts are active at once.
    """
    caps = {model.numeric(i).name: i for i in range(model.nnumeric) if model.numeric(i).name in _CONTACT_CAPS}
    if "max_geom_pairs" in caps:
        model.numeric(caps["max_geom_pairs"]).data[:] = -1
    if max_contacts is not None and "max_contact_points" not in caps:
        raise ValueError("model has no max_contact_points numeric to hold a contact budget")
    if "max_contact_points" in caps:
        model.numeric(caps["max_contact_points"]).data[:] = -1 if max_contacts is None else max_contacts


@struct.dataclass
class PhysicsState:
    """What a control step needs to continue the simulation (MuJoCo's integration state).

    Kept instead of the full `mjx.Data`: small, implementation-independent (Warp data
    holds batch-global fields that must not pass through the wrappers' `where`s), and
    everything else is recomputed by the next step's forward pass. Applied forces and
    equality flags are not kept: these tasks never change them.
    """

    time: jax.Array
    qpos: jax.Array
    qvel: jax.Array
    act: jax.Array
    ctrl: jax.Array
    qacc_warmstart: jax.Array  # the solver's warm start, as dm_control carries it
    mocap_pos: jax.Array  # task targets (finger, reacher)
    mocap_quat: jax.Array


@dataclasses.dataclass(frozen=True)
class Simulator:
    """One compiled model plus the pure functions that step and inspect it.

    `model` (impl `impl`) steps the physics; `kin_model` (pure JAX; the same object when
    `impl == "jax"`) computes observation views and collision checks.
    """

    mj_model: mujoco.MjModel
    model: mjx.Model
    kin_model: mjx.Model
    impl: str
    n_substeps: int
    naconmax: int | None = None
    njmax: int | None = None

    @classmethod
    def build(cls, mj_model: mujoco.MjModel, impl: str, substeps: int, naconmax=None, njmax=None) -> Simulator:
        if impl not in _IMPLS:
            raise ValueError(f"unknown MJX implementation {impl!r}; expected one of {_IMPLS}")
        model = mjx.put_model(mj_model, impl=impl)
        kin_model = model if impl == "jax" else mjx.put_model(mj_model, impl="jax")
        if impl == "warp":
            # Warp needs room for every constraint row (Playground's reacher config allows 0,
            # which would drop its wrist limit); the JAX data's static row count bounds them.
            njmax = max(njmax or 0, mjx.make_data(mj_model, impl="jax")._impl.nefc)
        return cls(
            mj_model=mj_model,
            model=model,
            kin_model=kin_model,
            impl=impl,
            n_substeps=substeps,
            naconmax=naconmax if impl == "warp" else None,
            njmax=njmax if impl == "warp" else None,
        )

    # --- state construction -------------------------------------------------------
    def make_data(self, qpos: jax.Array, mocap_pos: jax.Array | None = None) -> mjx.Data:
        """Physics data at rest in configuration `qpos` (zero velocity and control)."""
        data = mjx.make_data(self.mj_model, impl=self.impl, naconmax=self.naconmax, njmax=self.njmax)
        data = data.replace(qpos=jnp.asarray(qpos, data.qpos.dtype))
        if mocap_pos is not None:
            data = data.replace(mocap_pos=jnp.asarray(mocap_pos, data.mocap_pos.dtype))
        return data

    def forward(self, data: mjx.Data) -> mjx.Data:
        return mjx.forward(self.model, data)

    def state_of(self, data: mjx.Data) -> PhysicsState:
        return PhysicsState(
            time=data.time,
            qpos=data.qpos,
            qvel=data.qvel,
            act=data.act,
            ctrl=data.ctrl,
            qacc_warmstart=data.qacc_warmstart,
            mocap_pos=data.mocap_pos,
            mocap_quat=data.mocap_quat,
        )

    def data_of(self, state: PhysicsState) -> mjx.Data:
        """Physics data holding `state` (derived quantities are left for a forward pass)."""
        return mjx.make_data(self.mj_model, impl=self.impl, naconmax=self.naconmax, njmax=self.njmax).replace(
            time=state.time,
            qpos=state.qpos,
            qvel=state.qvel,
            act=state.act,
            ctrl=state.ctrl,
            qacc_warmstart=state.qacc_warmstart,
            mocap_pos=state.mocap_pos,
            mocap_quat=state.mocap_quat,
        )

    # --- dynamics -----------------------------------------------------------------
    def step(self, data: mjx.Data, ctrl: jax.Array, substeps: int | None = None) -> mjx.Data:
        """`substeps` (default: one control step's worth) physics steps with fixed `ctrl`."""
        substeps = self.n_substeps if substeps is None else substeps
        data = data.replace(ctrl=jnp.asarray(ctrl, data.ctrl.dtype))
        if substeps == 1:
            return mjx.step(self.model, data)
        return jax.lax.fori_loop(0, substeps, lambda _, d: mjx.step(self.model, d), data)

    # --- inspection ---------------------------------------------------------------
    def observation_view(self, data: mjx.Data) -> mjx.Data:
        """Pure-JAX data whose position/velocity stages match `data`'s current qpos/qvel.

        Acceleration-stage sensors (touch) are carried over from `data`, i.e. from the
        last forward pass, exactly as after dm_control's legacy step.
        """
        view = mjx.make_data(self.mj_model, impl="jax").replace(
            qpos=data.qpos,
            qvel=data.qvel,
            act=data.act,
            ctrl=data.ctrl,
            mocap_pos=data.mocap_pos,
            mocap_quat=data.mocap_quat,
            sensordata=data.sensordata,
            time=data.time,
        )
        view = mjx.kinematics(self.kin_model, view)
        view = mjx.com_pos(self.kin_model, view)
        view = mjx.sensor_pos(self.kin_model, view)
        view = mjx.com_vel(self.kin_model, view)
        return mjx.sensor_vel(self.kin_model, view)

    def penetrating(self, qpos: jax.Array, mocap_pos: jax.Array | None = None) -> jax.Array:
        """Whether configuration `qpos` has any contact (dm_control's `ncon > 0` check)."""
        data = mjx.make_data(self.mj_model, impl="jax")
        data = data.replace(qpos=jnp.asarray(qpos, data.qpos.dtype))
        if mocap_pos is not None:
            data = data.replace(mocap_pos=jnp.asarray(mocap_pos, data.mocap_pos.dtype))
        data = mjx.kinematics(self.kin_model, data)
        data = mjx.collision(self.kin_model, data)
        contact = data._impl.contact
        if contact.dist.size == 0:
            return jnp.zeros((), bool)
        return jnp.any(contact.dist < contact.includemargin)


def body_id(model: mujoco.MjModel, name: str) -> int:
    return _named_id(model, mujoco.mjtObj.mjOBJ_BODY, name)


def geom_id(model: mujoco.MjModel, name: str) -> int:
    return _named_id(model, mujoco.mjtObj.mjOBJ_GEOM, name)


def site_id(model: mujoco.MjModel, name: str) -> int:
    return _named_id(model, mujoco.mjtObj.mjOBJ_SITE, name)


def joint_id(model: mujoco.MjModel, name: str) -> int:
    return _named_id(model, mujoco.mjtObj.mjOBJ_JOINT, name)


def sensor_slice(model: mujoco.MjModel, name: str) -> slice:
    """Where sensor `name` lives in `sensordata`."""
    i = _named_id(model, mujoco.mjtObj.mjOBJ_SENSOR, name)
    start = int(model.sensor_adr[i])
    return slice(start, start + int(model.sensor_dim[i]))


def _named_id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str) -> int:
    i = mujoco.mj_name2id(model, kind, name)
    if i < 0:
        raise KeyError(f"model has no {kind.name.removeprefix('mjOBJ_').lower()} named {name!r}")
    return int(i)


def mocap_index(model: mujoco.MjModel, body: str) -> int:
    """Row of `mocap_pos` that moves mocap body `body`."""
    index = int(model.body_mocapid[body_id(model, body)])
    if index < 0:
        raise ValueError(f"body {body!r} is not a mocap body")
    return index


def default_mocap_pos(model: mujoco.MjModel) -> np.ndarray:
    """`mocap_pos` after mj_resetData: each mocap body at its model position."""
    pos = np.zeros((model.nmocap, 3), np.float32)
    for body in np.flatnonzero(model.body_mocapid >= 0):
        pos[model.body_mocapid[body]] = model.body_pos[body]
    return pos
