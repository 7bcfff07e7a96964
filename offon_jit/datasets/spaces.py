"""A task's observation and action spaces as Gymnasium spaces, and the check that a dataset's match.

Observations are one Box: uint8 images in [0, 255], float vectors unbounded. Actions are the
environment's own space: `Discrete(n)` (integer actions) or the `Box([-1, 1]^d)` float32
space every continuous task exposes (envs/registry.py: backends rescale to the actuators).
A dataset matches a task when the observation Box has the task's shape and dtype (a float
dtype of another width is accepted and cast), and the action space is the same Discrete(n)
or a Box of the same shape and bounds.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.spec import EnvSpec


def observation_space(spec: EnvSpec) -> gym.spaces.Box:
    dtype = spec.obs_dtype
    if dtype == np.uint8:
        return gym.spaces.Box(0, 255, spec.obs_shape, np.uint8)
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        return gym.spaces.Box(limits.min, limits.max, spec.obs_shape, dtype)
    return gym.spaces.Box(-np.inf, np.inf, spec.obs_shape, dtype)


def action_space(spec: EnvSpec) -> gym.spaces.Space:
    act = spec.action
    if act.is_discrete:
        return gym.spaces.Discrete(act.num_actions)
    return gym.spaces.Box(act.low, act.high, act.shape, np.float32)


def _describe_expected_action(spec: EnvSpec) -> str:
    act = spec.action
    if act.is_discrete:
        return f"Discrete({act.num_actions})"
    return f"Box([{act.low:g}, {act.high:g}], shape {act.shape})"


def _observation_problem(space: gym.Space, spec: EnvSpec) -> str | None:
    want = f"Box of shape {spec.obs_shape} and dtype {spec.obs_dtype}"
    if not isinstance(space, gym.spaces.Box):
        return f"observation space is {space}, task {spec.name} needs a {want}"
    if tuple(space.shape) != spec.obs_shape:
        return f"observation shape is {tuple(space.shape)}, task {spec.name} needs {spec.obs_shape}"
    dtype = np.dtype(space.dtype)
    same_kind_float = np.issubdtype(dtype, np.floating) and np.issubdtype(spec.obs_dtype, np.floating)
    if dtype != spec.obs_dtype and not same_kind_float:
        return f"observation dtype is {dtype}, task {spec.name} needs {spec.obs_dtype}"
    return None


def _action_problem(space: gym.Space, spec: EnvSpec) -> str | None:
    act = spec.action
    want = _describe_expected_action(spec)
    if act.is_discrete:
        if not isinstance(space, gym.spaces.Discrete):
            return f"action space is {space}, task {spec.name} needs {want}"
        if int(space.n) != act.num_actions or int(space.start) != 0:
            return f"action space is {space}, task {spec.name} needs {want}"
        return None
    if not isinstance(space, gym.spaces.Box) or not np.issubdtype(space.dtype, np.floating):
        return f"action space is {space}, task {spec.name} needs a float {want}"
    if tuple(space.shape) != act.shape:
        return f"action shape is {tuple(space.shape)}, task {spec.name} needs {act.shape}"
    if not (np.all(space.low == act.low) and np.all(space.high == act.high)):
        return (f"action bounds are [{np.min(space.low):g}, {np.max(space.high):g}], task {spec.name} "
                f"acts in [{act.low:g}, {act.high:g}]")
    return None


def check_spaces(obs_space: gym.Space, act_space: gym.Space, spec: EnvSpec, source: str) -> None:
    """Raise a one-line ValueError naming every way `source`'s spaces differ from the task's."""
    problems = [p for p in (_observation_problem(obs_space, spec), _action_problem(act_space, spec)) if p]
    if problems:
        raise ValueError(f"{source} does not fit task {spec.name}: " + "; ".join(problems))
