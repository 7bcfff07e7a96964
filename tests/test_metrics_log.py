"""metrics.jsonl and its mirrors (CSV, TensorBoard, W&B): layout, appends, and exactly-once after kills."""

import json
import os
import pathlib
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
from tensorboardX.record_writer import masked_crc32c

from offon_jit.metrics_log import (METRICS_CSV, METRICS_JSONL, MetricsWriter, read_rows, row_label, run_hparams,
                                   truncate_rows, write_csv)
from offon_jit.tensorboard_log import run_directory_name

METRICS = ("train_steps", "score", "eval_wm_loss", "self_generated_pct", "ood_ratio")  # _phase_rows' measurements
CONFIG = {"task": "debug/point_reach", "seed": 7, "env_steps": 300, "batch_size": 8, "record_traces": False,
          "expl_weights": [0.0], "model_overrides": []}
AUTO = "passive_auto (ood_threshold=1.2)"
STEPS = (0, 100, 200, 300)


def _value(*key) -> float:
    return float(np.random.default_rng(zlib.crc32(repr(key).encode())).normal())


def _phase_rows(phase: int, step: int) -> list[dict]:
    """Rows of one eval point, study-shaped: phase 0 runs active and tandem (2 seeds), phase 1 a
    swept Passive-auto whose rows bring columns phase 0 lacks (and a NaN: a missing value)."""
    rows = []
    if phase == 0:
        for agent in ("active", "tandem"):
            for seed in (0, 1):
                rows.append({"agent": agent, "label": agent, "seed": seed, "expl_weight": 0.0, "env_steps": step,
                             "train_steps": step // 2, "score": _value(agent, seed, step),
                             "eval_wm_loss": _value("wm", agent, seed, step)})
    else:
        for seed in (0, 1):
            rows.append({"agent": "passive_auto", "label": AUTO, "seed": seed, "expl_weight": 0.0,
                         "env_steps": step, "train_steps": step // 2, "hparam": "ood_threshold",
                         "hparam_value": 1.2, "self_generated_pct": step / 10,
                         "score": float("nan") if (seed, step) == (1, 200) else _value("auto", seed, step),
                         "ood_ratio": _value("ood", seed, step)})
    return rows


BATCHES = [(phase, step) for phase in (0, 1) for step in STEPS]


def _write_all(run_dir: pathlib.Path) -> None:
    with MetricsWriter(run_dir, config=CONFIG) as writer:
        for phase, step in BATCHES:
            writer.write(_phase_rows(phase, step))


def _read_events(run_dir: pathlib.Path) -> dict[str, list[Event]]:
    """Every event of every TensorBoard run, by run directory, each record's CRCs checked."""
    root = run_dir / "tensorboard"
    runs = {}
    for path in sorted(root.rglob("events.out.tfevents.*")):
        data, offset, events = path.read_bytes(), 0, []
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("Q", header)
            assert struct.unpack("I", data[offset + 8:offset + 12])[0] == masked_crc32c(header)
            body = data[offset + 12:offset + 12 + length]
            assert struct.unpack("I", data[offset + 12 + length:offset + 16 + length])[0] == masked_crc32c(body)
            events.append(Event.FromString(body))
            offset += 16 + length
        runs.setdefault(str(path.parent.relative_to(root)), []).extend(events)
    return runs


def _scalars(run_dir: pathlib.Path) -> dict[str, list[tuple]]:
    """(step, tag, value) of every scalar, by run directory, in file order."""
    return {run: [(e.step, v.tag, v.simple_value) for e in events for v in e.summary.value
                  if v.HasField("simple_value")] for run, events in _read_events(run_dir).items()}


def _expected_scalars(rows: list[dict]) -> dict[str, list[tuple]]:
    """What TensorBoard must hold for these rows: every finite metric once, as float32."""
    expected = {}
    for row in rows:
        run = f"{'passive_auto_ood_threshold_1.2' if row['label'] == AUTO else row['label']}/seed{row['seed']}"
        metrics = [(row["env_steps"], k, float(np.float32(v))) for k, v in row.items()
                   if k in METRICS and v is not None]
        expected.setdefault(run, []).extend(metrics)
    return expected


