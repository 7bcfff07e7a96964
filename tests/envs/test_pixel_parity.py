"""The JAX ray caster (envs/pixels) against dm_control's frames of the same physics states.

States come from `benchmarks.pixel_fidelity.reference_states`: dm_control's env reset with seed
s, then 40 random actions. Segmentation must agree on >= 95% of pixels in every state (the
issue's bar; measured 0.995-1.000). Colour error (mean |dm_control - ours| over pixels and
channels, 0-255) is bounded per task from the measured maxima over 5 states
(benchmarks/results/pixel_fidelity-cpu.json, mujoco 3.17.0 / dm_control 1.0.50). Shadows (off
in the JAX backend by default; `--shadows` measures them: 0.3-1.4 levels better), the bodies'
floor reflections, anti-aliasing and mipmapped texture detail are not drawn, and MuJoCo's vertex
lighting of the maze floor is matched only approximately, so that is where the frames differ:

  task              measured max   bound   where the colour differs
  cheetah_run            3.7          8     the cheetah's shadow and floor reflection
  walker_walk            9.7         16     shadow and reflections on the near checkered floor
  hopper_hop             3.1          8     as cheetah
  finger_turn_hard       3.7          8     shadows on the floor
  reacher_hard           5.4         11     top-down floor fills the frame
  point_mass_maze       11.6         20     its floor is lit brighter than MuJoCo's (vertex lighting)
  cup_catch              3.0          8     the slack string (a catenary in MuJoCo)
  humanoid_walk          4.1          9     shadow, reflections, far-floor texture detail
  quadruped_run          4.6          9     shadow, reflections, far-floor texture detail

The margins (about 1.5x plus 3 levels) leave room for small shading changes; a swapped colour
channel or a flipped frame costs 34-45. Neither bound notices a limb in the wrong place (another
state's pose still agrees on 0.97-0.98 of pixels, colour error +1), so body agreement
(agreement over pixels either renderer gives a non-plane object) is bounded too: measured
0.987-0.996 where the scene is fully modelled, 0.02-0.68 for another state's pose. Only cheetah_run and
reacher_hard run in the default suite (one side view, one top-down view with a mocap target);
the other seven are `slow`.
"""

from __future__ import annotations

import functools

import mujoco
import numpy as np
import pytest

from benchmarks import pixel_fidelity

MIN_SEGMENTATION_AGREEMENT = 0.95
COLOUR_MAE_BOUND = {
    "cheetah_run": 8.0,
    "walker_walk": 16.0,
    "hopper_hop": 8.0,
    "finger_turn_hard": 8.0,
    "reacher_hard": 11.0,
    "cup_catch": 8.0,
    "humanoid_walk": 9.0,
    "quadruped_run": 9.0,
    "point_mass_maze": 20.0,
}
# Body agreement bounds: measured min over 5 states in the comment where it is not ~0.99.
MIN_BODY_AGREEMENT = {
    "cheetah_run": 0.95,
    "walker_walk": 0.95,
    "hopper_hop": 0.95,
    "finger_turn_hard": 0.95,
    "reacher_hard": 0.95,
    # 0.686: the bodies are small (~50 px) and MuJoCo draws the slack string as a sagging
    # catenary, ours as a straight segment (~20 px disagree).
    "cup_catch": 0.5,
    # 0.946: the walls dominate and the two centre walls overlap: ties go to different walls.
    "point_mass_maze": 0.9,
    "humanoid_walk": 0.95,
    "quadruped_run": 0.95,
}
CHEAP = ("cheetah_run", "reacher_hard")
CHEAP_STATES = 2
SLOW_STATES = 3


@functools.lru_cache(maxsize=None)
def _compared(task: str, states: int):
    refs = pixel_fidelity.reference_states(task, states)
    rgb, seg = pixel_fidelity.draw(task, refs)
    return refs, rgb, seg


def _check(task: str, states: int) -> None:
    refs, rgb, seg = _compared(task, states)
    for i in range(states):
        m = pixel_fidelity.frame_metrics(refs.rgb[i], refs.seg[i], rgb[i], seg[i], refs.planes)
        assert m["segmentation_agreement"] >= MIN_SEGMENTATION_AGREEMENT, (task, i, m)
        assert m["body_agreement"] >= MIN_BODY_AGREEMENT[task], (task, i, m)
        assert m["colour_mae"] <= COLOUR_MAE_BOUND[task], (task, i, m)


def test_every_task_has_bounds():
    from envs import dmc_host

    assert set(COLOUR_MAE_BOUND) == set(MIN_BODY_AGREEMENT) == set(dmc_host.TASKS)


@pytest.mark.parametrize("task", CHEAP)
def test_parity_cheap(task):
    _check(task, CHEAP_STATES)


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in COLOUR_MAE_BOUND if t not in CHEAP])
def test_parity_slow(task):
    _check(task, SLOW_STATES)


def _target_pixels(seg: np.ndarray, target: int) -> np.ndarray:
    return (seg[..., 0] == target) & (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM))


def _reacher_target():
    from envs import dmc_host

    env = dmc_host.load_dm_control_env("reacher_hard", 0)
    try:
        return mujoco.mj_name2id(env.physics.model.ptr, mujoco.mjtObj.mjOBJ_GEOM, "target")
    finally:
        env.close()


def test_reacher_mocap_puts_the_target_where_dm_control_draws_it():
    # The states' targets differ by seed, and `reference_states` draws ours at `r.mocap_of(physics)`.
    refs, _, seg = _compared("reacher_hard", CHEAP_STATES)
    target = _reacher_target()
    centres = []
    for i in range(CHEAP_STATES):
        ref, ours = _target_pixels(refs.seg[i], target), _target_pixels(seg[i], target)
        assert ref.any() and ours.any(), f"state {i}: target not visible (dm_control {ref.sum()} px, ours {ours.sum()} px)"
        ref_centre, our_centre = np.argwhere(ref).mean(0), np.argwhere(ours).mean(0)
        assert np.linalg.norm(ref_centre - our_centre) <= 1.0, (i, ref_centre, our_centre)
        centres.append(ref_centre)
    assert np.linalg.norm(centres[0] - centres[1]) > 2.0, "the seeds should place the target differently"


def test_reacher_target_has_dm_controls_size():
    """dm_control's hard reacher sets the target's radius (0.05 -> 0.015 m) at reset: the renderer reads it after one."""
    refs, _, seg = _compared("reacher_hard", CHEAP_STATES)
    target = _reacher_target()
    for i in range(CHEAP_STATES):
        ref, ours = _target_pixels(refs.seg[i], target), _target_pixels(seg[i], target)
        assert (ref & ours).sum() / (ref | ours).sum() >= 0.7, (i, ref.sum(), ours.sum())
