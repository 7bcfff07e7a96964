"""The checkpoint-I/O benchmark's quick mode writes a consistent result, and the report renders it."""

import json

import pytest

from benchmarks import checkpoint_io, report


@pytest.mark.slow  # a benchmark's quick mode, not a correctness check: kept out of CI's 15-minute budget
def test_quick_mode_writes_consistent_result(tmp_path):
    checkpoint_io.main(["--quick", "--out-dir", str(tmp_path), "--sizes", "1000", "2000", "--agent-mb", "1"])
    [path] = tmp_path.glob("checkpoint_io-*-quick.json")
    record = json.loads(path.read_text())
    small, large = record["sizes"]
    assert record["quick"] is True and record["obs_source"].startswith("uniform noise")
    # Noise does not compress: the whole buffer is written before, one interval (1000 steps) after.
    step = record["bytes_per_stored_step"]
    for row in (small, large):
        assert row["before"]["bytes"] >= row["stored_steps"] * step
        assert 1000 * step <= row["increment_raw"]["shard_bytes"] < 1000 * step + 4096
        assert row["after_raw"]["bytes"] == row["after_orbax"]["bytes"] + row["increment_raw"]["bytes"]
    assert large["increment_raw"]["shard_bytes"] == small["increment_raw"]["shard_bytes"]
    assert large["before"]["bytes"] > small["before"]["bytes"] + 900 * step
    chain = record["chain"]
    assert chain["restore_bitwise_equal"] is True and chain["checkpoints"] == 2
    proj = record["projection"]
    assert proj["protocol"]["checkpoints"] == 200
    assert proj["before"]["bytes_total_study"] > proj["after_raw"]["bytes_total_study"]
    assert proj["after_raw"]["seconds_total_study"] == pytest.approx(200 * proj["after_raw"]["seconds_per_checkpoint"])
    out = report.main(["--results-dir", str(tmp_path), "--stdout"])
    assert out["machines"]
