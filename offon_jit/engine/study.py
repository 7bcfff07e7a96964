"""Run a study: the Active (+ lock-step followers), then every offline variant, all runs in one program.

Phases (see `plan_phases` and engine/variants.py) run one jitted chunk per eval interval;
between chunks the Python loop evaluates, logs, checkpoints and updates the progress
bar. Each phase's run axis is its hyperparameter values x expl weights x seeds
(engine/runs.py); one tag names a base run's files: seedN, or explW_seedN when
exploration weights are swept. Run directory layout:

    config.json               resolved RunConfig
    metrics.jsonl / .csv      one row per eval point and run (agent, label, seed, values)
    tensorboard/              event files
    batch_indices/TAG/active_chunkCCCCC.npy   (updates, batch, 2) sampled windows
    buffers/active_TAG.npz    the Active agents' final replay buffers
    agents/active_TAG_wm.msgpack   their final world models (the frozen-WM control)
    traces/VARIANT_TAG.npz    one final test episode per run, step by step (Fig. S3/S4)
    checkpoints/              orbax, the two most recent chunk boundaries
    plots/*.png, summary.json

Runs are sharded over devices (`placement.py`). With several processes
(`jax.distributed`), process p writes the metrics of the runs it holds into
process{p}/ (metrics, tensorboard); per-run files (buffers, batch indices, traces) go to
the shared folders above, checkpoints are written jointly by orbax, and process 0 merges
every process's metrics into the top-level files, summary and plots at the end.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from functools import partial

import jax
import numpy as np

import envs
from offon_jit.checkpoint import CheckpointStore
from offon_jit.config import ConfigError, RunConfig
from offon_jit.dreamer import agent as agent_lib
from flax import serialization

from offon_jit.engine import chunks, evaluate, interaction, multihost
from offon_jit.engine.offline_data import variant_buffers
from offon_jit.engine.placement import SEEDS_AXIS, RunPlacement, make_placement
from offon_jit.engine.progress import Progress
from offon_jit.engine.run_state import AgentRun, new_run
from offon_jit.engine.runs import RunId, base_runs, expl_array, hparam_array, phase_runs, run_keys, run_label
from offon_jit.engine.transitions import replay_schema
from offon_jit.engine.variants import VARIANTS, Variant
from offon_jit.metrics_log import MetricsWriter, read_rows, truncate_rows, write_rows
from offon_jit.plots import plot_run
from offon_jit.replay import buffer as replay
from offon_jit.replay import storage

class TrainingDivergedError(RuntimeError):
    """A metric or parameter became NaN/inf; the message names the agent, seed, step and metric."""


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str  # "active", or the offline variant trained in this phase
    agents: tuple[str, ...]  # variants trained (and evaluated) in this phase: the Active and its followers
    runs: tuple[RunId, ...] = ()  # the phase's run axis

    @property
    def variant(self) -> Variant:
        return VARIANTS[self.agents[0]]


def plan_phases(config: RunConfig) -> list[Phase]:
    """The Active with its lock-step followers first, then one phase per offline variant."""
    phases = []
    with_active = "active" in config.agents
    if with_active:
        followers = tuple(a for a in config.agents if VARIANTS[a].role == "lockstep")
        phases.append(Phase("active", ("active", *followers), tuple(base_runs(config))))
    for name in config.agents:
        variant = VARIANTS[name]
        if variant.role == "offline" or (variant.role == "lockstep" and not with_active):
            phases.append(Phase(name, (name,), tuple(phase_runs(config, variant))))
    return phases


class Study:
    """Static pieces of a study (envs, model configs, jitted functions) plus the run loop."""

    def __init__(self, config: RunConfig, progress: bool = True, devices: int = 0):
        self.config = config
        self.run_dir = config.run_dir
        self.devices = devices
        self.phases = plan_phases(config)
        self.base = base_runs(config)
        self._placements = {}
        for phase in self.phases:  # validates the device count against every phase's runs up front
            self.placement_for(len(phase.runs))
        self.placement = self.placement_for(len(self.base))
        self.is_main_process = jax.process_index() == 0
        self.show_progress = progress and self.is_main_process
        # Single process: everything in run_dir. Several: each writes its runs' metrics apart.
        self.output_dir = self.run_dir / f"process{jax.process_index()}" if multihost.is_multi_process() else self.run_dir
        self._make_envs()
        self.model_config = agent_lib.DreamerConfig.from_preset(config.preset, **dict(config.model_overrides))
        explores = any(w > 0 for w in config.expl_weights)
        # Only an exploring Active needs the Plan2Explore ensemble; offline agents use the task reward.
        self.active_model_config = self.model_config.replace(disag_models=config.disag_models if explores else 0)
        self.schema = replay_schema(self.spec)
        self.keys = run_keys(self.base)
        self._fns = {}
        self._buffer_cache = {}
        self._compile_fns()

    def placement_for(self, num_runs: int) -> RunPlacement:
        if num_runs not in self._placements:
            self._placements[num_runs] = make_placement(num_runs, self.devices)
        return self._placements[num_runs]

    def env_options(self) -> dict:
        cfg = self.config
        return {
            "sticky_prob": cfg.sticky_prob if cfg.sticky_prob >= 0 else None,
            "episode_length": cfg.episode_length or None,
        }

    def _make_envs(self) -> None:
        cfg = self.config
        if "jax" not in envs.get_task(cfg.task).backends or cfg.backend == "host":
            raise ConfigError(f"{cfg.task} with backend {cfg.backend!r} runs through HostStudy, not the jitted Study")
        # The training envs always step inside the per-run vmap: reset decisions reduce over it.
        self.env = envs.make(cfg.task, "jax", cfg.num_envs, reset_axis_name=SEEDS_AXIS, **self.env_options())
        self.eval_env = envs.make(cfg.task, "jax", auto_reset=False, **self.env_options())
        self.spec = self.env.spec

    # -- jitted, run-vmapped functions ------------------------------------------------
    def _compile_fns(self):
        """The base-run functions (Active phase); other phases build theirs in `phase_fns`."""
        cfg = self.config
        per_run = self.placement.map
        self.init_active = per_run(self._init_active)
        self.active_chunk = per_run(partial(chunks.active_chunk, config=cfg, env=self.env))
        self.offline_chunk = per_run(partial(chunks.offline_chunk, config=cfg))  # plain Passive (benchmarks)
        self.evaluate = per_run(self._evaluate_fn())

    def _evaluate_fn(self):
        cfg = self.config
        return partial(evaluate.evaluate, env=self.eval_env, episodes=cfg.eval_episodes, batch_size=cfg.batch_size,
                       seq_len=cfg.seq_len)

    def phase_fns(self, phase: Phase) -> dict:
        if phase.name in self._fns:
            return self._fns[phase.name]
        cfg, placement = self.config, self.placement_for(len(phase.runs))
        variant = phase.variant
        fns = {"evaluate": self.evaluate if placement is self.placement else placement.map(self._evaluate_fn())}
        if self.eval_env is not None:
            fns["trace"] = placement.map(partial(evaluate.episode_trace, env=self.eval_env))
        if phase.name == "active":
            fns["init_followers"] = {name: placement.map(partial(self._init_follower, name=name))
                                     for name in phase.agents[1:]}
        else:
            fns["init"] = placement.map(partial(self._init_offline, name=phase.name))
            fns["chunk"] = placement.map(partial(chunks.offline_chunk, config=cfg, variant=variant, env=self.env,
                                                 axis_name=SEEDS_AXIS))
            if variant.interaction == "adaptive":
                fns["arm"] = placement.map(interaction.arm)
        self._fns[phase.name] = fns
        return fns

    def _new_agent(self, key, variant: Variant, model_config, expl_weight=0.0):
        init_key = jax.random.fold_in(key, variant.salt)
        return init_key, agent_lib.init_agent(init_key, self.spec, model_config, expl_weight=expl_weight)

    def _init_active(self, key, expl_weight) -> AgentRun:
        run = self.fresh_active(key, expl_weight)
        return chunks.prefill(run, self.env, self.config.prefill // self.config.num_envs)

    def fresh_active(self, key, expl_weight) -> AgentRun:
        """An Active run before its prefill: agent, empty buffer, envs reset (None for host simulators)."""
        cfg = self.config
        init_key, agent = self._new_agent(key, VARIANTS["active"], self.active_model_config, expl_weight)
        env_key, run_key = jax.random.split(jax.random.fold_in(init_key, 100))
        buffer = replay.init_buffer(self.schema, cfg.capacity, cfg.num_envs)
        carry = agent_lib.initial_policy_carry(agent, cfg.num_envs)
        env_state = self.env.reset(env_key) if self.env is not None else None
        return new_run(agent, buffer, env_state, carry, run_key)

    def _init_follower(self, key, active_agent, *, name: str) -> AgentRun:
        init_key, agent = self._new_agent(key, VARIANTS[name], self.model_config)
        run = new_run(agent, None, None, None, jax.random.fold_in(init_key, 100))
        if VARIANTS[name].world_model == "active_each_step":
            run = chunks.copy_world_model(run, active_agent)
        return run

    def _init_offline(self, key, buffer, hparam, frozen_wm, *, name: str) -> AgentRun:
        variant = VARIANTS[name]
        init_key, agent = self._new_agent(key, variant, self.model_config)
        if variant.init == "alpha":
            _, active_init = self._new_agent(key, VARIANTS["active"], self.model_config)
            agent = agent_lib.mix_agents(active_init, agent, hparam)
        if frozen_wm is not None:
            agent = agent.replace(params={**agent.params, "wm": frozen_wm})
        schedule = interaction.init_schedule(variant.interaction, hparam) if variant.interaction else None
        return new_run(agent, buffer, None, None, jax.random.fold_in(init_key, 100), schedule)

    def active_source(self) -> pathlib.Path:
        """The run directory holding the Active buffers that offline phases train on."""
        return self.run_dir if "active" in self.config.agents else pathlib.Path(self.config.active_run)

    # -- phase state ------------------------------------------------------------------
    def initial_state(self, phase: Phase, buffers=None, inputs=None) -> dict:
        """Fresh runs of a phase. Offline phases load their data (the Active's saved buffers,
        split or enlarged as the variant needs) unless `buffers` (base-run axis) or the
        ready `phase_inputs` are given."""
        keys = run_keys(list(phase.runs))
        if phase.name == "active":
            active = self.init_active(keys, expl_array(list(phase.runs)))
            state = {"active": active}
            for name, init in self.phase_fns(phase)["init_followers"].items():
                state[name] = init(keys, active.agent)
            return state
        inputs = self.phase_inputs(phase, buffers) if inputs is None else inputs
        return {phase.name: self.phase_fns(phase)["init"](keys, *inputs)}

    def local_runs(self, phase: Phase) -> list[RunId]:
        return [phase.runs[i] for i in self.placement_for(len(phase.runs)).local_runs]

    def phase_inputs(self, phase: Phase, buffers=None) -> tuple:
        """(buffers, hyperparameter values, frozen world models) on the phase's run axis.

        In-memory Active `buffers` (base-run axis) are used as they are when the variant trains
        on the full buffer of its own base run, so large buffers never round-trip through the
        host; otherwise each process loads its runs' buffers from the run directory.
        """
        variant = phase.variant
        placement = self.placement_for(len(phase.runs))
        local = self.local_runs(phase)
        same_runs = buffers is not None and len(phase.runs) == len(self.base)
        if same_runs and variant.data == "full" and not variant.interaction:
            placed = buffers
        else:
            if same_runs:
                host = placement.to_local(buffers)
            else:
                host = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[self.base_buffer(run) for run in local])
            placed = placement.from_local(variant_buffers(self.config, variant, host, run_keys(local)))
        frozen = None
        if variant.world_model == "active_final":
            frozen = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[self.final_world_model(r) for r in local])
        dtype = np.int32 if variant.hparam == "fixed_intervals" else np.float32
        return (placed, *placement.from_local((hparam_array(local, dtype), frozen)))

    def run_chunk(self, phase: Phase, state: dict, chunk: int) -> tuple[dict, dict]:
        if phase.name == "active":
            followers = {name: state[name] for name in phase.agents[1:]}
            active, followers, out = self.active_chunk(state["active"], followers)
            return {"active": active, **followers}, out
        fns, name = self.phase_fns(phase), phase.name
        if phase.variant.batches == "replay":
            run, metrics = fns["chunk"](state[name], self.replay_indices(phase, state[name], chunk))
        else:
            run, metrics = fns["chunk"](state[name])
        return {name: run}, {name: metrics}

    def replay_indices(self, phase: Phase, run: AgentRun, chunk: int):
        placement = self.placement_for(len(phase.runs))
        indices = self.logged_indices(chunk, self.local_runs(phase))
        counters = placement.to_local(run.buffer.replace(data={}))
        for i in range(len(indices)):  # a wrapped buffer would silently give other batches
            one = jax.tree_util.tree_map(lambda x: x[i], counters)
            replay.assert_indices_replayable(one, indices[i], self.config.seq_len)
        return placement.from_local(indices)

    # -- data from the Active runs ------------------------------------------------------------
    def base_buffer(self, run: RunId):
        """One Active run's final buffer (numpy), read once from the run directory."""
        tag = run.tag(self.config)
        if tag not in self._buffer_cache:
            path = self.active_source() / "buffers" / f"active_{tag}.npz"
            if not path.exists():
                raise FileNotFoundError(f"no Active buffer for {tag}: expected {path}")
            buffer = storage.load_buffer(path, expected_schema=self.schema)
            self._buffer_cache[tag] = jax.tree_util.tree_map(np.asarray, buffer)
        return self._buffer_cache[tag]

    def final_world_model(self, run: RunId):
        path = self.active_source() / "agents" / f"active_{run.tag(self.config)}_wm.msgpack"
        if not path.exists():
            raise FileNotFoundError(f"passive_frozen_wm needs the Active's final world model: expected {path}")
        try:
            return serialization.msgpack_restore(path.read_bytes())
        except Exception as error:  # msgpack raises several types on corrupt input
            raise ValueError(f"{path} is not a readable world-model file: {error}") from error

    def logged_indices(self, chunk: int, runs: list[RunId]) -> np.ndarray:
        """(runs, updates, batch, 2): the Active's logged windows for these runs."""
        source = self.active_source()
        expected = (self.config.updates_per_chunk, self.config.batch_size, 2)
        logs = []
        for run in runs:
            path = indices_path(source, run.tag(self.config), chunk)
            if not path.exists():
                raise FileNotFoundError(f"Tandem replay needs the Active batch-index log {path}")
            indices = np.load(path)
            if indices.shape != expected:
                raise ValueError(f"{path}: indices of shape {indices.shape}, this config needs {expected}")
            logs.append(indices)
        return np.stack(logs)

    # -- the loop -----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict:
        cfg = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.is_main_process:
            _write_or_check_config(cfg, self.run_dir, resume)
        store = CheckpointStore(self.run_dir) if cfg.checkpoint_every else None
        start_phase, start_chunk, restored = 0, 0, None
        if resume:
            start_phase, start_chunk, restored = self._restore(store)
        elif (self.output_dir / "metrics.jsonl").exists():
            raise ConfigError(f"{self.run_dir} already holds a run; pass --resume to continue it or choose another out_dir")
        writer = MetricsWriter(self.output_dir)
        progress = Progress(len(self.phases) * cfg.num_chunks, cfg.eval_interval * len(self.base),
                            enabled=self.show_progress)
        progress.skip(start_phase * cfg.num_chunks + start_chunk)
        timings = {}
        self.final_states = {}
        active_buffers = None  # the in-memory Active buffers (base-run axis) once the Active phase ran
        wall_start = time.perf_counter()
        try:
            for phase_index, phase in enumerate(self.phases):
                if phase_index < start_phase:
                    continue
                if restored is not None and phase_index == start_phase:
                    state = restored
                else:
                    state = self.initial_state(phase, active_buffers)
                    start_chunk = 0
                phase_start = time.perf_counter()
                for chunk in range(start_chunk, cfg.num_chunks):
                    state, out = self.run_chunk(phase, state, chunk)
                    rows, state = self._evaluate(phase, state, out, chunk)
                    _check_finite(rows)
                    writer.write(rows)
                    if phase.name == "active":
                        self._save_indices(chunk, out["indices"])
                    if store and ((chunk + 1) % cfg.checkpoint_every == 0 or chunk + 1 == cfg.num_chunks):
                        meta = {"phase": phase_index, "chunk": chunk + 1, "config": json.loads(cfg.to_json())}
                        store.save(phase_index * (cfg.num_chunks + 1) + chunk + 1, state, meta)
                    progress.update(phase.name, rows)
                restored = None
                timings[phase.name] = time.perf_counter() - phase_start
                self.final_states[phase.name] = state
                if phase.name == "active":
                    active_buffers = state["active"].buffer
                    self._save_active(state["active"])
                if cfg.record_traces:
                    self._save_traces(phase, state)
        finally:
            progress.close()
            writer.close()
            if store:
                store.close()
        wall = time.perf_counter() - wall_start
        return self._finish(wall, timings)

    def _finish(self, wall: float, timings: dict) -> dict:
        """Summary and plots; with several processes, process 0 first merges every process's metrics."""
        if multihost.is_multi_process():
            multihost.barrier("offon_jit_study_done")
            rows = multihost.merged_rows(self.run_dir)
            if self.is_main_process:
                write_rows(self.run_dir, rows)
        else:
            rows = read_rows(self.run_dir)
        summary = _summary(self.config, rows, wall, timings, sum(len(p.runs) for p in self.phases))
        summary["placement"] = self.placement.describe()
        if self.is_main_process:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            plot_run(self.run_dir)
        return summary

    def evaluate_agents(self, agents, buffer, keys, chunk: int, phase: Phase | None = None) -> dict:
        fns = self.phase_fns(phase) if phase is not None else {"evaluate": self.evaluate}
        return fns["evaluate"](agents, buffer, keys)

    def _evaluate(self, phase: Phase, state: dict, out: dict, chunk: int) -> tuple[list[dict], dict]:
        """Rows of every run of the phase at this eval point, and the state with adaptive
        schedules armed from the OOD ratios just measured."""
        cfg = self.config
        rows = []
        placement = self.placement_for(len(phase.runs))
        local = placement.to_local
        runs = self.local_runs(phase)
        run_key_array = run_keys(list(phase.runs))
        eval_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 7919), chunk))(run_key_array)
        for agent in phase.agents:
            variant = VARIANTS[agent]
            run = state[agent]
            buffer = run.buffer if run.buffer is not None else state["active"].buffer
            keys = np.asarray(jax.vmap(jax.random.fold_in, in_axes=(0, None))(eval_keys, variant.salt))
            metrics = self.evaluate_agents(run.agent, buffer, keys, chunk, phase)
            if variant.interaction == "adaptive":
                run = state[agent] = self.phase_fns(phase)["arm"](run, metrics["ood_ratio"])
            metrics, train = local(metrics), local(out[agent])
            env_steps, train_steps = local((run.env_steps, run.train_steps))
            added = local(run.schedule.added) if run.schedule is not None else None
            for i, run_id in enumerate(runs):
                row = {"agent": agent, "label": run_label(cfg, variant, run_id), "seed": run_id.seed,
                       "expl_weight": run_id.expl_weight, "env_steps": int(env_steps[i]),
                       "train_steps": int(train_steps[i])}
                if variant.hparam:
                    row.update(hparam=variant.hparam_name, hparam_value=run_id.hparam_value)
                if added is not None:
                    row["self_generated_steps"] = int(added[i])
                    row["self_generated_pct"] = 100.0 * int(added[i]) / cfg.total_steps_stored
                row.update({k: float(v[i]) for k, v in metrics.items()})
                row.update({f"train_{k}": float(v[i]) for k, v in train.items()})
                rows.append(row)
        return rows, state

    def _save_indices(self, chunk: int, indices) -> None:
        runs = [self.base[i] for i in self.placement.local_runs]
        for run, run_indices in zip(runs, self.placement.to_local(indices)):
            path = indices_path(self.run_dir, run.tag(self.config), chunk)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, np.asarray(run_indices, np.int32))
            tmp.replace(path)

    def _save_active(self, active: AgentRun) -> None:
        """The Active's final buffers (offline agents' data) and world models (the frozen-WM control)."""
        buffers, agents = self.run_dir / "buffers", self.run_dir / "agents"
        buffers.mkdir(exist_ok=True)
        agents.mkdir(exist_ok=True)
        local_buffers, local_wm = self.placement.to_local((active.buffer, active.agent.params["wm"]))
        for i, run in enumerate(self.base[j] for j in self.placement.local_runs):
            tag = run.tag(self.config)
            one = jax.tree_util.tree_map(lambda x: x[i], local_buffers)
            storage.save_buffer(one, buffers / f"active_{tag}.npz", overwrite=True)
            wm = jax.tree_util.tree_map(lambda x: x[i], local_wm)
            _atomic_write(agents / f"active_{tag}_wm.msgpack", serialization.msgpack_serialize(wm))

    def _save_traces(self, phase: Phase, state: dict) -> None:
        """One final test episode per run (Fig. S3/S4 data) as traces/<label>_<tag>.npz."""
        fns = self.phase_fns(phase)
        if "trace" not in fns:
            return
        placement = self.placement_for(len(phase.runs))
        folder = self.run_dir / "traces"
        folder.mkdir(exist_ok=True)
        keys = np.asarray(jax.vmap(lambda k: jax.random.fold_in(k, 4242))(run_keys(list(phase.runs))))
        for agent in phase.agents:
            traces = placement.to_local(fns["trace"](state[agent].agent, keys))
            for i, run in enumerate(self.local_runs(phase)):
                name = trace_name(self.config, VARIANTS[agent], run)
                np.savez_compressed(folder / f"{name}.npz", **{k: v[i] for k, v in traces.items()})

    def _restore(self, store: CheckpointStore | None):
        if store is None or store.latest_step() is None:
            raise ConfigError(f"--resume: no checkpoint in {self.run_dir / 'checkpoints'}")
        step = store.latest_step()
        meta = store.read_meta(step)
        phase_index, chunk = meta["phase"], meta["chunk"]
        phase = self.phases[phase_index]
        inputs = None if phase.name == "active" else self.phase_inputs(phase)
        placement = self.placement_for(len(phase.runs))
        like = placement.abstract(jax.eval_shape(lambda: self.initial_state(phase, inputs=inputs)))
        state, _ = store.restore(step, like)
        later = {a for p in self.phases[phase_index + 1:] for a in p.agents}
        truncate_rows(self.output_dir, chunk * self.config.eval_interval, set(phase.agents), later)
        return phase_index, chunk, state


