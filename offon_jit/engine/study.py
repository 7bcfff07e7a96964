"""A study's loop: every phase's program run chunk by chunk, with rows, checkpoints and progress.

The pure functions of a phase come from its `PhaseProgram` (engine/programs.py); files from
`RunFiles` and `RunLayout`; checkpoints from engine/checkpointing.py. Between chunks the loop
evaluates, writes metric rows, saves the Active's batch indices and checkpoints. Runs are
sharded over devices (`placement.py`). With several processes (`jax.distributed`), process p
writes the metrics of the runs it holds into process{p}/, per-run files go to the shared
folders, checkpoints are written jointly, and process 0 merges every process's metrics at the end.
No device state outlives its phase: the loop hands each phase's final state to `on_phase_end`
(tests and benchmarks inspect it there) and keeps only the Active buffers the next phases need.
Each phase that starts from its initial state is first evaluated at env step 0 (DreamerV3 v1's
`eval_initial`); a phase continued from a checkpoint already wrote that row, so a resume neither
repeats nor loses it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable

import jax
import numpy as np

from offon_jit.atomic import atomic_write
from offon_jit.checkpoint import CheckpointStore
from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine import checkpointing, multihost, run_guard
from offon_jit.engine.compile_timer import timing_compilation
from offon_jit.engine.initial import StudyModels
from offon_jit.engine.phases import Phase, plan_phases
from offon_jit.engine.placement import RunPlacement, make_placement
from offon_jit.engine.programs import PhaseProgram, build_phase, make_simulator
from offon_jit.engine.progress import Progress
from offon_jit.engine.run_files import RunFiles
from offon_jit.engine.runs import RunId, base_runs, run_label
from offon_jit.engine.variants import VARIANTS
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import METRICS_JSONL, TIMING_COLUMNS, MetricsWriter, read_rows, row_label, truncate_rows, write_rows
from offon_jit.plots import plot_run
from offon_jit.saved_agents import without_optimizer_state


class TrainingDivergedError(RuntimeError):
    """A metric or parameter became NaN/inf; the message names the agent, seed, step and metric."""


class Study:
    def __init__(self, config: RunConfig, progress: bool = True, devices: int = 0,
                 on_phase_end: Callable[[Phase, dict], None] | None = None, wandb: dict | None = None):
        """`wandb`: Weights & Biases settings (offon_jit/wandb_log.py) to log metrics there too, or None."""
        self.config = config
        self.wandb = wandb
        self.layout = RunLayout(config.run_dir)
        self.phases = plan_phases(config)
        self.simulator = make_simulator(config, devices)
        self.devices = devices
        self._placements: dict[int, RunPlacement] = {}
        for phase in self.phases:  # validates the device count against every phase's runs up front
            self.placement_for(len(phase.runs))
        self.placement = self.placement_for(len(base_runs(config)))
        self.models = StudyModels.create(config, self.simulator.spec)
        self.files = RunFiles(config, self.models.schema)
        self.is_main_process = jax.process_index() == 0
        self.show_progress = progress and self.is_main_process
        self.on_phase_end = on_phase_end
        multi = multihost.is_multi_process()
        self.output_dir = self.layout.process_dir(jax.process_index()) if multi else self.layout.root
        self._programs: dict[str, PhaseProgram] = {}

    @property
    def run_dir(self):
        return self.layout.root

    def placement_for(self, num_runs: int) -> RunPlacement:
        if num_runs not in self._placements:
            self._placements[num_runs] = make_placement(num_runs, self.devices)
        return self._placements[num_runs]

    def program(self, phase: Phase) -> PhaseProgram:
        """The phase's pure functions (built once; they hold no device state)."""
        if phase.name not in self._programs:
            self._programs[phase.name] = build_phase(self.models, phase, self.placement_for(len(phase.runs)),
                                                     self.simulator)
        return self._programs[phase.name]

    def local_runs(self, phase: Phase) -> list[RunId]:
        return [phase.runs[i] for i in self.placement_for(len(phase.runs)).local_runs]

    def phase_inputs(self, phase: Phase, active_buffers=None):
        if phase.is_active:
            return None
        return self.files.phase_inputs(phase, self.placement_for(len(phase.runs)), self.local_runs(phase),
                                       active_buffers)

    def initial_state(self, phase: Phase, active_buffers=None) -> dict:
        return self.program(phase).init(self.phase_inputs(phase, active_buffers))

    def run_chunk(self, program: PhaseProgram, state: dict, chunk: int) -> tuple[dict, dict]:
        """One eval interval of training (a Tandem replaying a log gets the Active's windows)."""
        phase = program.phase
        indices = None
        if not phase.is_active and phase.variant.batches == "replay":
            indices = self._replay_indices(program, state[phase.name], chunk)
        return program.collect_and_update(state, chunk, indices)

    def _replay_indices(self, program: PhaseProgram, run, chunk: int):
        from offon_jit.replay import buffer as replay

        indices = self.files.logged_indices(chunk, self.local_runs(program.phase))
        counters = program.placement.to_local(run.buffer.replace(data={}))
        for i in range(len(indices)):  # a wrapped buffer would silently give other batches
            one = jax.tree_util.tree_map(lambda x: x[i], counters)
            replay.assert_indices_replayable(one, indices[i], self.config.seq_len)
        return program.placement.from_local(indices)

    # -- the loop -----------------------------------------------------------------------------
    def check_inputs(self, resume: bool = False) -> dict | None:
        """Refuse a run that cannot work before anything is written (run_guard.py); with several
        processes, process 0 decides and every process stops with it. Returns the saved summary of
        a finished run that `resume` asks to continue (then nothing is to be done), else None."""
        problem, finished = None, None
        if self.is_main_process:
            try:
                run_guard.check_out_dir(self.layout, resume)
                if resume:
                    run_guard.check_resume_config(run_guard.saved_config(self.layout), self.config, self.layout)
                    if self.layout.summary.exists():
                        finished = json.loads(self.layout.summary.read_text())
                if self.config.active_run:
                    run_guard.check_active_run(self.config)
                self.files.check_dataset()
                if self.wandb is not None:
                    run_guard.check_wandb(self.wandb)
            except ConfigError as error:
                problem = error
        if multihost.is_multi_process():  # every process stops, or returns, with process 0
            if multihost.processes_flagging(problem is not None) and problem is None:
                raise ConfigError("process 0 refused the run; its error names the problem")
            if multihost.processes_flagging(finished is not None) and finished is None:
                finished = {}
        if problem is not None:
            raise problem
        return finished

    def run(self, resume: bool = False) -> dict:
        cfg = self.config
        finished = self.check_inputs(resume)
        if finished is not None:
            if self.is_main_process:
                print(f"{self.run_dir} has already finished; nothing to resume (its summary: {self.layout.summary})",
                      file=sys.stderr)
            return finished
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.is_main_process and not resume:
            atomic_write(self.layout.config, cfg.to_json())
        store = CheckpointStore(self.layout.checkpoints) if cfg.checkpoint_every else None
        progress = Progress(enabled=self.show_progress, messages=self.is_main_process)
        start_phase, start_chunk, restored = 0, 0, None
        wall_offset = 0.0  # training time of the sessions before a resume
        if resume:
            start_phase, start_chunk, restored = self._resume_point(store, progress)
            current = set(self.phases[start_phase].agents) if start_phase < len(self.phases) else set()
            later = {a for p in self.phases[start_phase + 1:] for a in p.agents}
            # A phase that starts again rewrites its step-0 rows: keep none of its rows then.
            kept_until = start_chunk * cfg.eval_interval if restored is not None else -1
            truncate_rows(self.output_dir, kept_until, current, later)
            kept = read_rows(self.output_dir) if (self.output_dir / METRICS_JSONL).exists() else []
            wall_offset = max((r.get(TIMING_COLUMNS[0]) or 0.0 for r in kept), default=0.0)
        # Each process logs the runs it holds (W&B: one run per curve and seed, so they never clash).
        writer = MetricsWriter(self.output_dir, config=json.loads(cfg.to_json()), rebuild=resume, wandb=self.wandb)
        timings = {}
        active_buffers = None  # the in-memory Active buffers (base-run axis) once the Active phase ran
        wall_start = time.perf_counter() - wall_offset
        try:
            for phase_index, phase in enumerate(self.phases):
                if phase_index < start_phase:
                    continue
                program = self.program(phase)
                fresh = restored is None
                if fresh:
                    state, start_chunk = self.initial_state(phase, active_buffers), 0
                else:
                    state, restored = restored, None
                progress.start_phase(phase.name, cfg.num_chunks, start_chunk, cfg.eval_interval * len(phase.runs))
                phase_start = time.perf_counter()
                clock = {"last": phase_start, "start": wall_start}
                with timing_compilation() as compiled:
                    if start_chunk < cfg.num_chunks:
                        progress.message(f"compiling the {phase.name} phase ...")
                    if fresh:  # the env-step-0 evaluation, before any update
                        rows = self._rows(phase, state, {agent: {} for agent in phase.agents},
                                          program.evaluate_initial(state), clock)
                        _check_finite(rows, store)
                        writer.write(rows)
                    if start_chunk < cfg.num_chunks:
                        state = self._chunk(program, state, start_chunk, phase_index, writer, store, progress, clock)
                if start_chunk < cfg.num_chunks:
                    progress.message(f"{phase.name} phase: {_compiled(compiled)}")
                for chunk in range(start_chunk + 1, cfg.num_chunks):
                    state = self._chunk(program, state, chunk, phase_index, writer, store, progress, clock)
                timings[phase.name] = time.perf_counter() - phase_start
                self._finish_phase(program, state)
                if phase.is_active:
                    active_buffers = state["active"].buffer
                if self.on_phase_end is not None:
                    self.on_phase_end(phase, state)
                del state
        finally:
            progress.close()
            writer.close()
            self.simulator.close()
            if store:
                store.close()
        return self._finish(time.perf_counter() - wall_start, timings)

    def _chunk(self, program: PhaseProgram, state: dict, chunk: int, phase_index: int, writer, store, progress,
               clock: dict) -> dict:
        """Train and evaluate one chunk, then write its rows, the Active's batch indices and any checkpoint."""
        cfg, phase = self.config, program.phase
        state, out = self.run_chunk(program, state, chunk)
        state, metrics = program.evaluate(state, chunk)
        rows = self._rows(phase, state, out, metrics, clock)
        _check_finite(rows, store)
        writer.write(rows)
        if phase.is_active:
            self.files.save_indices(chunk, self.local_runs(phase), program.placement.to_local(out["indices"]))
        if store and ((chunk + 1) % cfg.checkpoint_every == 0 or chunk + 1 == cfg.num_chunks):
            checkpointing.save(self, store, program, state, phase_index, chunk + 1)
        progress.update(rows)
        return state

    def _resume_point(self, store: CheckpointStore | None, progress: Progress):
        """(phase index, chunk, restored state or None) to continue from: the newest checkpoint that restores,
        else the first phase not yet finished, started again (a run killed before its first checkpoint, or
        one without checkpoints)."""
        if store is not None and store.all_steps():
            phase_index, chunk, state = checkpointing.restore_latest(self, store)
            progress.message(f"resuming the {self.phases[phase_index].name} phase after chunk {chunk}")
            return phase_index, chunk, state
        done = self.finished_phases()
        start = next((i for i, phase in enumerate(self.phases) if phase.name not in done), len(self.phases))
        if start < len(self.phases):
            why = "no checkpoint yet" if store is not None else "checkpoint_every=0"
            progress.message(f"resuming: {why}, so the {self.phases[start].name} phase starts again")
        return start, 0, None

    def finished_phases(self) -> list[str]:
        path = self.layout.finished_phases
        return json.loads(path.read_text()) if path.exists() else []

    def _finish_phase(self, program: PhaseProgram, state: dict) -> None:
        """Keep what outlives the phase: every agent's final parameters, the Active's buffers, traces."""
        phase, local = program.phase, self.local_runs(program.phase)
        for agent in phase.agents:
            final = without_optimizer_state(state[agent].agent)
            self.files.save_agents(agent, local, program.placement.to_local(final))
        if phase.is_active:
            self.files.save_active_buffers(local, program.placement.to_local(state["active"].buffer))
        if self.config.record_traces:
            for agent, traces in program.trace(state).items():
                self.files.save_traces(agent, local, program.placement.to_local(traces))
        if multihost.is_multi_process():
            multihost.barrier(f"offon_jit_finished_{phase.name}")  # every process's files are written
        if self.is_main_process:  # a resume without a checkpoint of a later phase starts after this one
            done = self.finished_phases()
            atomic_write(self.layout.finished_phases, json.dumps(done + [phase.name] * (phase.name not in done)))

    def _rows(self, phase: Phase, state: dict, out: dict, metrics: dict, clock: dict) -> list[dict]:
        """One metric row per run and agent of the phase at this eval point, with the wall clock: the
        study's training seconds so far, and each run's env steps per second since the previous eval point."""
        cfg, placement, runs = self.config, self.placement_for(len(phase.runs)), self.local_runs(phase)
        now = time.perf_counter()
        wall, rate = TIMING_COLUMNS
        timing = {wall: now - clock["start"]}
        if out and any(out.values()):  # not at env step 0
            timing[rate] = cfg.eval_interval / max(now - clock["last"], 1e-9)
        clock["last"] = now
        rows = []
        for agent in phase.agents:
            variant, run = VARIANTS[agent], state[agent]
            values, train = placement.to_local((metrics[agent], out[agent]))
            env_steps, train_steps = placement.to_local((run.env_steps, run.train_steps))
            added = placement.to_local(run.schedule.added) if run.schedule is not None else None
            for i, run_id in enumerate(runs):
                row = {"agent": agent, "label": run_label(cfg, variant, run_id), "seed": run_id.seed,
                       "expl_weight": run_id.expl_weight, "env_steps": int(env_steps[i]),
                       "train_steps": int(train_steps[i])}
                if variant.hparam:
                    row.update(hparam=variant.hparam_name, hparam_value=run_id.hparam_value)
                if added is not None:
                    row["self_generated_steps"] = int(added[i])
                    row["self_generated_pct"] = 100.0 * int(added[i]) / cfg.total_steps_stored
                row.update({k: float(v[i]) for k, v in values.items()})
                row.update({f"train_{k}": float(v[i]) for k, v in train.items()})
                row.update(timing)
                rows.append(row)
        return rows

    def _finish(self, wall: float, timings: dict) -> dict:
        """Summary and plots; with several processes, process 0 first merges every process's metrics."""
        if multihost.is_multi_process():
            multihost.barrier("offon_jit_study_done")
            rows = multihost.merged_rows(self.run_dir)
            if self.is_main_process:
                write_rows(self.run_dir, rows)
        else:
            rows = read_rows(self.run_dir)
        summary = _summary(self.config, rows, wall, timings, sum(len(p.runs) * len(p.agents) for p in self.phases))
        summary["placement"] = self.placement.describe()
        if self.is_main_process:
            atomic_write(self.layout.summary, json.dumps(summary, indent=2))
            plot_run(self.run_dir)
        return summary


