"""A run killed at any point continues with --resume to exactly the outputs of an uninterrupted run.

One tiny study (Active with a lock-step Tandem, then a Passive; 2 seeds, 2 chunks per phase) runs once
uninterrupted. Each case kills a copy at one point (an exception raised there, as a kill would stop
the process: nothing after it runs) and resumes it in a new Study. The resumed Study reuses the
baseline's phase programs (pure functions, independent of the run directory) so no case recompiles.
Metrics in JSONL, CSV and TensorBoard must equal the uninterrupted run's, every row exactly once.
"""

import pathlib

import pytest

from offon_jit.checkpoint import CheckpointStore
from offon_jit.config import RunConfig
from offon_jit.engine.study import Study
from offon_jit.layout import RunLayout
from offon_jit.metrics_log import read_rows
from tests.engine.compare import assert_rows_close
from tests.engine.kills import SimulatedKill, kill_at

STUDY = dict(task="debug/point_reach", agents=("active", "tandem", "passive"), num_seeds=2, env_steps=32,
             eval_interval=16, prefill=32, batch_size=2, seq_len=8, eval_episodes=1, episode_length=16)


def config(root, name, **changes) -> RunConfig:
    return RunConfig(**{**STUDY, "out_dir": str(root / name), **changes})


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("run_dirs")
    study = Study(config(root, "uninterrupted"), progress=False)
    study.run()
    return root, study


def sharing_programs(run_config: RunConfig, baseline_study: Study) -> Study:
    study = Study(run_config, progress=False)
    study._programs = baseline_study._programs
    return study


# (id, what to kill, its call number, config changes). Chunk calls 1-2 are the Active phase's, 3-4 the Passive's;
# checkpoint saves 1-2 the Active's, 3-4 the Passive's.
KILLS = [
    ("before the first checkpoint", (Study, "run_chunk"), 1, {}),
    ("during the first checkpoint write", (CheckpointStore, "save"), 1, {}),
    ("after a chunk's rows, before its checkpoint", (CheckpointStore, "save"), 2, {}),
    ("in the next phase, before its first checkpoint", (Study, "run_chunk"), 3, {}),
    ("without checkpoints, in the second phase", (Study, "run_chunk"), 4, {"checkpoint_every": 0}),
    ("without checkpoints, in the first phase", (Study, "run_chunk"), 2, {"checkpoint_every": 0}),
]


@pytest.mark.parametrize("name,target,call,changes", KILLS, ids=[k[0] for k in KILLS])
def test_killed_run_resumes_to_the_uninterrupted_outputs(baseline, monkeypatch, name, target, call, changes):
    root, uninterrupted = baseline
    run_config = config(root, name.replace(" ", "_").replace(",", ""), **changes)
    with monkeypatch.context() as patch:
        kill_at(patch, *target, call)
        with pytest.raises(SimulatedKill):
            sharing_programs(run_config, uninterrupted).run()
    assert not RunLayout(run_config.out_dir).summary.exists()
    sharing_programs(run_config, uninterrupted).run(resume=True)

    expected, resumed = read_rows(uninterrupted.run_dir), read_rows(run_config.out_dir)
    assert len(resumed) == len(expected)
    assert_rows_close(resumed, expected, rtol=0, atol=0)
    assert_logs_match_rows(run_config.out_dir)