def test_tensorboard_has_one_run_per_label_and_seed_with_metric_tags_hparams_and_config(tmp_path):
    _write_all(tmp_path)
    rows = read_rows(tmp_path)
    events = _read_events(tmp_path)
    assert sorted(events) == ["active/seed0", "active/seed1", "passive_auto_ood_threshold_1.2/seed0",
                              "passive_auto_ood_threshold_1.2/seed1", "tandem/seed0", "tandem/seed1"]
    assert _scalars(tmp_path) == _expected_scalars(rows)

    for run, run_events in events.items():
        values = [v for e in run_events for v in e.summary.value]
        starts = [HParamsPluginData.FromString(v.metadata.plugin_data.content).session_start_info
                  for v in values if v.tag == "_hparams_/session_start_info"]
        assert len(starts) == 1
        hparams = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in starts[0].hparams.items()}
        first = next(r for r in rows if run_directory_name(row_label(r), r["seed"]) == run)
        assert hparams["label"] == row_label(first) and hparams["seed"] == first["seed"]
        assert hparams["agent"] == first["agent"] and hparams["config.seed"] == 7
        assert hparams["task"] == "debug/point_reach" and hparams["batch_size"] == 8
        assert hparams["record_traces"] is False and "expl_weights" not in hparams
        assert ("hparam_value" in hparams) == run.startswith("passive_auto")
        texts = [v.tensor.string_val[0].decode() for v in values if v.tag == "config/text_summary"]
        assert len(texts) == 1 and json.loads(textwrap.dedent(texts[0])) == CONFIG


def test_run_hparams_name_the_run_and_keep_colliding_config_fields():
    row = {"agent": "passive_auto", "label": AUTO, "seed": 1, "expl_weight": 0.0, "hparam": "ood_threshold",
           "hparam_value": 1.2, "env_steps": 5, "score": 3.0}
    assert run_hparams(row, CONFIG) == {"agent": "passive_auto", "label": AUTO, "seed": 1, "expl_weight": 0.0,
                                        "hparam": "ood_threshold", "hparam_value": 1.2, "task": "debug/point_reach",
                                        "config.seed": 7, "env_steps": 300, "batch_size": 8, "record_traces": False}


