"""Host backend for the DeepMind Control tasks: dm_control itself, proprio or 64x64 RGB.

One `DmcSingleEnv` step is one dm_control control step (BatchedHostEnv adds the
action repeat of 2 and the 500-agent-step limit). dm_control's own time limit is
disabled, so episodes end only by our limit or by a task's real termination.

quadruped_run and point_mass_maze come from our MJX ports' dm_control twins, so
the host and JAX backends share one model and one task definition.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from envs.registry import TaskEntry
from envs.spec import ActionSpec, EnvSpec

# registry task -> dm_control (domain, task) from the stock suite.
_SUITE_TASKS = {
    "cheetah_run": ("cheetah", "run"),
    "walker_walk": ("walker", "walk"),
    "hopper_hop": ("hopper", "hop"),
    "finger_turn_hard": ("finger", "turn_hard"),
    "reacher_hard": ("reacher", "hard"),
    "cup_catch": ("ball_in_cup", "catch"),
    "humanoid_walk": ("humanoid", "walk"),
}
# registry task -> module whose `make_dm_control_env(random_state, environment_kwargs)` builds the twin.
_TWIN_TASKS = {
    "quadruped_run": "envs.mjx_ports.quadruped",
    "point_mass_maze": "envs.mjx_ports.point_mass_maze",
}
TASKS = tuple(_SUITE_TASKS) + tuple(_TWIN_TASKS)

# DreamerV3 renders quadruped from camera 2 and the other stock tasks from camera 0.
_DEFAULT_CAMERA = 0
_CAMERAS = {"quadruped_run": 2}
# The point-mass maze twin names its top-down camera in this module attribute.
_TWIN_CAMERA_ATTRIBUTE = "VISION_CAMERA"
_TWIN_OWN_CAMERA = ("point_mass_maze",)

_NO_TIME_LIMIT = {"time_limit": float("inf")}


def load_dm_control_env(task: str, seed: int = 0):
    """The dm_control `Environment` for a registry task, without dm_control's time limit."""
    if task in _SUITE_TASKS:
        from dm_control import suite

        domain, name = _SUITE_TASKS[task]
        return suite.load(domain, name, task_kwargs={"random": seed, **_NO_TIME_LIMIT})
    if task in _TWIN_TASKS:
        module = importlib.import_module(_TWIN_TASKS[task])
        return module.make_dm_control_env(np.random.RandomState(seed), environment_kwargs=dict(_NO_TIME_LIMIT))
    raise KeyError(f"no dm_control task for {task!r}; known: {', '.join(TASKS)}")


def vision_camera(task: str):
    """Camera (id or name) that vision observations are rendered from."""
    if task in _TWIN_OWN_CAMERA:
        module = importlib.import_module(_TWIN_TASKS[task])
        if not hasattr(module, _TWIN_CAMERA_ATTRIBUTE):
            raise AttributeError(f"{module.__name__} must define {_TWIN_CAMERA_ATTRIBUTE} (its top-down camera)")
        return getattr(module, _TWIN_CAMERA_ATTRIBUTE)
    return _CAMERAS.get(task, _DEFAULT_CAMERA)


def flat_proprio(observation) -> np.ndarray:
    """dm_control's observation dict flattened in its own key order, as float32."""
    return np.concatenate([np.asarray(value, np.float64).ravel() for value in observation.values()]).astype(np.float32)


class DeferredFrame:
    """A rendered observation that is only rendered if someone reads it.

    With action repeat, BatchedHostEnv keeps only the last frame's observation; rendering
    is by far the slowest part of a vision step, so intermediate frames are never drawn.
    Reading a frame after its env has moved on raises instead of showing the wrong state.
    """

    def __init__(self, env: "DmcSingleEnv", frame_index: int):
        self._env, self._frame_index, self._pixels = env, frame_index, None
        self.shape, self.dtype = env.obs_shape, np.dtype(np.uint8)

    def __array__(self, dtype=None, copy=None):
        if self._pixels is None:
            if self._env.frame_index != self._frame_index:
                raise RuntimeError("a deferred DMC frame was read after its environment stepped again")
            self._pixels = self._env.render()
        return self._pixels if dtype is None else self._pixels.astype(dtype)


