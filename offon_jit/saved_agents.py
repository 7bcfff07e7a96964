"""Saved agents: every phase's final agent, kept so it can be rebuilt, evaluated and filmed after training.

Two files per run in the run directory's agents/ folder (paths from `RunLayout`):
    STEM.msgpack   the parameters (flax msgpack; the frozen-WM control reads the Active's world model here)
    STEM.json      the manifest: which agent, seed and swept value this is, its family (algo) and
                   resolved model config (DreamerConfig
                   (the precision default depends on the backend, so the value the run used is kept),
                   the env spec, and the agent's state besides its parameters (return normalisers,
                   exploration weight and decay, disagreement level, update count)
Optimiser states are left out (twice the parameters' size, and needed only to continue training):
a loaded agent acts and evaluates; its optimiser state is empty. The manifest is written after the
parameters and records their sha256, so a manifest always describes the parameters beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from typing import NamedTuple

import jax
import numpy as np
from flax import serialization

from envs.spec import ActionSpec, EnvSpec
from offon_jit.atomic import atomic_write
from offon_jit.agents.api import init_agent
from offon_jit.agents.family import DEFAULT_ALGO, family_named, family_of
from offon_jit.config import RunConfig
from offon_jit.engine.runs import RunId, run_file_name, run_label
from offon_jit.engine.variants import VARIANTS
from offon_jit.layout import RunLayout

MANIFEST_FORMAT = 1
# AgentState fields kept in the params file or not at all; every other field goes into the manifest.
NOT_IN_MANIFEST = ("params", "opt_states", "opt_state")  # DreamerV3's optimiser states, a model-free family's


class SavedAgentError(ValueError):
    """A saved agent that cannot be found or rebuilt; the message names the file and the problem."""


class LoadedAgent(NamedTuple):
    agent: object  # the family's AgentState of one run (no run axis), empty optimiser state
    model_config: object  # the family's config
    spec: EnvSpec
    manifest: dict


def manifest_path(layout: RunLayout, stem: str) -> pathlib.Path:
    """agents/STEM.json, beside the parameters file."""
    return layout.agent_manifest(stem)


def agents_dir(layout: RunLayout) -> pathlib.Path:
    return layout.agents


# -- writing ----------------------------------------------------------------------------------------
def spec_to_json(spec: EnvSpec) -> dict:
    return {**dataclasses.asdict(spec), "obs_dtype": spec.obs_dtype.name}


def spec_from_json(raw: dict) -> EnvSpec:
    action = {**raw["action"], "shape": tuple(raw["action"]["shape"])}
    return EnvSpec(**{**raw, "obs_shape": tuple(raw["obs_shape"]), "action": ActionSpec(**action),
                      "recorded_info": tuple(tuple(kv) for kv in raw["recorded_info"])})


def without_optimizer_state(agent_state):
    """The agent with an empty optimiser state (DreamerV3's `opt_states`, a model-free family's `opt_state`)."""
    return agent_state.replace(**{name: {} for name in NOT_IN_MANIFEST[1:] if hasattr(agent_state, name)})


def _without_params(agent_state):
    return without_optimizer_state(agent_state).replace(params={})


def _state_to_json(agent_state) -> dict:
    """The agent's non-parameter leaves as nested lists (float32 round-trips exactly through JSON)."""
    state = serialization.to_state_dict(_without_params(agent_state))
    state = {k: v for k, v in state.items() if k not in NOT_IN_MANIFEST}
    return jax.tree_util.tree_map(lambda x: np.asarray(x).tolist(), state)


def write_agent(layout: RunLayout, config: RunConfig, agent: str, run: RunId, agent_state) -> pathlib.Path:
    """Save one run's final agent (no run axis): the parameters, then the manifest. Returns the manifest's path."""
    from offon_jit.engine.programs import uses_host_simulator  # lazy: programs imports the env backends

    variant = VARIANTS[agent]
    stem = run_file_name(config, variant, run)
    params = serialization.msgpack_serialize(jax.tree_util.tree_map(np.asarray, agent_state.params))
    atomic_write(layout.agent(stem), params)
    tag = run.tag(config)
    manifest = {
        "format": MANIFEST_FORMAT,
        "stem": stem,
        "name": stem[: -len(tag) - 1],  # the stem without its base-run tag: the variant and swept value
        "agent": agent,
        "label": run_label(config, variant, run),
        "run": dataclasses.asdict(run),
        "task": config.task,
        "backend": "host" if uses_host_simulator(config) else "jax",
        "env_steps": config.env_steps,
        "train_steps": int(np.asarray(agent_state.step)),
        "hparam": variant.hparam_name if variant.hparam else None,
        "params_file": layout.agent(stem).name,
        "params_sha256": hashlib.sha256(params).hexdigest(),
        "algo": family_of(agent_state).name,
        "model_config": dataclasses.asdict(agent_state.config),
        "spec": spec_to_json(agent_state.spec),
        "state": _state_to_json(agent_state),
    }
    return atomic_write(manifest_path(layout, stem), json.dumps(manifest, indent=2))


# -- finding --------------------------------------------------------------------------------------
def _order(manifest: dict) -> tuple:
    run = manifest["run"]
    return manifest["agent"], run["hparam_value"] or 0, run["expl_weight"], run["seed"]


