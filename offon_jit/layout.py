"""Every path of a run directory, in one place (the engine, experiments, benchmarks and tests ask here).

    config.json               the resolved RunConfig
    metrics.jsonl / .csv      one row per eval point and run (offon_jit/metrics_log.py)
    tensorboard/LABEL/seedN/  one TensorBoard run per curve and seed (tags: metric names; config and hparams)
    wandb/                    W&B's local files (only with --wandb)
    summary.json, plots/      written when the study finishes
    finished_phases.json      the phases whose final files are all written (a resume without a checkpoint
                              starts at the first phase not listed)
    batch_indices/TAG/active_chunkCCCCC.npy   (updates, batch, 2) windows the Active sampled
    buffers/active_TAG.npz    the Active agents' final replay buffers (the offline agents' data)
    agents/STEM.msgpack, .json  every phase's final agent: parameters, and the manifest that rebuilds it
                              (offon_jit/saved_agents.py; STEM: variant[_hparamV]_TAG)
    traces/STEM.npz           one final test episode per run (Figs. S3/S4)
    checkpoints/              orbax: the small run state of the two most recent chunk boundaries
    replay_increments/PHASE/AGENT/runRRR/   the rows each checkpoint added to a run's buffer
    processP/                 metrics of the runs process P holds (several processes only)

TAG names an Active (base) run: seedN, or explW_seedN when exploration weights are swept.
"""

from __future__ import annotations

import dataclasses
import pathlib


@dataclasses.dataclass(frozen=True)
class RunLayout:
    root: pathlib.Path

    def __post_init__(self):
        object.__setattr__(self, "root", pathlib.Path(self.root))

    @property
    def config(self) -> pathlib.Path:
        return self.root / "config.json"

    @property
    def summary(self) -> pathlib.Path:
        return self.root / "summary.json"

    @property
    def wandb(self) -> pathlib.Path:
        return self.root / "wandb"

    @property
    def finished_phases(self) -> pathlib.Path:
        return self.root / "finished_phases.json"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.root / "checkpoints"

    @property
    def traces(self) -> pathlib.Path:
        return self.root / "traces"

    def process_dir(self, process: int) -> pathlib.Path:
        return self.root / f"process{process}"

    def active_buffer(self, tag: str) -> pathlib.Path:
        return self.root / "buffers" / f"active_{tag}.npz"

    @property
    def agents(self) -> pathlib.Path:
        return self.root / "agents"

    def agent(self, stem: str) -> pathlib.Path:
        return self.agents / f"{stem}.msgpack"

    def agent_manifest(self, stem: str) -> pathlib.Path:
        return self.agents / f"{stem}.json"

    def batch_indices(self, tag: str, chunk: int) -> pathlib.Path:
        return self.root / "batch_indices" / tag / f"active_chunk{chunk:05d}.npy"

    def batch_index_files(self, tag: str) -> list[pathlib.Path]:
        return sorted((self.root / "batch_indices" / tag).glob("active_chunk*.npy"))

    def trace(self, stem: str) -> pathlib.Path:
        return self.traces / f"{stem}.npz"

    def replay_increments(self, phase: str, agent: str, run_index: int) -> pathlib.Path:
        return self.root / "replay_increments" / phase / agent / f"run{run_index:03d}"
