"""The paper's 31 tasks (plus a `debug/` sanity task), their settings, and their backends.

Specs here are static (so `python -m envs list` is instant); the conformance
test checks that every backend produces exactly the registered spec.

Continuous action spaces are always exposed as [-1, 1]; backends rescale to the
simulator's actuator ranges (as DreamerV3 does).

Your own tasks join the same table through `envs.register` (envs/registration.py). Modules named
in the environment variable OFFON_JIT_ENV_MODULES (comma-separated) are imported at the first
lookup, so their `envs.register` calls reach every process, the `offon-jit` CLI included.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import warnings
from typing import Callable


from envs.spec import ActionSpec, EnvSpec

BACKENDS = ("jax", "host")
MAZE_POSITION = (("position", 2),)  # the vision maze reports the point mass's (x, y) for heatmaps


@dataclasses.dataclass(frozen=True)
class SuiteSettings:
    action_repeat: int
    episode_length: int  # agent steps, after action repeat
    image_size: int  # side of square image observations
    sticky_prob: float = 0.0  # default sticky-action probability (MinAtar only)


# The paper's Table S1. DMC: 1000 control steps per episode at action repeat 2.
# Metaworld v3: 500 frames per episode at action repeat 2. MinAtar: truncate at 2500.
SUITES = {
    "dmc": SuiteSettings(action_repeat=2, episode_length=500, image_size=64),
    "metaworld": SuiteSettings(action_repeat=2, episode_length=250, image_size=64),
    "minatar": SuiteSettings(action_repeat=1, episode_length=2500, image_size=32, sticky_prob=0.1),
    "debug": SuiteSettings(action_repeat=1, episode_length=50, image_size=0),
}
PAPER_SUITES = ("dmc", "metaworld", "minatar")


@dataclasses.dataclass(frozen=True)
class TaskEntry:
    name: str  # e.g. "dmc/cheetah_run-proprio"
    suite: str
    task: str  # suite-local task name, e.g. "cheetah_run"
    obs_kind: str  # "proprio" or "vision"
    spec: EnvSpec  # final spec after the standard wrappers
    factories: dict[str, str | Callable]  # backend -> "module:function", or the builder itself (registered tasks)
    own_settings: SuiteSettings | None = None  # registered tasks' settings; built-in ones use their suite's

    @property
    def settings(self) -> SuiteSettings:
        return self.own_settings or SUITES[self.suite]

    @property
    def registered(self) -> bool:
        """Added by `envs.register` rather than built in."""
        return self.own_settings is not None

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(b for b in BACKENDS if b in self.factories)

    def factory(self, backend: str) -> Callable:
        target = self.factories[backend]
        if callable(target):
            return target
        module, function = target.split(":")
        return getattr(importlib.import_module(module), function)


def _continuous(dim: int) -> ActionSpec:
    return ActionSpec(kind="continuous", shape=(dim,), low=-1.0, high=1.0)


def _discrete(n: int) -> ActionSpec:
    return ActionSpec(kind="discrete", num_actions=n)


# task -> (proprio obs size, action dim, JAX-native factory)
_DMC = {
    "cheetah_run": (17, 6, "envs.dmc_playground:make_raw"),
    "walker_walk": (24, 6, "envs.dmc_playground:make_raw"),
    "hopper_hop": (15, 4, "envs.dmc_playground:make_raw"),
    "finger_turn_hard": (12, 2, "envs.dmc_playground:make_raw"),
    "reacher_hard": (6, 2, "envs.dmc_playground:make_raw"),
    "cup_catch": (8, 2, "envs.dmc_playground:make_raw"),
    "humanoid_walk": (67, 21, "envs.dmc_playground:make_raw"),
    "quadruped_run": (78, 12, "envs.mjx_ports.quadruped:make_raw"),
    "point_mass_maze": (4, 2, "envs.mjx_ports.point_mass_maze:make_raw"),
}
_DMC_HOST = "envs.dmc_host:make_single_factory"
_DMC_VISION_JAX = "envs.pixels.dmc_vision:make_raw"  # the proprio task's MJX physics, drawn by a JAX ray caster
# What draws DMC vision frames on each backend (named by `python -m envs list`).
DMC_VISION_RENDERERS = {"jax": "JAX ray caster (envs/pixels)", "host": "dm_control, MuJoCo's OpenGL renderer (MUJOCO_GL)"}

_METAWORLD = ("assembly", "basketball", "button-press", "lever-pull", "peg-insert-side", "pick-place", "soccer", "window-open")
_METAWORLD_OBS = 39
_METAWORLD_HOST = "envs.metaworld_host:make_single_factory"

# game -> (channels, minimal action set size)
_MINATAR = {
    "asterix": (4, 5),
    "breakout": (4, 3),
    "freeway": (7, 3),
    "seaquest": (10, 6),
    "space_invaders": (6, 4),
}
_MINATAR_JAX = "envs.minatar_jax:make_raw"
_MINATAR_HOST = "envs.minatar_host:make_single_factory"


def _spec(name: str, suite: str, obs_shape, obs_dtype, action: ActionSpec) -> EnvSpec:
    settings = SUITES[suite]
    return EnvSpec(
        name=name,
        obs_shape=obs_shape,
        obs_dtype=obs_dtype,
        action=action,
        episode_length=settings.episode_length,
        action_repeat=settings.action_repeat,
    )


def _build() -> dict[str, TaskEntry]:
    entries: list[TaskEntry] = []
    for task, (obs_dim, act_dim, jax_factory) in _DMC.items():
        size = SUITES["dmc"].image_size
        for kind, shape, dtype in (("proprio", (obs_dim,), "float32"), ("vision", (size, size, 3), "uint8")):
            name = f"dmc/{task}-{kind}"
            factories = {"host": _DMC_HOST, "jax": jax_factory if kind == "proprio" else _DMC_VISION_JAX}
            spec = _spec(name, "dmc", shape, dtype, _continuous(act_dim))
            if task == "point_mass_maze" and kind == "vision":  # proprio: the position is obs[:2]
                spec = spec.replace(recorded_info=MAZE_POSITION)
            entries.append(TaskEntry(name, "dmc", task, kind, spec, factories))
    for task in _METAWORLD:
        name = f"metaworld/{task}"
        spec = _spec(name, "metaworld", (_METAWORLD_OBS,), "float32", _continuous(4))
        entries.append(TaskEntry(name, "metaworld", task, "proprio", spec, {"host": _METAWORLD_HOST}))
    for game, (channels, num_actions) in _MINATAR.items():
        name = f"minatar/{game}"
        size = SUITES["minatar"].image_size
        spec = _spec(name, "minatar", (size, size, channels), "uint8", _discrete(num_actions))
        entries.append(TaskEntry(name, "minatar", game, "vision", spec, {"jax": _MINATAR_JAX, "host": _MINATAR_HOST}))
    # Not a paper task: a seconds-to-learn sanity check for the engine (see envs/debug_reach.py).
    name = "debug/point_reach"
    spec = _spec(name, "debug", (2,), "float32", _continuous(2))
    entries.append(TaskEntry(name, "debug", "point_reach", "proprio", spec, {"jax": "envs.debug_reach:make_raw"}))
    return {e.name: e for e in entries}


TASKS: dict[str, TaskEntry] = _build()
ENV_MODULES_VARIABLE = "OFFON_JIT_ENV_MODULES"
_env_modules: dict[str, str] = {}  # module named in ENV_MODULES_VARIABLE -> "" once imported, else its error


def import_env_modules() -> None:
    """Import the modules ENV_MODULES_VARIABLE names that were not imported yet (they register tasks).

    A module that fails to import is reported once as a warning and named in unknown-task errors:
    the built-in tasks stay usable.
    """
    for module in (m.strip() for m in os.environ.get(ENV_MODULES_VARIABLE, "").split(",")):
        if not module or module in _env_modules:
            continue
        _env_modules[module] = ""  # first: a module that looks tasks up while importing is not imported again
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 -- any failure of user code is reported the same way
            failure = f"{type(error).__name__}: {error}"
            _env_modules[module] = f"importing {module!r} ({ENV_MODULES_VARIABLE}) failed: {failure}"
            warnings.warn(_env_modules[module] + "; its tasks are not registered", stacklevel=2)


def task_names() -> list[str]:
    import_env_modules()
    return sorted(TASKS)


def paper_task_names() -> list[str]:
    """The paper's 31 tasks (the registry also holds `debug/` tasks for smoke runs)."""
    return sorted(name for name, entry in TASKS.items() if entry.suite in PAPER_SUITES)


def get_task(name: str) -> TaskEntry:
    import_env_modules()
    if name in TASKS:
        return TASKS[name]
    close = [n for n in TASKS if name.split("/")[-1].split("-")[0] in n]
    hint = f" Did you mean one of {close}?" if close else ""
    failed = "".join(f" ({error})" for error in _env_modules.values() if error)
    raise KeyError(f"unknown task {name!r}.{hint}{failed} Known tasks: {', '.join(task_names())}")
