"""Each benchmark script's quick mode, in-process, writing into one temporary results folder.

The engine-level scripts run the engine tests' small MinAtar study settings
(tests/engine/test_engine.py SMALL): identical programs hit the persistent compilation
cache that tests/conftest.py enables, so the suite compiles them once. The checks are on
the saved JSON: valid, positive finite numbers, and rates consistent with the raw times.
"""

import json
import math
import statistics

import numpy as np
import pytest

import envs
from benchmarks import compile_memory, profile_step, report, seed_scaling, study_throughput
from benchmarks.common import save_result
from offon_jit.engine.transitions import replay_schema

# About 3.5 minutes of study runs and compiles on the 2-core CI machine, which would push the
# suite past its 15-minute budget: run with `pytest -m slow tests/benchmarks`.
pytestmark = pytest.mark.slow

# The engine tests' SMALL study: MinAtar Breakout, tiny preset, batch 4 x 16, 32 env steps per
# eval chunk, prefill 64, 40-step episodes. Buffers must hold 2 chunks + prefill = 128 steps as
# there: seed_scaling sizes them for warmup + repeats chunks, compile_memory for 2.
ENGINE = ["--task", "minatar/breakout", "--batch-size", "4", "--seq-len", "16", "--prefill", "64", "--episode-length", "40"]


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def load(path) -> dict:
    with open(path) as file:
        record = json.load(file)
    assert record["quick"] is True
    assert {"jax_version", "backend", "device", "cpu_count"} <= record["machine"].keys()
    return record


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench_results")


@pytest.fixture(scope="module")
def seed_scaling_record(results_dir):
    out = seed_scaling.main(["--quick", "--out-dir", str(results_dir), *ENGINE, "--seeds", "1", "2",
                             "--chunk-env-steps", "32", "--repeats", "1", "--warmup", "1"])  # fmt: skip
    return load(out["path"])


@pytest.fixture(scope="module")
def study_record(results_dir, seed_scaling_record):
    out = study_throughput.main([
        "--quick", "--out-dir", str(results_dir), *ENGINE, "--seeds", "2", "--env-steps", "64", "--eval-interval", "32",
        "--eval-episodes", "2", "--projection-chunk-env-steps", "32", "--repeats", "1", "--warmup", "0",
    ])  # fmt: skip
    return load(out["path"])


@pytest.fixture(scope="module")
def compile_memory_record(results_dir, study_record):
    out = compile_memory.main(["--quick", "--out-dir", str(results_dir), *ENGINE, "--seeds", "1", "2",
                               "--chunk-env-steps", "32", "--capacity", "0"])  # fmt: skip
    return load(out["path"])


@pytest.fixture(scope="module")
def profile_record(results_dir, tmp_path_factory, compile_memory_record):
    profiles = tmp_path_factory.mktemp("profiles")
    out = profile_step.main(["--quick", "--out-dir", str(results_dir), "--profile-dir", str(profiles),
                             "--batch-size", "2", "--seq-len", "8", "--repeats", "2", "--trace-steps", "1",
                             "--parts", "world_model_update"])  # fmt: skip
    return load(out["path"]), profiles


def check_rates(mode: dict, seeds: int, updates: int, env_steps: int, repeats: int) -> None:
    assert len(mode["times_s"]) == repeats and all(positive_finite(t) for t in mode["times_s"])
    seconds = statistics.median(mode["times_s"])
    assert mode["median_s"] == pytest.approx(seconds)
    assert mode["updates_per_s"] == pytest.approx(seeds * updates / seconds)
    assert mode["env_steps_per_s"] == pytest.approx(seeds * env_steps / seconds)
    assert mode["updates_per_s_per_seed"] * seeds == pytest.approx(mode["updates_per_s"])
    assert mode["env_steps_per_s_per_seed"] * seeds == pytest.approx(mode["env_steps_per_s"])


def test_seed_scaling(seed_scaling_record):
    record = seed_scaling_record
    assert record["benchmark"] == "seed_scaling" and record["task"] == "minatar/breakout"
    (preset,) = record["presets"]
    assert preset["preset"] == "tiny"
    # 32 env steps per seed per chunk at one update every 2nd env step.
    assert preset["env_steps_per_chunk_per_seed"] == 32 and preset["updates_per_chunk_per_seed"] == 16
    assert [r["seeds"] for r in preset["rows"]] == [1, 2]
    for row in preset["rows"]:
        for mode in ("vmapped", "sequential"):
            check_rates(row[mode], row["seeds"], 16, 32, repeats=1)
        assert row["ratio_vmapped_over_sequential"] == pytest.approx(
            row["vmapped"]["updates_per_s"] / row["sequential"]["updates_per_s"])
        assert row["compile"]["lower_s"] > 0 and row["compile"]["compile_s"] >= 0
        assert row["memory_analysis"]["peak_estimate_bytes"] > 0
    one, two = preset["rows"]
    assert one["speedup_over_one_seed"] == pytest.approx(1.0)
    assert two["speedup_over_one_seed"] == pytest.approx(two["vmapped"]["updates_per_s"] / one["vmapped"]["updates_per_s"])
    # Two seeds carry exactly twice the run state into the program.
    assert two["memory_analysis"]["argument_bytes"] == 2 * one["memory_analysis"]["argument_bytes"]
    assert preset["target"]["measured"] is None and preset["target"]["met"] is None  # no 8-seed row in quick mode