def indices_path(run_dir: pathlib.Path, tag: str, chunk: int) -> pathlib.Path:
    return pathlib.Path(run_dir) / "batch_indices" / tag / f"active_chunk{chunk:05d}.npy"


def trace_name(config: RunConfig, variant: Variant, run: RunId) -> str:
    value = f"_{variant.hparam_name}{run.hparam_value:g}" if variant.hparam else ""
    return f"{variant.name}{value}_{run.tag(config)}"


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _write_or_check_config(config: RunConfig, run_dir: pathlib.Path, resume: bool) -> None:
    path = run_dir / "config.json"
    if resume and path.exists():
        saved = RunConfig.from_json(path.read_text())
        if saved.replace(out_dir=config.out_dir) != config:
            raise ConfigError(f"--resume with a config different from the saved {path}")
        return
    path.write_text(config.to_json())


def _check_finite(rows: list[dict]) -> None:
    """Raise on NaN/inf in any process's rows (every process stops, so none waits on the others)."""
    problem = next(
        (f"{row['agent']} agent, seed {row['seed']}: {key} = {value} at env step {row['env_steps']} "
         f"(train step {row['train_steps']}); the last good checkpoint is kept, metrics up to the "
         "previous eval point are saved"
         for row in rows for key, value in row.items() if isinstance(value, float) and not np.isfinite(value)),
        None,
    )
    if multihost.is_multi_process():
        flagged = multihost.processes_flagging(problem is not None)
        if problem is None and flagged:
            problem = f"a run held by process {flagged[0]} diverged; that process's error names the metric"
    if problem:
        raise TrainingDivergedError(problem)


def _summary(config: RunConfig, rows: list[dict], wall: float, timings: dict, num_runs: int) -> dict:
    """Final means per curve label (variant plus swept value) and the study's throughput."""
    final = {}
    for label in dict.fromkeys(r.get("label", r["agent"]) for r in rows):
        last = [r for r in rows if r.get("label", r["agent"]) == label and r["env_steps"] == config.env_steps]
        if last:
            final[label] = {key + "_mean": float(np.mean([r[key] for r in last]))
                            for key in ("score", "eval_wm_loss", "value_error", "self_generated_pct") if key in last[0]}
    steps = config.env_steps * num_runs
    return {"wall_time_s": wall, "phase_time_s": timings, "env_steps_all_agents_and_seeds": steps,
            "env_steps_per_s": steps / wall if wall else None, "final": final}
