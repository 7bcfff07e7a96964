"""`envs.make`: task name -> a ready environment with the paper's standard settings."""

from __future__ import annotations

from envs import wrappers
from envs.core import JaxEnv
from envs.host import BatchedHostEnv
from envs.registry import BACKENDS, TASKS, TaskEntry, get_task


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


def make(
    name: str,
    backend: str = "auto",
    num_envs: int | None = None,
    *,
    sticky_prob: float | None = None,
    episode_length: int | None = None,
    auto_reset: bool = True,
    reset_axis_name: str | None = None,
):
    """Build task `name` on `backend` ("auto" picks the JAX-native one where it exists).

    JAX backend: returns a `JaxEnv`; a single env unless `num_envs` is given, in
    which case `reset(key)` and `step` work on a leading batch axis.
    Host backend: returns a `BatchedHostEnv` with `num_envs` (default 1) copies.
    `sticky_prob` overrides MinAtar's sticky-action probability (0 disables).
    `episode_length` overrides the suite's time limit (agent steps), e.g. for smoke runs.
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
    expected = entry.spec.replace(episode_length=limit)
    options = {"sticky_prob": sticky} if entry.suite == "minatar" else {}

    if backend == "host":
        make_single, raw_spec = entry.factory("host")(entry, **options)
        env = BatchedHostEnv(make_single, raw_spec, num_envs or 1, settings.action_repeat, limit)
        _check_spec(entry.name, expected, env.spec)
        return env

    env: JaxEnv = entry.factory("jax")(entry)
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
