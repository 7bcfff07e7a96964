"""`envs.register`: your own JAX-native or host tasks, in the same table as the paper's (envs/registry.py).

Registered names live under a suite prefix of your own; specs are given or read off the factories'
envs, and every env a factory builds later is checked against the registered spec.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

import numpy as np

from envs.registry import SUITES, TASKS, SuiteSettings, TaskEntry, get_task
from envs.spec import EnvSpec

_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def register(
    name: str,
    *,
    jax_factory: Callable | None = None,
    host_factory: Callable | None = None,
    spec: EnvSpec | None = None,
    episode_length: int | None = None,
    action_repeat: int | None = None,
    overwrite: bool = False,
) -> TaskEntry:
    """Add your own task `name` ("suite/task", under a suite of your own) and return its entry.

    Afterwards `make(name)`, `get_task(name)`, `python -m envs list` and `RunConfig(task=name)` see it.
    jax_factory: () -> a raw env following envs/core.py's protocol (a `JaxEnv`, or any object with
        `reset(key)`, `step(state, action)` and optionally `spec`): one frame per step, no time limit,
        no auto-reset (`make` adds action repeat, the time limit and auto-reset).
    host_factory: () -> one `SingleEnv` (envs/host.py), e.g. `from_gymnasium("CartPole-v1")`.
    spec: the `EnvSpec` agents see: float32 vector or uint8 HxWxC observations, discrete actions or
        continuous ones in [-1, 1]. Without it, it is read off one env from each factory (their
        `spec`: observations, actions, and episode length in frames), which must agree.
    episode_length: agent steps per episode (default: the spec's, or the env's frames // action_repeat).
    action_repeat: frames per agent step (default: the spec's, or 1).
    overwrite: replace a task registered earlier under `name` (built-in tasks cannot be replaced).
    """
    suite, task = _check_name(name)
    if name in TASKS and not overwrite:
        raise ValueError(f"task {name!r} is already registered; pass overwrite=True to replace it")
    factories = {backend: f for backend, f in (("jax", jax_factory), ("host", host_factory)) if f is not None}
    if not factories:
        raise ValueError(f"{name}: give jax_factory and/or host_factory")
    for backend, factory in factories.items():
        if not callable(factory):
            raise ValueError(f"{name}: {backend}_factory must be a function returning an env, got {factory!r}")
    for field, value in (("episode_length", episode_length), ("action_repeat", action_repeat)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}: {field} must be an int >= 1, got {value!r}")
    if spec is None:
        spec = _derived_spec(name, factories, episode_length, action_repeat)
    elif not isinstance(spec, EnvSpec):
        raise ValueError(f"{name}: spec must be an envs.EnvSpec, got {type(spec).__name__}")
    spec = spec.replace(name=name, episode_length=episode_length or spec.episode_length,
                        action_repeat=action_repeat or spec.action_repeat)
    _check_supported(spec)
    settings = SuiteSettings(action_repeat=spec.action_repeat, episode_length=spec.episode_length,
                             image_size=spec.obs_shape[0] if spec.is_image else 0)
    builders = {"jax": _build_jax, "host": _build_host}
    entry = TaskEntry(name, suite, task, "vision" if spec.is_image else "proprio", spec,
                      {backend: functools.partial(builders[backend], f) for backend, f in factories.items()}, settings)
    TASKS[name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a task added by `register` (built-in tasks stay)."""
    if not get_task(name).registered:
        raise ValueError(f"{name} is a built-in task; only tasks added by envs.register can be removed")
    del TASKS[name]


def _check_name(name) -> tuple[str, str]:
    if not isinstance(name, str) or name.count("/") != 1:
        raise ValueError(f"task name must be 'suite/task' with one '/', got {name!r}")
    suite, task = name.split("/")
    for part in (suite, task):
        if not _NAME_PART.fullmatch(part):
            raise ValueError(f"task name {name!r}: {part!r} must start with a letter or digit and hold only "
                             "letters, digits, '_', '.' and '-'")
    if suite in SUITES:
        raise ValueError(f"task name {name!r}: suite {suite!r} holds built-in tasks; use a prefix of your own, "
                         f"e.g. 'my/{task}'")
    return suite, task


def _check_supported(spec: EnvSpec) -> None:
    """Observations and actions the agents take: float32 vectors or uint8 images, actions in [-1, 1]."""
    shape, dtype = spec.obs_shape, spec.obs_dtype
    if not (len(shape) == 1 and dtype == np.float32) and not (len(shape) == 3 and dtype == np.uint8):
        raise ValueError(f"{spec.name}: observations must be a float32 vector (n,) or a uint8 HxWxC image, "
                         f"got shape {shape} {dtype.name}")
    if min(shape) < 1:
        raise ValueError(f"{spec.name}: observation shape {shape} has an empty axis")
    act = spec.action
    if not act.is_discrete and (act.low, act.high) != (-1.0, 1.0):
        raise ValueError(f"{spec.name}: continuous actions must be exposed in [-1, 1] (rescale to the simulator's "
                         f"range inside the env), got [{act.low:g}, {act.high:g}]")


def _frames(spec: EnvSpec) -> tuple:
    """What one frame of an env looks like: observation and action format."""
    return spec.obs_shape, spec.obs_dtype, spec.describe()["action"], spec.recorded_info


def _derived_spec(name: str, factories: dict, episode_length: int | None, action_repeat: int | None) -> EnvSpec:
    """The task spec read off one env from each factory (their frames must agree)."""
    repeat = action_repeat or 1
    specs = {}
    for backend, factory in factories.items():
        try:
            env = factory()
        except ValueError as error:  # e.g. the gymnasium adapter's unsupported spaces: say which task
            raise ValueError(f"{name}: {error}") from None
        specs[backend] = getattr(env, "spec", None)
        if backend == "host":
            env.close()
        if not isinstance(specs[backend], EnvSpec):
            raise ValueError(f"{name}: the {backend}_factory's env has no EnvSpec `spec` to read the task's spec "
                             "from; pass spec=")
        if specs[backend].action_repeat != 1:
            raise ValueError(f"{name}: the {backend}_factory's env repeats actions itself "
                             f"(action_repeat={specs[backend].action_repeat}); give register action_repeat instead")
    first = next(iter(specs.values()))
    if any(_frames(other) != _frames(first) for other in specs.values()):
        raise ValueError(f"{name}: the jax and host envs differ: " + "; ".join(
            f"{backend} {spec.describe()}" for backend, spec in specs.items()))
    length = episode_length or first.frames_per_episode // repeat
    if length < 1:
        raise ValueError(f"{name}: episodes of {first.frames_per_episode} frames hold no agent step at "
                         f"action_repeat {repeat}")
    return first.replace(episode_length=length, action_repeat=repeat)


def _check_frames(entry: TaskEntry, env, backend: str) -> None:
    """An env a registered factory built must still look like the registered task."""
    spec = getattr(env, "spec", None)
    if isinstance(spec, EnvSpec) and (_frames(spec) != _frames(entry.spec) or spec.action_repeat != 1):
        raise ValueError(f"{entry.name}: the {backend}_factory built an env with spec {spec.describe()}, but the task "
                         f"was registered with {entry.spec.describe()} (its frames: action_repeat 1)")


def _build_jax(factory: Callable, entry: TaskEntry):
    """`TaskEntry.factory("jax")` of a registered task: the user's raw env as a `JaxEnv`."""
    from envs.core import JaxEnv  # lazy: the registry itself needs no JAX

    env = factory()
    _check_frames(entry, env, "jax")
    return JaxEnv(spec=entry.spec.replace(action_repeat=1), reset=env.reset, step=env.step)


def _build_host(factory: Callable, entry: TaskEntry, **options):
    """`TaskEntry.factory("host")` of a registered task: (make_single, raw spec) for `BatchedHostEnv`."""
    if options:
        raise ValueError(f"{entry.name}: registered host tasks take no options, got {sorted(options)}")

    def make_single(index: int):
        del index  # copies differ only through the rng each reset receives
        env = factory()
        _check_frames(entry, env, "host")
        return env

    return make_single, entry.spec.replace(action_repeat=1)
