"""A study's per-run files: what the Active leaves for the offline agents, and what every phase keeps.

Paths come from `RunLayout`; each process reads and writes only the runs it holds.
  Active buffers      the offline agents' data (split or enlarged per variant: offline_data.py)
  batch-index logs    the windows the Active sampled, replayed by a Tandem
  final agents        every phase's final parameters (the frozen-WM control reads the Active's)
  traces              one final test episode per run
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
from flax import serialization

from offon_jit import datasets, saved_agents
from offon_jit.atomic import atomic_file
from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine.offline_data import variant_buffers
from offon_jit.engine.phases import Phase
from offon_jit.engine.placement import RunPlacement
from offon_jit.engine.runs import RunId, base_runs, hparam_array, run_file_name, run_keys
from offon_jit.engine.variants import VARIANTS
from offon_jit.layout import RunLayout
from offon_jit.replay import storage


def _stack(trees: list):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *trees)


def _runs_of(tree, count: int):
    return [jax.tree_util.tree_map(lambda x: x[i], tree) for i in range(count)]


class RunFiles:
    def __init__(self, config: RunConfig, schema: dict):
        self.config = config
        self.schema = schema
        self.layout = RunLayout(config.run_dir)
        # Offline-only studies read the Active's files from the earlier run's directory (or a dataset).
        self.source = self.layout if "active" in config.agents else RunLayout(pathlib.Path(config.active_run))
        self._dataset_buffer = None  # a --dataset's buffer, imported once for every seed

    def check_dataset(self) -> None:
        """A --dataset must exist, fit the task and the replay capacity, and hold a training window per stream."""
        if self.config.dataset:
            try:
                datasets.check_dataset(self.config.dataset, self.config.task_spec(), self.schema,
                                       self.config.capacity, self.config.num_envs, self.config.seq_len)
            except datasets.DatasetError as error:
                raise ConfigError(f"dataset: {error}") from None

    # -- reading the Active's data -----------------------------------------------------------
    def active_buffer(self, run: RunId):
        if self.config.dataset:  # one dataset feeds every seed: import it once
            if self._dataset_buffer is None:
                self._dataset_buffer = datasets.import_buffer(self.config.dataset, self.config.task_spec(),
                                                              self.schema, self.config.capacity, self.config.num_envs)
            return self._dataset_buffer
        path = self.source.active_buffer(run.tag(self.config))
        if not path.exists():
            raise FileNotFoundError(f"no Active buffer for {run.tag(self.config)}: expected {path}")
        return jax.tree_util.tree_map(np.asarray, storage.load_buffer(path, expected_schema=self.schema))

    def final_world_model(self, run: RunId):
        path = self.source.agent(run_file_name(self.config, VARIANTS["active"], run))
        if not path.exists():
            raise FileNotFoundError(f"passive_frozen_wm needs the Active's final agent: expected {path}")
        try:
            return serialization.msgpack_restore(path.read_bytes())["wm"]
        except Exception as error:  # msgpack raises several types on corrupt input
            raise ValueError(f"{path} is not a readable agent file: {error}") from error

    def logged_indices(self, chunk: int, runs: list[RunId]) -> np.ndarray:
        """(runs, updates, batch, 2): the Active's logged windows for these runs."""
        expected = (self.config.updates_per_chunk, self.config.batch_size, 2)
        logs = []
        for run in runs:
            path = self.source.batch_indices(run.tag(self.config), chunk)
            if not path.exists():
                raise FileNotFoundError(f"Tandem replay needs the Active batch-index log {path}")
            indices = np.load(path)
            if indices.shape != expected:
                raise ValueError(f"{path}: indices of shape {indices.shape}, this config needs {expected}")
            logs.append(indices)
        return np.stack(logs)

    def phase_inputs(self, phase: Phase, placement: RunPlacement, local: list[RunId], active_buffers=None) -> tuple:
        """(buffers, hyperparameter values, frozen world models) on the phase's run axis.

        In-memory Active buffers (base-run axis) are used as they are when the variant trains on
        the full buffer of its own base run, so large buffers never round-trip through the host;
        otherwise each process loads its runs' buffers from the run directory.
        """
        variant = phase.variant
        same_runs = active_buffers is not None and len(phase.runs) == len(base_runs(self.config))
        if same_runs and variant.data == "full" and not variant.interaction:
            buffers = active_buffers
        else:
            host = placement.to_local(active_buffers) if same_runs else _stack([self.active_buffer(r) for r in local])
            buffers = placement.from_local(variant_buffers(self.config, variant, host, run_keys(local)))
        frozen = None
        if variant.world_model == "active_final":
            frozen = _stack([self.final_world_model(r) for r in local])
        dtype = np.int32 if variant.hparam == "fixed_intervals" else np.float32
        return (buffers, *placement.from_local((hparam_array(local, dtype), frozen)))

    # -- writing ------------------------------------------------------------------------------
    def save_indices(self, chunk: int, runs: list[RunId], indices: np.ndarray) -> None:
        for run, run_indices in zip(runs, indices):
            with atomic_file(self.layout.batch_indices(run.tag(self.config), chunk)) as file:
                np.save(file, np.asarray(run_indices, np.int32))

    def save_active_buffers(self, runs: list[RunId], buffers) -> None:
        for run, one in zip(runs, _runs_of(buffers, len(runs))):
            storage.save_buffer(one, self.layout.active_buffer(run.tag(self.config)), overwrite=True)

    def save_agents(self, agent: str, runs: list[RunId], agents) -> None:
        """Each run's final `agent` (AgentState, run axis leading, optimiser states left out): its parameters
        and the manifest that rebuilds it (saved_agents.py)."""
        for run, one in zip(runs, _runs_of(agents, len(runs))):
            saved_agents.write_agent(self.layout, self.config, agent, run, one)

    def save_traces(self, agent: str, runs: list[RunId], traces: dict) -> None:
        for i, run in enumerate(runs):
            name = run_file_name(self.config, VARIANTS[agent], run)
            with atomic_file(self.layout.trace(name)) as file:
                np.savez_compressed(file, **{k: v[i] for k, v in traces.items()})