def saved_manifests(layout: RunLayout) -> list[dict]:
    """Every saved agent's manifest (by variant, swept value, expl weight, seed); an error if the run
    saved parameters without manifests."""
    folder = agents_dir(layout)
    manifests = []
    for path in sorted(folder.glob("*.json")):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise SavedAgentError(f"{path} is not a readable agent manifest: {error}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise SavedAgentError(f"{path}: not an agent manifest of format {MANIFEST_FORMAT}")
        manifests.append(manifest)
    if not manifests and list(folder.glob("*.msgpack")):
        raise SavedAgentError(f"{layout.root} was saved before agents carried manifests ({folder} holds parameters "
                              "only), so its agents cannot be rebuilt; run the study again to evaluate them")
    return sorted(manifests, key=_order)


def _describe(manifests: list[dict]) -> str:
    seeds: dict[str, list[int]] = {}
    for m in manifests:
        seeds.setdefault(m["name"], []).append(m["run"]["seed"])
    return ", ".join(f"{name} (seeds {', '.join(map(str, sorted(set(s))))})" for name, s in seeds.items())


def find_manifest(layout: RunLayout, name: str, seed: int | None = None) -> dict:
    """The manifest of agent `name` (a variant, a variant with its swept value, or a full stem) and `seed`
    (None: the lowest seed saved); an error naming the saved agents or seeds when none or several match."""
    manifests = saved_manifests(layout)
    if not manifests:
        raise SavedAgentError(f"{layout.root} holds no saved agent yet (an agent is saved when its phase finishes)")
    matches = [m for m in manifests if name in (m["agent"], m["name"], m["stem"])]
    if not matches:
        raise SavedAgentError(f"no saved agent {name!r} in {layout.root}; saved: {_describe(manifests)} "
                              "(an agent is saved when its phase finishes)")
    seeds = sorted({m["run"]["seed"] for m in matches})
    if seed is None:
        seed = seeds[0]
    chosen = [m for m in matches if m["run"]["seed"] == seed]
    if not chosen:
        raise SavedAgentError(f"no saved {name} agent with seed {seed} in {layout.root}; "
                              f"its seeds: {', '.join(map(str, seeds))}")
    if len(chosen) > 1:
        raise SavedAgentError(f"{len(chosen)} saved agents match --agent {name} with seed {seed}: "
                              f"{', '.join(m['stem'] for m in chosen)}; pass one of these stems as --agent")
    return chosen[0]


# -- loading ----------------------------------------------------------------------------------------
def _template(spec: EnvSpec, model_config):
    """Shapes and dtypes of a fresh agent of this config (computes nothing)."""
    key = jax.ShapeDtypeStruct((2,), np.uint32)
    return without_optimizer_state(jax.eval_shape(lambda k: init_agent(k, spec, model_config), key))


def _model_config(manifest: dict):
    """The manifest's model config, rebuilt as its family's config class (JSON lists back to tuples)."""
    family = family_named(manifest.get("algo", DEFAULT_ALGO))  # manifests before --algo are DreamerV3's
    raw = manifest["model_config"]
    if not family.has_world_model:
        raw = {key: tuple(value) if isinstance(value, list) else value for key, value in raw.items()}
    return family.config_type(**raw)


def _restore(path: pathlib.Path, params: dict, state: dict, template):
    """The saved leaves in the template's structure, with its dtypes; an error naming any misfit."""
    if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(template.params):
        raise SavedAgentError(f"{path}: the saved parameters do not have the modules of the manifest's model config")
    try:
        empty = serialization.to_state_dict(template.replace(params={}))  # the emptied optimiser state, as saved
        restored = serialization.from_state_dict(template, {**empty, "params": params, **state})
        # the template's leaves prefix the restored tree: a saved list (e.g. disag_level) is one leaf here
        agent = jax.tree_util.tree_map(lambda like, x: np.asarray(x, like.dtype), template, restored)
    except (KeyError, TypeError, ValueError) as error:
        raise SavedAgentError(f"{path}: the manifest's state does not fit its model config: {error}") from None
    leaves = jax.tree_util.tree_flatten_with_path(agent)[0]
    for (where, leaf), like in zip(leaves, jax.tree_util.tree_leaves(template)):
        if leaf.shape != like.shape:
            raise SavedAgentError(f"{path}: {jax.tree_util.keystr(where)} has shape {leaf.shape}, "
                                  f"the model config gives {like.shape}")
    return jax.tree_util.tree_map(jax.numpy.asarray, agent)


def read_agent(layout: RunLayout, manifest: dict) -> LoadedAgent:
    """Rebuild the AgentState a manifest describes from it and the parameters beside it."""
    path, manifest_file = layout.agent(manifest["stem"]), manifest_path(layout, manifest["stem"])
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SavedAgentError(f"{manifest_file} names parameters {path}, which are missing") from None
    if hashlib.sha256(data).hexdigest() != manifest["params_sha256"]:
        raise SavedAgentError(f"{path} does not match its manifest (sha256 differs): the two come from different saves")
    try:
        model_config = _model_config(manifest)
        spec = spec_from_json(manifest["spec"])
    except (TypeError, ValueError) as error:
        raise SavedAgentError(f"{manifest_file}: cannot rebuild its model config or spec: {error}") from None
    try:
        params = serialization.msgpack_restore(data)
    except Exception as error:  # msgpack raises several types on corrupt input
        raise SavedAgentError(f"{path} is not a readable agent file: {error}") from None
    agent = _restore(path, params, manifest["state"], _template(spec, model_config))
    return LoadedAgent(agent, model_config, spec, manifest)


def load_agent(run_dir, name: str, seed: int | None = None) -> LoadedAgent:
    """(AgentState, model config, spec, manifest) of a run directory's saved agent `name` and `seed`."""
    layout = RunLayout(pathlib.Path(run_dir))
    return read_agent(layout, find_manifest(layout, name, seed))
