"""Run a study: Active (+ lock-step Tandem), then Passive, every seed in one program.

Phases run one jitted chunk per eval interval; between chunks the Python loop
evaluates, logs, checkpoints and updates the progress bar. Run directory layout:

    config.json               resolved RunConfig
    metrics.jsonl / .csv      one row per eval point, agent and seed
    tensorboard/              event files
    batch_indices/seedN/active_chunkCCCCC.npy   (updates, batch, 2) sampled windows
    buffers/active_seedN.npz  the Active agents' final replay buffers
    checkpoints/              orbax, the two most recent chunk boundaries
    plots/*.png, summary.json

Seeds are sharded over devices (`placement.py`). With several processes
(`jax.distributed`), process p writes the metrics of the seeds it holds into
process{p}/ (metrics, tensorboard); per-seed files (buffers, batch indices) go to the
shared folders above, checkpoints are written jointly by orbax, and process 0 merges
every process's metrics into the top-level files, summary and plots at the end.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

import envs
from offon_jit.checkpoint import CheckpointStore
from offon_jit.config import ConfigError, RunConfig
from offon_jit.dreamer import agent as agent_lib
from offon_jit.engine import chunks, evaluate
from offon_jit.engine import multihost
from offon_jit.engine.placement import SEEDS_AXIS, make_placement
from offon_jit.engine.progress import Progress
from offon_jit.engine.run_state import AgentRun, new_run
from offon_jit.engine.transitions import replay_schema
from offon_jit.metrics_log import MetricsWriter, read_rows, truncate_rows, write_rows
from offon_jit.plots import plot_run
from offon_jit.replay import buffer as replay
from offon_jit.replay import storage

# Salts that derive each agent's initialisation from the seed: offline agents are
# initialised differently from their Active partner (the paper's S_P, S_T != S_A).
INIT_SALT = {"active": 0, "tandem": 1, "passive": 2}


class TrainingDivergedError(RuntimeError):
    """A metric or parameter became NaN/inf; the message names the agent, seed, step and metric."""


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str  # "active", "passive" or "tandem_replay"
    agents: tuple[str, ...]  # agents trained (and evaluated) in this phase


def plan_phases(config: RunConfig) -> list[Phase]:
    phases = []
    if "active" in config.agents:
        lock_step = ("tandem",) if "tandem" in config.agents else ()
        phases.append(Phase("active", ("active", *lock_step)))
    elif "tandem" in config.agents:
        phases.append(Phase("tandem_replay", ("tandem",)))
    if "passive" in config.agents:
        phases.append(Phase("passive", ("passive",)))
    return phases


def seed_keys(config: RunConfig) -> np.ndarray:
    # Host numpy, identical in every process: jitted functions slice out each device's runs.
    return np.asarray(jax.vmap(jax.random.PRNGKey)(config.seed + jnp.arange(config.num_seeds)))


class Study:
    """Static pieces of a study (envs, model config, jitted functions) plus the run loop."""

    def __init__(self, config: RunConfig, progress: bool = True, devices: int = 0):
        self.config = config
        self.run_dir = config.run_dir
        self.placement = make_placement(config.num_seeds, devices)
        self.local_seeds = config.seed + self.placement.local_runs
        self.is_main_process = jax.process_index() == 0
        self.show_progress = progress and self.is_main_process
        # Single process: everything in run_dir. Several: each writes its seeds' metrics apart.
        self.output_dir = self.run_dir / f"process{jax.process_index()}" if multihost.is_multi_process() else self.run_dir
        self._make_envs()
        self.model_config = agent_lib.DreamerConfig.from_preset(config.preset, **dict(config.model_overrides))
        self.schema = replay_schema(self.spec)
        self.keys = seed_keys(config)
        self.phases = plan_phases(config)
        self._compile_fns()

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

    # -- jitted, seed-vmapped functions ------------------------------------------------
    def _compile_fns(self):
        cfg, env = self.config, self.env

        def init_active(key):
            run = self._init_run(key, agent_name="active")
            return chunks.prefill(run, env, cfg.prefill // cfg.num_envs)

        per_run = self.placement.map
        self.init_active = per_run(init_active)
        self.init_offline = {name: per_run(partial(self._init_run, agent_name=name)) for name in ("tandem", "passive")}
        self.active_chunk = per_run(partial(chunks.active_chunk, config=cfg, env=env))
        self.offline_chunk = per_run(partial(chunks.offline_chunk, config=cfg))
        self.evaluate = per_run(
            partial(
                evaluate.evaluate,
                env=self.eval_env,
                episodes=cfg.eval_episodes,
                batch_size=cfg.batch_size,
                seq_len=cfg.seq_len,
            )
        )

    def _init_run(self, key, buffer=None, *, agent_name: str) -> AgentRun:
        init_key = jax.random.fold_in(key, INIT_SALT[agent_name])
        agent = agent_lib.init_agent(init_key, self.spec, self.model_config)
        run_key = jax.random.fold_in(init_key, 100)
        if agent_name != "active":
            return new_run(agent, buffer, None, None, run_key)
        env_key, run_key = jax.random.split(run_key)
        buffer = replay.init_buffer(self.schema, self.config.capacity, self.config.num_envs)
        env_state = self.initial_env_state(env_key)
        carry = agent_lib.initial_policy_carry(agent, self.config.num_envs)
        return new_run(agent, buffer, env_state, carry, run_key)

    def initial_env_state(self, key):
        return self.env.reset(key)

    def active_source(self) -> pathlib.Path:
        """The run directory holding the Active buffers that offline phases train on."""
        return self.run_dir if "active" in self.config.agents else pathlib.Path(self.config.active_run)

    # -- phase state ------------------------------------------------------------------
    def initial_state(self, phase: Phase, active_buffers=None) -> dict:
        if phase.name == "active":
            state = {"active": self.init_active(self.keys)}
            if "tandem" in phase.agents:
                state["tandem"] = self.init_offline["tandem"](self.keys, None)
            return state
        agent = "passive" if phase.name == "passive" else "tandem"
        return {agent: self.init_offline[agent](self.keys, active_buffers)}

    def run_chunk(self, phase: Phase, state: dict, chunk: int) -> tuple[dict, dict]:
        if phase.name == "active":
            active, tandem, out = self.active_chunk(state["active"], state.get("tandem"))
            new_state = {"active": active} | ({"tandem": tandem} if tandem is not None else {})
            return new_state, out
        if phase.name == "passive":
            run, metrics = self.offline_chunk(state["passive"])
            return {"passive": run}, {"passive": metrics}
        indices = self.logged_indices(chunk)
        counters = self.placement.to_local(state["tandem"].buffer.replace(data={}))
        for i in range(len(self.local_seeds)):  # a wrapped buffer would silently give other batches
            one = jax.tree_util.tree_map(lambda x: x[i], counters)
            replay.assert_indices_replayable(one, indices[i], self.config.seq_len)
        run, metrics = self.offline_chunk(state["tandem"], self.placement.from_local(indices))
        return {"tandem": run}, {"tandem": metrics}

    # -- data from an earlier Active run ----------------------------------------------------
    def active_buffers(self, source: pathlib.Path):
        """The Active buffers of this process's seeds, placed on the run mesh."""
        buffers = []
        for seed in self.local_seeds:
            path = source / "buffers" / f"active_seed{seed}.npz"
            if not path.exists():
                raise FileNotFoundError(f"no Active buffer for seed {seed}: expected {path}")
            buffers.append(storage.load_buffer(path, expected_schema=self.schema))
        return self.placement.from_local(jax.tree_util.tree_map(lambda *xs: np.stack(xs), *buffers))

    def logged_indices(self, chunk: int) -> np.ndarray:
        """(local seeds, updates, batch, 2): the Active's logged windows for this process's seeds."""
        source = pathlib.Path(self.config.active_run)
        expected = (self.config.updates_per_chunk, self.config.batch_size, 2)
        logs = []
        for seed in self.local_seeds:
            path = indices_path(source, seed, chunk)
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
        total_chunks = len(self.phases) * cfg.num_chunks
        progress = Progress(total_chunks, cfg.eval_interval * cfg.num_seeds, enabled=self.show_progress)
        progress.skip(start_phase * cfg.num_chunks + start_chunk)
        timings = {}
        self.final_states = {}
        active_buffers = None
        wall_start = time.perf_counter()
        try:
            for phase_index, phase in enumerate(self.phases):
                if phase_index < start_phase:
                    continue
                if phase.name != "active" and active_buffers is None:
                    active_buffers = self.active_buffers(self.active_source())
                if restored is not None and phase_index == start_phase:
                    state = restored
                else:
                    state = self.initial_state(phase, active_buffers)
                    start_chunk = 0
                phase_start = time.perf_counter()
                for chunk in range(start_chunk, cfg.num_chunks):
                    state, out = self.run_chunk(phase, state, chunk)
                    rows = self._evaluate(phase, state, out, chunk)
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
                    self._save_buffers(active_buffers)
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
        summary = _summary(self.config, rows, wall, timings)
        summary["placement"] = self.placement.describe()
        if self.is_main_process:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
            plot_run(self.run_dir)
        return summary

    def evaluate_agents(self, agents, buffer, keys, chunk: int) -> dict:
        return self.evaluate(agents, buffer, keys)

    def _evaluate(self, phase: Phase, state: dict, out: dict, chunk: int) -> list[dict]:
        rows = []
        eval_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, 7919), chunk))(self.keys)
        local = self.placement.to_local
        for agent in phase.agents:
            run = state[agent]
            buffer = run.buffer if run.buffer is not None else state["active"].buffer
            keys = np.asarray(jax.vmap(jax.random.fold_in, in_axes=(0, None))(eval_keys, INIT_SALT[agent]))
            metrics = local(self.evaluate_agents(run.agent, buffer, keys, chunk))
            train = local(out[agent])
            env_steps, train_steps = local((run.env_steps, run.train_steps))
            for i, seed in enumerate(self.local_seeds):
                row = {"agent": agent, "seed": int(seed), "env_steps": int(env_steps[i]),
                       "train_steps": int(train_steps[i])}
                row.update({k: float(v[i]) for k, v in metrics.items()})
                row.update({f"train_{k}": float(v[i]) for k, v in train.items()})
                rows.append(row)
        return rows

    def _save_indices(self, chunk: int, indices) -> None:
        for seed, seed_indices in zip(self.local_seeds, self.placement.to_local(indices)):
            path = indices_path(self.run_dir, seed, chunk)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, np.asarray(seed_indices, np.int32))
            tmp.replace(path)

    def _save_buffers(self, buffers) -> None:
        folder = self.run_dir / "buffers"
        folder.mkdir(exist_ok=True)
        local = self.placement.to_local(buffers)
        for i, seed in enumerate(self.local_seeds):
            one = jax.tree_util.tree_map(lambda x: x[i], local)
            storage.save_buffer(one, folder / f"active_seed{seed}.npz", overwrite=True)

    def _restore(self, store: CheckpointStore | None):
        if store is None or store.latest_step() is None:
            raise ConfigError(f"--resume: no checkpoint in {self.run_dir / 'checkpoints'}")
        step = store.latest_step()
        meta = store.read_meta(step)
        phase_index, chunk = meta["phase"], meta["chunk"]
        phase = self.phases[phase_index]
        active_buffers = None
        if phase.name != "active":
            active_buffers = self.active_buffers(self.active_source())
        like = self.placement.abstract(jax.eval_shape(lambda: self.initial_state(phase, active_buffers)))
        state, _ = store.restore(step, like)
        later = {a for p in self.phases[phase_index + 1:] for a in p.agents}
        truncate_rows(self.output_dir, chunk * self.config.eval_interval, set(phase.agents), later)
        return phase_index, chunk, state


def indices_path(run_dir: pathlib.Path, seed: int, chunk: int) -> pathlib.Path:
    return pathlib.Path(run_dir) / "batch_indices" / f"seed{seed}" / f"active_chunk{chunk:05d}.npy"


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


def _summary(config: RunConfig, rows: list[dict], wall: float, timings: dict) -> dict:
    final = {}
    for agent in config.agents:
        last = [r for r in rows if r["agent"] == agent and r["env_steps"] == config.env_steps]
        if last:
            final[agent] = {"score_mean": float(np.mean([r["score"] for r in last])),
                            "eval_wm_loss_mean": float(np.mean([r["eval_wm_loss"] for r in last]))}
    steps = config.env_steps * config.num_seeds * len(config.agents)
    return {"wall_time_s": wall, "phase_time_s": timings, "env_steps_all_agents_and_seeds": steps,
            "env_steps_per_s": steps / wall if wall else None, "final": final}