class DmcSingleEnv:
    """One dm_control environment behind the host SingleEnv protocol."""

    def __init__(self, dm_env, vision: bool, image_size: int, camera, recorded_info=()):
        self._env = dm_env
        self._recorded = tuple(name for name, _ in recorded_info)
        self._vision = vision
        self._camera = camera
        self._size = image_size
        spec = dm_env.action_spec()
        self._low = np.broadcast_to(np.asarray(spec.minimum, np.float64), spec.shape)
        self._high = np.broadcast_to(np.asarray(spec.maximum, np.float64), spec.shape)
        self.action_shape = tuple(spec.shape)
        proprio_size = sum(int(np.prod(s.shape)) for s in dm_env.observation_spec().values())
        self.obs_shape = (image_size, image_size, 3) if vision else (proprio_size,)
        self.frame_index = 0
        self._running = False

    @property
    def dm_control_env(self):
        """The wrapped dm_control Environment (physics and task), for inspection."""
        return self._env

    def render(self) -> np.ndarray:
        return self._env.physics.render(self._size, self._size, camera_id=self._camera)

    def reset(self, rng: np.random.Generator):
        # dm_control tasks draw every random choice from task.random; reseeding it in place
        # makes the episode a function of `rng` alone (reset_context also clears the physics).
        self._env.task.random.seed(int(rng.integers(2**32)))
        timestep = self._env.reset()
        self._running = True
        return self._observe(timestep), self._info()

    def step(self, action):
        if not self._running:
            raise RuntimeError("DmcSingleEnv.step called before reset or after the episode terminated")
        unit = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        timestep = self._env.step(self._low + (unit + 1.0) * 0.5 * (self._high - self._low))
        terminated = bool(timestep.last() and timestep.discount == 0.0)
        if timestep.last() and not terminated:
            # Only a time limit ends a dm_control episode with discount 1; ours is the wrapper's.
            raise RuntimeError("dm_control ended an episode without terminating; its time limit should be disabled")
        self._running = not terminated
        return self._observe(timestep), float(timestep.reward), terminated, self._info()

    def _info(self) -> dict:
        """The spec's recorded info: "position" is the planar (x, y) of the body's root joints (the maze)."""
        return {"position": np.asarray(self._env.physics.data.qpos[:2], np.float32)} if self._recorded else {}

    def close(self) -> None:
        self._env.close()
        self._env.physics.free()

    def _observe(self, timestep):
        self.frame_index += 1
        if self._vision:
            return DeferredFrame(self, self.frame_index)
        return flat_proprio(timestep.observation)


def make_single_factory(entry: TaskEntry, **options) -> tuple[Callable[[int], DmcSingleEnv], EnvSpec]:
    """(make_single, raw_spec) for a `dmc/<task>-proprio|vision` registry entry."""
    if options:
        raise ValueError(f"{entry.name}: the dm_control host backend takes no options, got {sorted(options)}")
    if entry.task not in TASKS:
        raise KeyError(f"{entry.name}: no dm_control task {entry.task!r}; known: {', '.join(TASKS)}")
    if entry.obs_kind not in ("proprio", "vision"):
        raise ValueError(f"{entry.name}: obs_kind must be 'proprio' or 'vision', got {entry.obs_kind!r}")
    vision = entry.obs_kind == "vision"
    size = entry.settings.image_size
    camera = vision_camera(entry.task) if vision else None

    def build(dm_env) -> DmcSingleEnv:
        return DmcSingleEnv(dm_env, vision, size, camera, entry.spec.recorded_info)

    # The spec is read off a real environment, which then serves as env 0.
    prototype = build(load_dm_control_env(entry.task))
    unused = [prototype]
    raw_spec = EnvSpec(
        name=entry.name,
        obs_shape=prototype.obs_shape,
        obs_dtype=np.uint8 if vision else np.float32,
        action=ActionSpec(kind="continuous", shape=prototype.action_shape, low=-1.0, high=1.0),
        episode_length=entry.settings.episode_length,
        action_repeat=1,
        recorded_info=entry.spec.recorded_info,
    )

    def make_single(index: int) -> DmcSingleEnv:
        return unused.pop() if unused else build(load_dm_control_env(entry.task))

    return make_single, raw_spec