def test_labels_that_share_a_run_directory_are_refused(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write([{"agent": "a", "label": "x (k=1)", "seed": 0, "env_steps": 0, "score": 1.0}])
        with pytest.raises(ValueError, match="both map to run directory 'x_k_1/seed0'"):
            writer.write([{"agent": "a", "label": "x k=1", "seed": 0, "env_steps": 0, "score": 1.0}])


def test_csv_is_appended_and_always_equals_a_full_rewrite(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    run_dir = tmp_path / "run"
    with MetricsWriter(run_dir, config=CONFIG) as writer:
        for phase, step in BATCHES:
            before = (run_dir / METRICS_CSV).stat().st_ino if (run_dir / METRICS_CSV).exists() else None
            writer.write(_phase_rows(phase, step))
            write_csv(reference, read_rows(run_dir))
            assert (run_dir / METRICS_CSV).read_bytes() == (reference / METRICS_CSV).read_bytes()
            widened = (phase, step) in ((0, 0), (1, 0))  # the first rows, then Passive-auto's new columns
            assert ((run_dir / METRICS_CSV).stat().st_ino != before) == widened
        header = (run_dir / METRICS_CSV).read_text().splitlines()[0].split(",")
        assert header[:3] == ["agent", "seed", "env_steps"] and header[-3:] == ["hparam_value", "self_generated_pct",
                                                                              "ood_ratio"]
        truncate_rows(run_dir, 100, {"passive_auto"}, set())
        write_csv(reference, read_rows(run_dir))
        assert (run_dir / METRICS_CSV).read_bytes() == (reference / METRICS_CSV).read_bytes()
        assert len(read_rows(run_dir)) == 16 + 4


def _kill(writer: MetricsWriter) -> None:
    """What a kill -9 leaves: the writer's files unclosed (we close them only once the test ends),
    named as if written a while ago (a resume in the same second would reuse, and so truncate, them)."""
    _killed.append(writer)
    for path in (writer.run_dir / "tensorboard").rglob("events.out.tfevents.*"):
        path.rename(path.with_name(path.name.replace(".tfevents.", ".tfevents.1000000000-old.", 1)))


_killed: list[MetricsWriter] = []


@pytest.mark.parametrize("kill_at,kept_until,agents,later", [
    (3, 100, {"active", "tandem"}, {"passive_auto"}),  # phase 0 at 300; its last checkpoint at 100
    (6, 100, {"passive_auto"}, set()),  # phase 1 at 200 (a NaN row); checkpoint at 100
    (4, -1, {"passive_auto"}, set()),  # phase 1 before its first checkpoint: it starts again
])
def test_kill_and_resume_leave_exactly_the_uninterrupted_metrics(tmp_path, kill_at, kept_until, agents, later):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _write_all(straight)
    try:
        writer = MetricsWriter(resumed, config=CONFIG)
        for phase, step in BATCHES[:kill_at + 1]:
            writer.write(_phase_rows(phase, step))
        with open(resumed / METRICS_JSONL, "a") as f:  # killed halfway through the next write
            f.write(json.dumps(_phase_rows(*BATCHES[kill_at + 1])[0])[:40])
        _kill(writer)
        # A first resume is killed while it rebuilds TensorBoard (one run directory still missing).
        truncate_rows(resumed, kept_until, agents, later)
        writer = MetricsWriter(resumed, config=CONFIG, rebuild=True)
        _kill(writer)
        for events in sorted((resumed / "tensorboard" / "tandem").rglob("events.*")):
            events.unlink()
        # The second resume runs to the end.
        truncate_rows(resumed, kept_until, agents, later)
        restart = next(i for i, (phase, step) in enumerate(BATCHES)
                       if {r["agent"] for r in _phase_rows(phase, step)} <= agents | later and step > kept_until)
        with MetricsWriter(resumed, config=CONFIG, rebuild=True) as writer:
            for phase, step in BATCHES[restart:]:
                writer.write(_phase_rows(phase, step))
    finally:
        while _killed:
            _killed.pop().close()
    assert read_rows(resumed) == read_rows(straight)
    assert (resumed / METRICS_JSONL).read_bytes() == (straight / METRICS_JSONL).read_bytes()
    assert (resumed / METRICS_CSV).read_bytes() == (straight / METRICS_CSV).read_bytes()
    assert _scalars(resumed) == _scalars(straight) == _expected_scalars(read_rows(straight))
    for run, events in _read_events(resumed).items():  # hparams and config once per run, too
        tags = [v.tag for e in events for v in e.summary.value]
        assert tags.count("_hparams_/session_start_info") == 1 and tags.count("config/text_summary") == 1


def test_read_rows_skips_an_unfinished_last_line_but_not_a_corrupt_one(tmp_path):
    (tmp_path / METRICS_JSONL).write_text('{"agent": "a", "seed": 0, "env_steps": 0}\n{"agent": "a", "se')
    assert read_rows(tmp_path) == [{"agent": "a", "seed": 0, "env_steps": 0}]
    (tmp_path / METRICS_JSONL).write_text('{"agent": "a", "se\n{"agent": "a", "seed": 0, "env_steps": 0}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:1: corrupt metrics line"):
        read_rows(tmp_path)


KILL_AFTER_WRITE = """
import os, signal, sys
from offon_jit.metrics_log import MetricsWriter
writer = MetricsWriter(sys.argv[1])
for step in range(0, 1000, 100):
    writer.write([{"agent": "active", "label": "active", "seed": s, "env_steps": step, "score": step + s / 4}
                  for s in range(3)])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_right_after_write_returns_loses_no_tensorboard_scalar(tmp_path):
    # tensorboardX's SummaryWriter.flush() leaves queued events unwritten; ours must not.
    result = subprocess.run([sys.executable, "-c", KILL_AFTER_WRITE, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, cwd=pathlib.Path(__file__).resolve().parents[1])
    assert result.returncode == -9, result.stderr[-2000:]
    rows = read_rows(tmp_path)
    assert len(rows) == 30
    assert _scalars(tmp_path) == {f"active/seed{s}": [(step, "score", step + s / 4) for step in range(0, 1000, 100)]
                                  for s in range(3)}


class FakeWandb:
    """Records what offon_jit asks of wandb: init's arguments, each run's log calls and finish."""

    __version__ = "0.21.0"

    def __init__(self):
        self.runs = []

    def init(self, **kwargs):
        run = FakeRun(kwargs)
        self.runs.append(run)
        return run


class FakeRun:
    def __init__(self, kwargs):
        self.kwargs, self.logged, self.finished = kwargs, [], 0

    def log(self, data, step):
        self.logged.append((step, data))

    def finish(self):
        self.finished += 1


def test_wandb_gets_one_run_per_label_and_seed_and_a_resume_recreates_them(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with MetricsWriter(tmp_path / "study", config=CONFIG) as writer:  # not asked: wandb untouched
        writer.write(_phase_rows(0, 0))
    assert fake.runs == []
    (tmp_path / "study" / METRICS_JSONL).unlink()

    settings = {"project": "p", "mode": "offline"}
    with MetricsWriter(tmp_path / "study", config=CONFIG, wandb=settings) as writer:
        for phase, step in BATCHES:
            writer.write(_phase_rows(phase, step))
        assert all(run.finished == 0 for run in fake.runs)
    rows = read_rows(tmp_path / "study")
    names = [run.kwargs["name"] for run in fake.runs]
    assert names == ["active/seed0", "active/seed1", "tandem/seed0", "tandem/seed1", f"{AUTO}/seed0", f"{AUTO}/seed1"]
    for run in fake.runs:
        label, seed = run.kwargs["name"].rsplit("/seed", 1)
        mine = [r for r in rows if row_label(r) == label and r["seed"] == int(seed)]
        assert run.kwargs["project"] == "p" and run.kwargs["mode"] == "offline" and run.kwargs["group"] == "study"
        assert run.kwargs["reinit"] == "create_new" and run.kwargs["config"] == run_hparams(mine[0], CONFIG)
        assert run.logged == [(r["env_steps"], {k: float(v) for k, v in r.items() if k in METRICS and v is not None})
                              for r in mine]
        assert run.finished == 1

    truncate_rows(tmp_path / "study", 100, {"passive_auto"}, set())
    first = len(fake.runs)
    with MetricsWriter(tmp_path / "study", config=CONFIG, wandb=settings, rebuild=True) as writer:
        writer.write(_phase_rows(1, 200))
    resumed = {run.kwargs["name"]: run for run in fake.runs[first:]}
    assert len(resumed) == 6 and [s for s, _ in resumed[f"{AUTO}/seed0"].logged] == [0, 100, 200]
    assert len(resumed["active/seed1"].logged) == 4


@pytest.mark.parametrize("module,settings,message", [
    (None, {}, r"wandb is not installed: pip install wandb$"),
    ("old", {}, r"needs wandb >= 0\.19\.10 \(installed: 0\.16\.2\): pip install -U wandb$"),
    ("fake", {"projetc": "p"}, r"unknown projetc \(known: project, entity"),
    ("fake", {"mode": "cloud"}, r"mode 'cloud' is not one of online, offline, disabled$"),
])
def test_wandb_problems_are_one_line_errors_before_any_file_is_written(tmp_path, monkeypatch, module, settings,
                                                                       message):
    fake = FakeWandb()
    if module == "old":
        fake.__version__ = "0.16.2"
    monkeypatch.setitem(sys.modules, "wandb", None if module is None else fake)
    with pytest.raises(ValueError, match=message) as error:
        MetricsWriter(tmp_path / "run", wandb=settings)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists() and fake.runs == []


def test_reopening_a_run_repairs_a_csv_a_kill_cut_short_and_changes_nothing_else(tmp_path):
    _write_all(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in (METRICS_JSONL, METRICS_CSV)}
    scalars = _scalars(tmp_path)
    csv_lines = before[METRICS_CSV].decode().splitlines(keepends=True)
    (tmp_path / METRICS_CSV).write_text("".join(csv_lines[:-3]) + csv_lines[-3][:10], newline="")  # killed mid-append
    MetricsWriter(tmp_path, config=CONFIG, rebuild=True).close()
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert _scalars(tmp_path) == scalars
    assert sorted(os.listdir(tmp_path / "tensorboard" / "active")) == ["seed0", "seed1"]


def test_a_new_writer_refuses_a_run_that_has_metrics_and_changes_nothing(tmp_path):
    _write_all(tmp_path)
    files = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    with pytest.raises(ValueError, match=r"metrics.jsonl already holds metrics: only a resume \(rebuild=True\)"):
        MetricsWriter(tmp_path, config=CONFIG)
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == files


def test_a_failing_wandb_warns_once_and_the_study_goes_on(tmp_path, monkeypatch, capsys):
    fake = FakeWandb()

    def refuse(**kwargs):
        fake.runs.append(kwargs)
        raise RuntimeError("api key not configured\nrun wandb login")

    fake.init = refuse
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with MetricsWriter(tmp_path, config=CONFIG, wandb={"mode": "online"}) as writer:
        writer.write(_phase_rows(0, 0))
        writer.write(_phase_rows(0, 100))
    assert len(fake.runs) == 1 and len(read_rows(tmp_path)) == 8
    assert capsys.readouterr().err == ("warning: W&B logging stopped (api key not configured); the run and its "
                                       "metrics files go on without it\n")
    assert _scalars(tmp_path) == _expected_scalars(read_rows(tmp_path))