def test_study_throughput(study_record):
    record = study_record
    study, steady, proj = record["study"], record["steady_state"], record["projection"]
    assert study["env_steps_all_agents_and_seeds"] == 64 * 2 * 3
    assert study["env_steps_per_s_end_to_end"] == pytest.approx(384 / study["total_wall_s"])
    assert study["summary"]["wall_time_s"] <= study["total_wall_s"]
    assert set(study["summary"]["phase_time_s"]) == {"active", "passive"}
    assert set(study["summary"]["final"]) == {"active", "passive", "tandem"}
    assert steady["reused_study_programs"] is True and steady["episode_length"] == 40
    t_active, t_passive = np.median(steady["active_tandem_chunk_s"]), np.median(steady["passive_chunk_s"])
    t_eval = np.median(steady["evaluate_one_agent_s"])
    assert all(positive_finite(x) for x in (t_active, t_passive, t_eval))
    # The projection is the stated formula applied to the measured medians (2 seeds: 6 runs, scaled to 9).
    expected = (1e6 / 32 * (t_active + t_passive) + 200 * 3 * t_eval * 500 / 40) * 9 / 6
    assert proj["projected_hours"] * 3600 == pytest.approx(expected)
    assert proj["runs"] == 9 and proj["measured_runs"] == 6 and proj["scaled_from_measured_runs"] is True
    assert proj["updates_per_run"] == 500_000
    assert proj["projected_hours_per_run"] == pytest.approx(proj["projected_hours"] / 9)
    assert proj["speedup_vs_paper"][0] == pytest.approx(72 / proj["projected_hours"])
    assert proj["updates_per_s_all_agents_and_seeds"] == pytest.approx(3 * 2 * 16 / (t_active + t_passive))
    assert proj["target_applies"] is False  # CPU


def test_compile_memory(compile_memory_record):
    record = compile_memory_record
    (preset,) = record["presets"]
    one, two = preset["rows"]
    spec = envs.get_task("minatar/breakout").spec
    bytes_per_step = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in replay_schema(spec).values())
    for row in (one, two):
        assert row["replay_capacity"] == 128
        # Exact from the shapes: 128 steps of the replay schema plus the per-stream counters.
        assert 0 <= row["state_per_seed"]["replay_buffer_bytes"] - 128 * bytes_per_step <= 64
        # Adam keeps two moments of every trained parameter (all but the small slow critic).
        assert row["state_per_seed"]["optimizer_bytes"] > row["state_per_seed"]["params_bytes"] > 0
        assert row["device_peak"] is None  # CPU keeps no allocator statistics
        for program in ("active_chunk", "offline_chunk"):
            mem = row[program]["memory_analysis"]
            live = mem["argument_bytes"] + mem["output_bytes"] - mem["alias_bytes"]
            assert mem["peak_estimate_bytes"] == live + mem["temp_bytes"]
            assert row[program]["lower_s"] > 0 and row[program]["compile_s"] >= 0
        # The Active chunk's arguments are the seeds' run states, nothing else.
        assert row["active_chunk"]["memory_analysis"]["argument_bytes"] == row["seeds"] * row["state_per_seed"]["run_total_bytes"]
    for program in ("active_chunk", "offline_chunk"):
        increment = preset["per_seed"][program]
        peaks = [row[program]["memory_analysis"]["peak_estimate_bytes"] for row in (one, two)]
        assert increment["peak_estimate_bytes"] == peaks[1] - peaks[0]
        assert increment["temp_bytes"] > 0
    assert "memory_analysis only" in record["memory_source"]


def test_profile_step(profile_record):
    record, profiles = profile_record
    (preset,) = record["presets"]
    parts = preset["parts"]
    assert list(parts) == ["train_step", "world_model_update"]
    for part in parts.values():
        assert len(part["times_s"]) == 2 and positive_finite(part["median_s"]) and positive_finite(part["flops"])
        assert part["fraction_of_train_step"] == pytest.approx(part["median_s"] / parts["train_step"]["median_s"])
    # The step does the world-model update and then the actor-critic update on top.
    assert parts["train_step"]["flops"] > parts["world_model_update"]["flops"]
    trace = preset["trace"]
    assert trace["file"].startswith(str(profiles)) and trace["file"].endswith(".xplane.pb")
    assert positive_finite(trace["op_self_time_ms"]) and trace["top_ops"]
    assert sum(c["fraction"] for c in trace["categories"]) == pytest.approx(1.0)
    shares = [op["fraction"] for op in trace["top_ops"]]
    assert shares == sorted(shares, reverse=True) and 0 < shares[0] <= 1
    assert any(op["op_name"] for op in trace["top_ops"])  # traced ops map back to the HLO's scopes


def test_report(results_dir, seed_scaling_record, study_record, compile_memory_record, profile_record):
    env_rows = [{"task": "minatar/breakout", "backend": "jax", "batch": 16, "steps_per_s": 123456.0,
                 "frames_per_s": 123456.0}]  # fmt: skip
    save_result("env_throughput", {"settings": {}, "results": env_rows}, results_dir, quick=True)
    peer = [{"implementation": "peer", "updates_per_s": 7.25}]
    save_result("peer_dreamerv3", {"results": peer}, results_dir, quick=False)
    stale = [{"implementation": "stale", "updates_per_s": 1.0}]
    save_result("peer_dreamerv3", {"results": stale}, results_dir, quick=True)
    out = report.main(["--results-dir", str(results_dir)])
    (label,) = out["machines"]
    with open(out["reports"][label]) as file:
        text = file.read()
    for title in ("## Env throughput", "## Seed scaling", "## Study throughput", "## Compile time and memory",
                  "## Training-step profile", "## peer_dreamerv3"):  # fmt: skip
        assert title in text
    assert "123,456" in text and "| peer | 7.250 |" in text
    assert "stale" not in text  # a quick result is dropped where the full one exists
    speedup = seed_scaling_record["presets"][0]["rows"][1]["ratio_vmapped_over_sequential"]
    assert f"{speedup:,.2f}" in text
