"""The peer comparison benchmark: its quick mode writes a valid result without the peer, and
the plain-Python pieces of the peer runner compute throughput and configs correctly.

The run with the peer itself (its venv, ~1-3 minutes of compiles) is opt-in:
OFFON_JIT_PEER_TEST=1 with the venv at OFFON_JIT_PEER_VENV or the default path.
"""

import json
import os
import pathlib

import pytest

from benchmarks import peer_dreamerv3 as bench
from benchmarks.peer import run_peer
from benchmarks.peer import venv as peer_venv


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("peer_quick")
    missing = out / "no-peer-venv"
    result = bench.main(["--quick", "--no-install", "--peer-venv", str(missing), "--seeds", "2",
                         "--compile-cache", "none", "--out-dir", str(out)])
    return out, missing, result


@pytest.mark.slow  # trains our side of the benchmark: kept out of CI's 15-minute budget like the other quick modes
def test_quick_without_peer_records_why_and_our_numbers(quick_result):
    out, missing, result = quick_result
    path = out / os.path.basename(result["path"])
    assert path.exists() and path.name.startswith("peer_dreamerv3-") and path.name.endswith("-quick.json")
    record = json.loads(path.read_text())
    assert record["benchmark"] == "peer_dreamerv3" and record["quick"] is True

    peer = record["peer"]
    assert peer["status"] == "not installed"
    assert str(missing) in peer["reason"] and "--no-install" in peer["reason"]
    assert record["comparison"]["available"] is False

    settings = record["settings"]
    assert settings["seeds"] == [2] and settings["preset"] == "tiny"
    assert settings["replay_ratio"] == settings["batch_size"] * settings["seq_len"] / settings["train_every"]
    (run,) = record["ours"]["runs"]
    assert run["num_seeds"] == 2 and run["backend"] == "host" and settings["rounds"] == 1
    (one,) = run["rounds"]
    # Every seed did exactly the configured work: loop steps and one update per train_every steps.
    assert one["final_env_steps"] == [settings["loop_steps"]] * 2
    assert one["final_train_steps"] == [settings["loop_steps"] // settings["train_every"]] * 2
    assert len(one["chunk_times_s"]) == settings["warmup_segments"] + settings["segments"]
    assert run["segments"] == one["segments"] and len(run["segments"]) == settings["segments"]
    updates = settings["segment_steps"] // settings["train_every"]
    for seg, seconds in zip(run["segments"], one["chunk_times_s"][settings["warmup_segments"]:]):
        assert seg["seconds"] == seconds > 0
        assert seg["per_seed_updates_per_s"] == pytest.approx(updates / seconds)
        assert seg["aggregate_updates_per_s"] == pytest.approx(2 * updates / seconds)
        assert seg["aggregate_env_steps_per_s"] == pytest.approx(2 * settings["segment_steps"] / seconds)
    assert run["median_aggregate_updates_per_s"] == pytest.approx(2 * run["median_per_seed_updates_per_s"])

    counts = record["ours"]["param_counts"]
    modules = ("encoder", "rssm", "decoder", "reward", "continue", "actor", "critic")
    assert counts["total"] == sum(counts[m] for m in modules) > 0
    assert record["ours"]["model"]["deter"] == 64  # the tiny preset


def test_segment_throughput_from_marks():
    # (time, env steps, updates) at each batched env step of 4 envs; the loop starts at 8 steps.
    marks = [(0.0, 4, 0), (1.0, 8, 0), (2.0, 12, 2), (3.0, 16, 4), (5.0, 20, 6), (6.0, 24, 8), (10.0, 28, 10)]
    # Segment 0 would span loop steps 16 -> 24, segment 1 24 -> 32: past the run's last mark (28).
    with pytest.raises(ValueError, match="before the segment boundary 32"):
        run_peer.segment_throughput(marks, 8, 8, 1, 2)
    rows = run_peer.segment_throughput(marks, start_steps=8, segment_steps=4, warmup_segments=1, segments=3)
    assert [(r["seconds"], r["env_steps"], r["updates"]) for r in rows] == [(1.0, 4, 2), (2.0, 4, 2), (1.0, 4, 2)]
    assert [r["updates_per_s"] for r in rows] == [2.0, 1.0, 2.0]
    assert [r["env_steps_per_s"] for r in rows] == [4.0, 2.0, 4.0]
    # A boundary between marks snaps to the first mark past it (env steps come in batches).
    (row,) = run_peer.segment_throughput(marks, start_steps=7, segment_steps=6, warmup_segments=1, segments=1)
    # Boundaries 13 and 19 snap to the marks at 16 (t 3) and 20 (t 5).
    assert (row["seconds"], row["env_steps"], row["updates"]) == (2.0, 4, 2)
    with pytest.raises(ValueError, match="segments >= 1"):
        run_peer.segment_throughput(marks, 8, 4, 1, 0)


def test_rounds_pool_and_ratios_against_targets():
    def ours_round(n, seconds):
        rows = [{"per_seed_updates_per_s": 8 / t, "per_seed_env_steps_per_s": 16 / t,
                 "aggregate_updates_per_s": n * 8 / t, "aggregate_env_steps_per_s": n * 16 / t} for t in seconds]
        return {"num_seeds": n, "backend": "host", "segments": rows}

    one = bench.pool_our_rounds([ours_round(1, [2.0, 4.0]), ours_round(1, [1.0])])
    four = bench.pool_our_rounds([ours_round(4, [4.0]), ours_round(4, [8.0, 2.0])])
    assert len(one["rounds"]) == 2 and len(one["segments"]) == 3
    assert one["median_per_seed_updates_per_s"] == 4.0  # segments of 2, 4 and 1 s: 4, 2, 8 updates/s
    assert four["median_aggregate_updates_per_s"] == 8.0 and four["median_per_seed_updates_per_s"] == 2.0

    def peer_round(seconds):
        return {"status": "ran", "version": "1.1.0", "warmup_s": 1.0, "wall_s": 9.0, "subprocess_wall_s": 10.0,
                "load_average": (1.0, 1.0, 1.0), "total_updates": 24, "total_env_steps": 48,
                "segments": [{"updates_per_s": 8 / t, "env_steps_per_s": 16 / t} for t in seconds]}

    peer = bench.pool_peer_rounds([peer_round([4.0]), peer_round([8.0, 2.0])])
    assert peer["status"] == "ran" and len(peer["rounds"]) == 2
    assert peer["median_updates_per_s"] == 2.0 and peer["median_env_steps_per_s"] == 4.0
    comparison = bench.ratios([one, four], peer)
    assert comparison["per_seed_updates_ratio"] == 2.0 and comparison["meets_per_seed_target"]
    assert comparison["aggregate_ratio_at_seeds"] == 4 and comparison["aggregate_updates_ratio"] == 4.0
    assert not comparison["meets_aggregate_target"]  # 4x < the 5x target
    assert comparison["per_seed_updates_ratio_by_seeds"] == {1: 2.0, 4: 1.0}
    failed = bench.ratios([one], {"status": "failed", "reason": "run_peer.py exited with 1"})
    assert failed == {"available": False, "reason": "peer failed: run_peer.py exited with 1"}


def test_peer_config_matches_our_settings():
    settings = bench.Settings(task="dmc/cheetah_run-proprio", preset="xs", batch_size=8, seq_len=32, num_envs=4,
                              train_every=2, segment_steps=16, warmup_segments=1, segments=2, seeds=(1, 4))
    request = bench.peer_settings(settings, logdir="/tmp/x", compile_cache=None)
    updates = run_peer.peer_config_updates(request)
    assert updates["task"] == "dmc_cheetah_run"
    assert updates["run.train_ratio"] == 8 * 32 / 2  # replayed steps per env step, as ours
    assert (updates["batch_size"], updates["batch_length"], updates["envs.amount"]) == (8, 32, 4)
    assert updates["jax.precision"] == "float32"
    # The xs preset everywhere, including the encoder/decoder MLPs that v1's size patterns miss.
    assert (updates["rssm.deter"], updates["rssm.units"], updates["rssm.stoch"], updates["rssm.classes"]) == (256, 256, 32, 32)
    for net in ("encoder", "decoder"):
        assert (updates[f"{net}.mlp_units"], updates[f"{net}.mlp_layers"]) == (256, 1)
    for net in ("reward_head", "cont_head", "actor", "critic"):
        assert (updates[f"{net}.units"], updates[f"{net}.layers"]) == (256, 1)
    assert settings.prefill == 8 * 32 and settings.loop_steps == 48


def test_peer_install_failure_is_recorded_with_its_reason(tmp_path):
    venv = tmp_path / "venv"
    missing = bench.ensure_peer(venv, install=False, python="python3.11")
    assert missing["status"] == "not installed" and str(venv) in missing["reason"]
    failed = bench.ensure_peer(venv, install=True, python=str(tmp_path / "no-such-python"))
    assert failed["status"] == "install failed"
    assert "no-such-python" in failed["reason"] and "could not start" in failed["reason"]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="DMC proprio"):
        bench.Settings(task="minatar/breakout", preset="tiny", batch_size=4, seq_len=16, num_envs=4, train_every=2,
                       segment_steps=32, warmup_segments=1, segments=2, seeds=(1,)).validate()
    with pytest.raises(ValueError, match="multiple of max"):
        bench.Settings(task="dmc/cheetah_run-proprio", preset="tiny", batch_size=4, seq_len=16, num_envs=4,
                       train_every=2, segment_steps=30, warmup_segments=1, segments=2, seeds=(1,)).validate()
    with pytest.raises(SystemExit):
        bench.main(["--seeds", "0,2", "--skip-peer"])


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("OFFON_JIT_PEER_TEST") != "1" or peer_venv.check_venv(peer_venv.DEFAULT_VENV) is not None,
                    reason="opt-in: OFFON_JIT_PEER_TEST=1 and a peer venv (python -m benchmarks.peer_dreamerv3 creates it)")
def test_quick_with_peer_runs_both_sides(tmp_path):
    result = bench.main(["--quick", "--no-install", "--seeds", "1", "--compile-cache", "none", "--out-dir", str(tmp_path)])
    record = json.loads(pathlib.Path(result["path"]).read_text())
    peer = record["peer"]
    assert peer["status"] == "ran" and peer["version"] == "1.1.0" and peer["install_status"] == "installed"
    settings = record["settings"]
    assert len(peer["segments"]) == settings["segments"]
    for seg in peer["segments"]:
        assert seg["env_steps"] == settings["segment_steps"]
        assert abs(seg["updates"] - settings["segment_steps"] // settings["train_every"]) <= 1
    # Same model: the peer configured to our preset has our parameter count.
    assert peer["param_counts"]["total"] == record["ours"]["param_counts"]["total"]
    comparison = record["comparison"]
    assert comparison["available"] and comparison["per_seed_updates_ratio"] == pytest.approx(
        record["ours"]["runs"][0]["median_per_seed_updates_per_s"] / peer["median_updates_per_s"])
