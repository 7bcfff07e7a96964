"""The device-scaling benchmark's quick mode writes a consistent result (one device in-process;
multi-device correctness is tested in tests/engine/test_sharding.py)."""

import json
import math

import pytest

from benchmarks import device_scaling


@pytest.mark.slow  # a benchmark's quick mode, not a correctness check: kept out of CI's 15-minute budget
def test_quick_mode_writes_consistent_result(tmp_path):
    payload = device_scaling.main(["--quick", "--out-dir", str(tmp_path), "--device-counts", "1",
                                   "--chunk-env-steps", "16", "--batch-size", "2", "--seq-len", "8"])
    [path] = tmp_path.glob("device_scaling-*-quick.json")
    saved = json.loads(path.read_text())
    assert saved["results"] == json.loads(json.dumps(payload["results"]))
    [row] = saved["results"]
    config_steps = saved["settings"]["chunk_env_steps"] * saved["settings"]["num_seeds"]
    assert row["devices"] == 1 and row["speedup_vs_first"] == 1.0
    assert len(row["chunk_seconds"]) == saved["settings"]["repeats"]
    assert math.isclose(row["env_steps_per_s"], config_steps / row["median_chunk_s"])
    assert math.isclose(row["updates_per_s"], row["env_steps_per_s"] / 2)  # one update per 2 env steps
    assert row["compile_s"] > 0 and row["median_chunk_s"] > 0