def assert_logs_match_rows(run_dir) -> None:
    """CSV and TensorBoard hold exactly the JSONL rows: no scalar lost or written twice."""
    import numpy as np

    from offon_jit.metrics_log import row_label, row_scalars, write_csv
    from offon_jit.tensorboard_log import run_directory_name
    from tests.test_metrics_log import _scalars

    run_dir = pathlib.Path(run_dir)
    rows = read_rows(run_dir)
    reference = run_dir / "reference"
    reference.mkdir()
    write_csv(reference, rows)
    assert (run_dir / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    expected = {}
    for row in rows:
        run = run_directory_name(row_label(row), row["seed"])
        expected.setdefault(run, []).extend((row["env_steps"], k, float(np.float32(v))) for k, v in row_scalars(row).items())
    assert {run: sorted(s) for run, s in _scalars(run_dir).items()} == {run: sorted(s) for run, s in expected.items()}


def test_passive_on_an_exported_minari_dataset_trains_as_the_studys_passive(baseline, monkeypatch, capsys):
    """Export the Active's seed-0 buffer to Minari, train a Passive-only run on it: seed 0's Passive
    samples the same rows with the same keys, so its metrics equal the study's Passive exactly."""
    from offon_jit.cli import main

    root, uninterrupted = baseline
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    assert main(["dataset", "export", str(uninterrupted.run_dir), "--agent", "active", "--seed", "0",
                 "--id", "reach/active-seed0-v0"]) == 0
    run_config = config(root, "from_dataset", agents=("passive",), dataset="reach/active-seed0-v0")
    sharing_programs(run_config, uninterrupted).run()
    seed0 = [r for r in read_rows(uninterrupted.run_dir) if r["agent"] == "passive" and r["seed"] == 0]
    assert_rows_close([r for r in read_rows(run_config.out_dir) if r["seed"] == 0], seed0, rtol=0, atol=0)


@pytest.mark.parametrize("damaged", ["meta/metadata", "state/_METADATA", "state/manifest.ocdbt"])
def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(baseline, capsys, damaged):
    """Truncate one file of the newest kept checkpoint: the resume warns in one line naming it and the
    checkpoint it uses instead, continues from that one and ends with the uninterrupted rows."""
    import shutil

    root, uninterrupted = baseline
    run_config = config(root, "corrupt_" + damaged.replace("/", "_").replace(".", "_"))
    shutil.copytree(uninterrupted.run_dir, run_config.out_dir)
    layout = RunLayout(run_config.out_dir)
    layout.summary.unlink()  # as if killed after its last checkpoint
    newest, previous = sorted((p for p in layout.checkpoints.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))[::-1]
    with open(newest / damaged, "r+b") as file:
        file.truncate(5)
    capsys.readouterr()
    sharing_programs(run_config, uninterrupted).run(resume=True)
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(newest) in warning[0] and str(previous) in warning[0], err
    assert "Traceback" not in err and f"after chunk {STUDY['env_steps'] // STUDY['eval_interval'] - 1}" in err
    assert_rows_close(read_rows(run_config.out_dir), read_rows(uninterrupted.run_dir), rtol=0, atol=0)
    assert_logs_match_rows(run_config.out_dir)


def test_kill_9_during_the_first_checkpoint_write_then_resume(baseline):
    """A real SIGKILL in a subprocess, with orbax's temporary checkpoint directory left behind: `offon-jit run
    --resume` starts the unfinished phase again and ends with the uninterrupted rows."""
    import os
    import signal
    import subprocess
    import sys

    from tests.engine.test_sharding import ROOT, subprocess_env

    root, uninterrupted = baseline
    out = root / "sigkill"
    argv = ["run", "--agents", ",".join(STUDY["agents"]), "--no-progress", "--out-dir", str(out)]
    argv += [f"--{k.replace('_', '-')}={v}" for k, v in STUDY.items() if k != "agents"]
    killed = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "engine", "killed_in_checkpoint_write.py"),
                             *argv], env=subprocess_env(1), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["1.orbax-checkpoint-tmp"]
    resumed = subprocess.run([sys.executable, "-m", "experiments.cli", *argv, "--resume"], env=subprocess_env(1),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "the active phase starts again" in resumed.stderr
    assert_rows_close(read_rows(out), read_rows(uninterrupted.run_dir))
    assert_logs_match_rows(out)


def test_the_experiment_runner_continues_a_killed_study_without_checkpoints(baseline, monkeypatch):
    """`offon-jit experiment` (runner.run_study) on a study killed in its second phase, run without checkpoints
    as the smoke scale is: the rerun continues it instead of refusing, and ends with the uninterrupted rows."""
    from experiments.runner import run_study

    root, uninterrupted = baseline
    monkeypatch.setattr(Study, "program", lambda self, phase: uninterrupted._programs[phase.name])
    run_config = config(root, "runner", checkpoint_every=0)
    with monkeypatch.context() as patch:
        kill_at(patch, Study, "run_chunk", 3)
        with pytest.raises(SimulatedKill):
            run_study(run_config, progress=False)
    run_study(run_config, progress=False)
    assert_rows_close(read_rows(run_config.out_dir), read_rows(uninterrupted.run_dir), rtol=0, atol=0)
    assert_logs_match_rows(run_config.out_dir)
