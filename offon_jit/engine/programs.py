"""Phase programs: every pure function one phase of a study needs, built by one stateless builder.

`build_phase(models, phase, placement, simulator)` returns a `PhaseProgram`:
  init(inputs)                      fresh state of the phase's runs ({agent: AgentRun}, run axis leading)
  abstract_state(inputs)            its shapes and dtypes, without computing it (restore target)
  collect_and_update(state, chunk, logged_indices) -> (state, outputs)   one eval interval of training
  evaluate(state, chunk) -> (state, {agent: metrics})   eval episodes, OOD ratio; arms adaptive bursts
  evaluate_initial(state) -> {agent: metrics}   the same evaluation before the first update (env step 0);
                                    a measurement only: it arms no burst (Alg. 2 checks after updates)
  trace(state) -> {agent: traces}   one final test episode per run (Figs. S3/S4)
  evaluate_agent(agents, buffer, keys, point) -> metrics   one agent's evaluation (what `evaluate` calls)
`inputs` is None for the Active phase and (buffers, hyperparameter values, frozen world models) for
an offline phase (engine/run_files.py loads them). The simulator decides how envs are stepped:
`JaxSimulator` inside the jitted programs, `HostSimulator` (engine/host_simulator.py) in Python
between jitted calls; every remedy, axis and resume works the same on both.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Callable

import jax
import numpy as np

import envs
from offon_jit.config import RunConfig
from offon_jit.engine import chunks, evaluate as evaluate_lib, initial, interaction, salts
from offon_jit.engine.phases import Phase
from offon_jit.engine.placement import SEEDS_AXIS, RunPlacement
from offon_jit.engine.runs import expl_array, run_keys
from offon_jit.engine.variants import VARIANTS


@dataclasses.dataclass(frozen=True)
class PhaseProgram:
    phase: Phase
    placement: RunPlacement
    init: Callable[[Any], dict]
    abstract_state: Callable[[Any], dict]
    collect_and_update: Callable[[dict, int, Any], tuple[dict, dict]]
    evaluate: Callable[[dict, int], tuple[dict, dict]]
    trace: Callable[[dict], dict]
    evaluate_agent: Callable
    evaluate_initial: Callable[[dict], dict]
    # The chunk's jit(shard_map(vmap)) program on JAX-native envs (None on host simulators), for
    # benchmarks to lower and time: (active, followers) for the Active phase, (run[, indices]) else.
    jitted_chunk: Callable | None = None


def env_options(config: RunConfig) -> dict:
    return {"sticky_prob": config.sticky_prob if config.sticky_prob >= 0 else None,
            "episode_length": config.episode_length or None, "frame_size": config.frame_size or None}


def uses_host_simulator(config: RunConfig) -> bool:
    """The one place that decides: host simulators for tasks without a JAX-native backend or on request."""
    return config.backend == "host" or "jax" not in envs.get_task(config.task).backends


def make_simulator(config: RunConfig, devices: int = 0):
    if uses_host_simulator(config):
        from offon_jit.engine.host_simulator import HostSimulator

        return HostSimulator(config, devices)
    return JaxSimulator(config)


def eval_point(chunk: int) -> int:
    """A phase's eval points: 0 before its first update, chunk + 1 after its chunk `chunk`."""
    return chunk + 1


def eval_keys(phase: Phase, point: int, agent: str) -> np.ndarray:
    """(runs, 2) keys of one agent's evaluation at one eval point (`eval_point`)."""
    keys = run_keys(list(phase.runs))
    fold = lambda k: jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(k, salts.EVAL), point),  # noqa: E731
                                        VARIANTS[agent].salt)
    return np.asarray(jax.vmap(fold)(keys))


def trace_keys(phase: Phase) -> np.ndarray:
    return np.asarray(jax.vmap(lambda k: jax.random.fold_in(k, salts.TRACE))(run_keys(list(phase.runs))))


def arming_signal(variant, config: RunConfig) -> str:
    """The eval metric an adaptive variant compares with its threshold."""
    return config.offline_signal if variant.arm_signal == "offline" else "ood_ratio"


