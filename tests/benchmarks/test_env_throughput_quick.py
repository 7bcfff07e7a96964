"""The env-throughput benchmark's quick mode (cut to its cheapest tasks) writes a consistent result."""

import json
import math
import statistics

import pytest

from benchmarks import env_throughput


@pytest.mark.slow  # a benchmark's quick mode, not a correctness check: kept out of CI's 15-minute budget
def test_quick_mode_writes_consistent_result(tmp_path):
    out = env_throughput.main(["--quick", "--out-dir", str(tmp_path), "--jax-tasks", "minatar/breakout",
                               "--jax-batches", "4", "--host-tasks", "minatar/breakout", "--vision-tasks"])
    [path] = tmp_path.glob("env_throughput-*-quick.json")
    saved = json.loads(path.read_text())
    rows = saved["results"]
    assert rows == json.loads(json.dumps(out["results"]))
    kinds = [(r["backend"], r.get("reset")) for r in rows]
    assert kinds.count(("jax", None)) == 1 and kinds.count(("host", None)) == 2  # host batches 1 and 4
    assert {r["reset"] for r in rows if "seeds" in r} == {"plain (select)", "reduced over seeds (cond)"}
    for row in rows:
        assert len(row["times_s"]) == saved["settings"]["repeats"]
        median = statistics.median(row["times_s"])
        assert math.isclose(row["steps_per_s"], row["batch"] * row["steps_per_call"] / median, rel_tol=1e-9)
        assert row["frames_per_s"] == row["steps_per_s"]  # MinAtar: action repeat 1