def _compiled(compiled) -> str:
    if compiled.seconds < 0.05:
        return "already compiled in this process"
    cached = f", {compiled.cache_hits} program(s) from the compilation cache" if compiled.cache_hits else ""
    return f"compiled in {compiled.seconds:.1f} s{cached}"


def _kept_checkpoint(store: CheckpointStore | None) -> str:
    """Looked up only for the message of a diverged run, not at every eval point."""
    return "the last good checkpoint is kept, " if store is not None and store.all_steps() else ""


def _check_finite(rows: list[dict], store: CheckpointStore | None) -> None:
    """Raise on NaN/inf in any process's rows (every process stops, so none waits on the others)."""
    problem = next(
        (f"{row['agent']} agent, seed {row['seed']}: {key} = {value} at env step {row['env_steps']} "
         f"(train step {row['train_steps']}); {_kept_checkpoint(store)}metrics up to the previous eval point are saved"
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
    for label in dict.fromkeys(row_label(r) for r in rows):
        last = [r for r in rows if row_label(r) == label and r["env_steps"] == config.env_steps]
        if last:
            final[label] = {key + "_mean": float(np.mean([r[key] for r in last]))
                            for key in ("score", "eval_wm_loss", "eval_td_loss", "value_error", "self_generated_pct")
                            if key in last[0]}
    steps = config.env_steps * num_runs
    return {"wall_time_s": wall, "phase_time_s": timings, "env_steps_all_agents_and_seeds": steps,
            "env_steps_per_s": steps / wall if wall else None, "final": final}
