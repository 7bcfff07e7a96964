"""`envs.make`: task name -> a ready environment with the paper's standard settings."""

from __future__ import annotations

from envs import wrappers
from envs.core import JaxEnv
from envs.host import BatchedHostEnv
from envs.registry import BACKENDS, TASKS, TaskEntry, get_task
from envs.spec import EnvSpec


def resolve_backend(entry: TaskEntry, backend: str) -> str:
    """`auto` picks the JAX-native backend wherever a task has one, so a whole study stays one
    jitted program; for DMC vision that is MJX physics drawn by the JAX ray caster (envs/pixels),
    whose frames differ from dm_control's in shading only (benchmarks/pixel_fidelity.py).
    `host` keeps dm_control's own OpenGL frames."""
    if backend == "auto":
        return "jax" if "jax" in entry.factories else "host"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of 'auto', {', '.join(map(repr, BACKENDS))}")
    if backend not in entry.factories:
        alternatives = [f"{entry.name} with backend={b!r}" for b in entry.backends]
        twin = entry.name.replace("-vision", "-proprio")
        if backend == "jax" and twin != entry.name and twin in TASKS and "jax" in TASKS[twin].factories:
            alternatives.append(f"{twin} with backend='jax'")
        raise ValueError(
            f"task {entry.name!r} has no {backend!r} backend "
            f"(available: {', '.join(entry.backends)}). Alternatives: {'; '.join(alternatives)}"
        )
    return backend


def task_spec(name: str, *, frame_size: int | None = None) -> EnvSpec:
    """The spec `make(name, frame_size=...)` produces (the registry's, with MinAtar frames resized)."""
    entry = get_task(name)
    if frame_size is None:
        return entry.spec
    if entry.suite != "minatar":
        raise ValueError(f"frame_size only applies to MinAtar tasks, not {name!r}")
    if isinstance(frame_size, bool) or not isinstance(frame_size, int) or frame_size < 1:
        raise ValueError(f"frame_size must be a positive int, got {frame_size!r}")
    return entry.spec.replace(obs_shape=(frame_size, frame_size) + entry.spec.obs_shape[2:])


def make(
    name: str,
    backend: str = "auto",
    num_envs: int | None = None,
    *,
    sticky_prob: float | None = None,
    episode_length: int | None = None,
    frame_size: int | None = None,
    auto_reset: bool = True,
    reset_axis_name: str | None = None,
):
    """Build task `name` on `backend` ("auto" picks the JAX-native one where it exists).

    JAX backend: returns a `JaxEnv`; a single env unless `num_envs` is given, in
    which case `reset(key)` and `step` work on a leading batch axis.
    Host backend: returns a `BatchedHostEnv` with `num_envs` (default 1) copies.
    `sticky_prob` overrides MinAtar's sticky-action probability (0 disables).
    `episode_length` overrides the suite's time limit (agent steps), e.g. for smoke runs.
    `frame_size` overrides the side of MinAtar's square frames (32; 10 is the games' own grid).
    `reset_axis_name`: the batched env always runs inside a `vmap` with this axis name
    (see `wrappers.batched`), which keeps its auto-reset a branch rather than a select.
    """
    entry = get_task(name)
    backend = resolve_backend(entry, backend)
    settings = entry.settings
    if sticky_prob is not None and entry.suite != "minatar":
        raise ValueError(f"sticky_prob only applies to MinAtar tasks, not {name!r}")
    sticky = settings.sticky_prob if sticky_prob is None else sticky_prob
    limit = settings.episode_length if episode_length is None else episode_length
    expected = task_spec(name, frame_size=frame_size).replace(episode_length=limit)
    frames = {"frame_size": frame_size} if entry.suite == "minatar" else {}
    options = {"sticky_prob": sticky, **frames} if frames else {}

    if backend == "host":
        make_single, raw_spec = entry.factory("host")(entry, **options)
        env = BatchedHostEnv(make_single, raw_spec, num_envs or 1, settings.action_repeat, limit)
        _check_spec(entry.name, expected, env.spec)
        return env

    env: JaxEnv = entry.factory("jax")(entry, **frames)
    if sticky > 0:
        env = wrappers.sticky_actions(env, sticky)
    env = wrappers.action_repeat(env, settings.action_repeat)
    env = wrappers.time_limit(env, limit)
    _check_spec(entry.name, expected, env.spec)
    if num_envs is not None:  # batch-level auto-reset: resets run only when some env finished
        return wrappers.batched(env, num_envs, auto_reset=auto_reset, reset_axis_name=reset_axis_name)
    return wrappers.auto_reset(env) if auto_reset else env


def _check_spec(name: str, expected, spec) -> None:
    if expected.describe() != spec.describe():
        raise RuntimeError(f"backend for {name} produced spec {spec.describe()}, registry says {expected.describe()}")