def build_phase(models: initial.StudyModels, phase: Phase, placement: RunPlacement, simulator) -> PhaseProgram:
    """The phase's program; the simulator supplies collection, prefill and evaluation."""
    keys = run_keys(list(phase.runs))
    if phase.is_active:
        fresh = placement.map(partial(initial.fresh_active, models, env=simulator.train_env))
        followers = {name: placement.map(partial(initial.init_follower, models, name=name))
                     for name in phase.agents[1:]}

        def with_followers(active):
            return {"active": active, **{name: init(keys, active.agent) for name, init in followers.items()}}

        def init(_inputs=None):
            return with_followers(simulator.prefill(models, placement, fresh(keys, expl_array(list(phase.runs)))))

        def abstract_state(_inputs=None):
            return jax.eval_shape(lambda: with_followers(fresh(keys, expl_array(list(phase.runs)))))

        collect_and_update, jitted_chunk = simulator.active_chunk(models, phase, placement)
    else:
        start = placement.map(partial(initial.init_offline, models, name=phase.name))

        def init(inputs):
            return {phase.name: start(keys, *inputs)}

        def abstract_state(inputs):
            return jax.eval_shape(init, inputs)

        collect_and_update, jitted_chunk = simulator.offline_chunk(models, phase, placement)

    evaluate_agents = simulator.evaluator(models, phase, placement)
    arm = placement.map(interaction.arm)

    def measure(state: dict, point: int) -> dict:
        metrics = {}
        for agent in phase.agents:
            run = state[agent]
            buffer = run.buffer if run.buffer is not None else state["active"].buffer
            metrics[agent] = evaluate_agents(run.agent, buffer, eval_keys(phase, point, agent), point)
        return metrics

    def evaluate(state: dict, chunk: int) -> tuple[dict, dict]:
        metrics = measure(state, eval_point(chunk))
        for agent in phase.agents:
            if VARIANTS[agent].interaction == "adaptive":
                signal = arming_signal(VARIANTS[agent], models.config)
                state = {**state, agent: arm(state[agent], metrics[agent][signal])}
        return state, metrics

    def evaluate_initial(state: dict) -> dict:
        return measure(state, 0)

    record = simulator.tracer(models, phase, placement)

    def trace(state: dict) -> dict:
        return {agent: record(state[agent].agent, trace_keys(phase)) for agent in phase.agents}

    return PhaseProgram(phase, placement, init, abstract_state, collect_and_update, evaluate, trace, evaluate_agents,
                        evaluate_initial, jitted_chunk)


class JaxSimulator:
    """JAX-native envs: collection, bursts and evaluation all run inside the jitted programs."""

    def __init__(self, config: RunConfig):
        if "jax" not in envs.get_task(config.task).backends:
            raise ValueError(f"{config.task} has no JAX-native backend")
        self.config = config
        # The training envs always step inside the per-run vmap: reset decisions reduce over it.
        self.train_env = envs.make(config.task, "jax", config.num_envs, reset_axis_name=SEEDS_AXIS,
                                   **env_options(config))
        self.eval_env = envs.make(config.task, "jax", auto_reset=False, **env_options(config))
        self.spec = self.train_env.spec

    def prefill(self, models, placement: RunPlacement, active):
        cfg = self.config
        return placement.map(partial(chunks.prefill, env=self.train_env, iterations=cfg.prefill // cfg.num_envs))(active)

    def active_chunk(self, models, phase: Phase, placement: RunPlacement):
        step = placement.map(partial(chunks.active_chunk, config=self.config, env=self.train_env))

        def collect_and_update(state, chunk, logged_indices=None):
            followers = {name: state[name] for name in phase.agents[1:]}
            active, followers, out = step(state["active"], followers)
            return {"active": active, **followers}, out

        return collect_and_update, step

    def offline_chunk(self, models, phase: Phase, placement: RunPlacement):
        step = placement.map(partial(chunks.offline_chunk, config=self.config, variant=phase.variant,
                                     env=self.train_env, axis_name=SEEDS_AXIS))

        def collect_and_update(state, chunk, logged_indices=None):
            args = () if logged_indices is None else (logged_indices,)
            run, metrics = step(state[phase.name], *args)
            return {phase.name: run}, {phase.name: metrics}

        return collect_and_update, step

    def evaluator(self, models, phase: Phase, placement: RunPlacement):
        cfg = self.config
        mapped = placement.map(partial(evaluate_lib.evaluate, env=self.eval_env, episodes=cfg.eval_episodes,
                                       batch_size=cfg.batch_size, seq_len=cfg.seq_len, eval_policy=cfg.eval_policy))
        return lambda agents, buffer, keys, point: mapped(agents, buffer, keys)

    def tracer(self, models, phase: Phase, placement: RunPlacement):
        return placement.map(partial(evaluate_lib.episode_trace, env=self.eval_env,
                                     eval_policy=self.config.eval_policy))

    def close(self) -> None:
        pass
