"""Seeds sharded over devices and processes give the results of one unsharded program.

JAX fixes the CPU device count at start-up, so the multi-device runs happen in
subprocesses: `sharded_study.py` with 4 forced CPU devices (1-device reference,
4-device run killed and resumed), and a two-process `jax.distributed` job on
loopback with 2 CPU devices per process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import types

import jax
import pytest

from offon_jit.config import ConfigError
from offon_jit.engine import multihost
from offon_jit.engine.placement import choose_device_count, make_placement, pick_devices
from offon_jit.metrics_log import read_rows
from tests.engine.sharded_study import STUDY
from tests.engine.compare import assert_rows_close

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))


def subprocess_env(devices: int) -> dict:
    env = dict(os.environ)
    env.update(
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        # The test session's persistent compile cache: the resumed study reuses the killed one's programs.
        JAX_COMPILATION_CACHE_DIR=str(jax.config.jax_compilation_cache_dir),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="1",
    )
    return env


def check(process: subprocess.CompletedProcess | subprocess.Popen, output: str = "") -> None:
    assert process.returncode == 0, f"subprocess failed ({process.returncode}):\n{output[-4000:]}"


@pytest.fixture(scope="module")
def sharded_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    done = subprocess.run([sys.executable, os.path.join(HERE, "sharded_study.py"), str(out)], env=subprocess_env(4),
                          capture_output=True, text=True, timeout=900)
    check(done, done.stdout + done.stderr)
    return out, json.loads((out / "report.json").read_text())


def test_sharded_run_equals_unsharded_and_lives_on_four_devices(sharded_runs):
    out, report = sharded_runs
    assert report["placement"] == "8 runs over 4 cpu device(s) in 1 process(es), 2 per device"
    for agent, shards in report["shards"].items():
        assert sorted(s["device"] for s in shards) == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"], agent
        assert sorted(tuple(s["runs"]) for s in shards) == [(0, 2), (2, 4), (4, 6), (6, 8)], agent
    for agent, diff in report["max_abs_diff"].items():
        assert diff < 1e-3, f"{agent}: sharded parameters differ by {diff}"
    # The sharded run was killed in its Passive phase and resumed from the sharded checkpoint.
    assert_rows_close(read_rows(out / "one_device"), read_rows(out / "four_devices"), rtol=1e-3, atol=1e-3)


@pytest.mark.slow  # two processes compile the whole study (~70 s on 2 cores): -m slow
def test_two_processes_complete_a_study_and_merge_outputs(sharded_runs, tmp_path):
    reference, _ = sharded_runs
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "two_processes"
    # Active then Passive: the Passive phase loads each process's own seeds' buffers from disk.
    flags = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, tuple) else v}" for k, v in STUDY.items()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "offon_jit.cli", "run", *flags, f"--out-dir={out}", "--no-progress", "--devices=4",
             f"--coordinator=127.0.0.1:{port}", "--num-processes=2", f"--process-id={pid}"],
            env=subprocess_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for pid in range(2)
    ]
    for process in processes:
        output, _ = process.communicate(timeout=900)
        check(process, output)
    # Each process wrote only the seeds it held; process 0 merged them.
    assert {r["seed"] for r in read_rows(out / "process0")} == {0, 1, 2, 3}
    assert {r["seed"] for r in read_rows(out / "process1")} == {4, 5, 6, 7}
    merged = read_rows(out)
    assert len(merged) == 2 * 8 * 3  # agents x seeds x eval points (env step 0, 16, 32)
    # Active and Passive runs do not depend on whether a Tandem trained beside them.
    expected = [r for r in read_rows(reference / "one_device") if r["agent"] != "tandem"]
    assert_rows_close(expected, merged, rtol=1e-3, atol=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["placement"] == "8 runs over 4 cpu device(s) in 2 process(es), 2 per device"
    assert set(summary["final"]) == {"active", "passive"}
    assert sorted(p.name for p in (out / "buffers").iterdir()) == [f"active_seed{s}.npz" for s in range(8)]
    assert sorted(p.name for p in (out / "batch_indices").iterdir()) == [f"seed{s}" for s in range(8)]
    assert (out / "plots" / "score.png").exists()


def test_device_count_choice_and_errors():
    assert choose_device_count(8, 0, 4) == 4
    assert choose_device_count(6, 0, 4) == 3  # the most devices that divide the seeds evenly
    assert choose_device_count(3, 0, 8) == 3
    assert choose_device_count(8, 2, 4) == 2
    assert choose_device_count(8, 0, 4, multiple_of=2) == 4
    with pytest.raises(ConfigError, match=r"6 runs \(seeds\) do not divide over 4 devices.*\[1, 2, 3\]"):
        choose_device_count(6, 4, 4)
    with pytest.raises(ConfigError, match="only 1 JAX devices are visible"):
        choose_device_count(8, 2, 1)
    with pytest.raises(ConfigError, match="cannot be split evenly over 2 processes"):
        choose_device_count(3, 0, 4, multiple_of=2)
    with pytest.raises(ConfigError, match="devices must be >= 0"):
        choose_device_count(2, -1, 1)


def test_mesh_takes_the_same_number_of_devices_from_every_process():
    fake = [types.SimpleNamespace(process_index=p, id=10 * p + i) for p in (0, 1) for i in range(4)]
    assert [d.id for d in pick_devices(fake, 4)] == [0, 1, 10, 11]
    assert [d.id for d in pick_devices(fake, 16)] == [0, 1, 2, 3, 10, 11, 12, 13]
    with pytest.raises(ConfigError, match="in 2 processes"):
        pick_devices(fake, 6, 3)


def test_one_device_placement_round_trips_local_data():
    placement = make_placement(2, 1)
    tree = {"a": jax.numpy.arange(6.0).reshape(2, 3), "b": jax.numpy.array([1, 2])}
    local = placement.to_local(placement.from_local(placement.to_local(tree)))
    assert (local["a"] == tree["a"]).all() and (local["b"] == tree["b"]).all()
    with pytest.raises(ValueError, match="3 runs on its leading axis, this process holds 2"):
        placement.from_local(jax.numpy.zeros((3, 1)))


def test_distributed_config_from_flags_and_environment():
    env = {"OFFON_JIT_COORDINATOR": "10.0.0.1:1234", "OFFON_JIT_NUM_PROCESSES": "4", "OFFON_JIT_PROCESS_ID": "2"}
    config = multihost.DistributedConfig.from_env(env)
    assert (config.coordinator, config.num_processes, config.process_id, config.enabled) == ("10.0.0.1:1234", 4, 2, True)
    assert multihost.DistributedConfig.from_env(env, process_id=3).process_id == 3  # flags win
    assert not multihost.DistributedConfig.from_env({}).enabled
    assert multihost.DistributedConfig.from_env({"OFFON_JIT_DISTRIBUTED": "auto"}).auto
    with pytest.raises(ConfigError, match="process_id must be in"):
        multihost.DistributedConfig.from_env(env, process_id=4)
    with pytest.raises(ConfigError, match="host:port"):
        multihost.DistributedConfig.from_env({**env, "OFFON_JIT_COORDINATOR": "nohost"})
    with pytest.raises(ConfigError, match="not a valid int"):
        multihost.DistributedConfig.from_env({**env, "OFFON_JIT_NUM_PROCESSES": "four"})
    with pytest.raises(ConfigError, match="need a coordinator"):
        multihost.DistributedConfig.from_env({"OFFON_JIT_NUM_PROCESSES": "2"})
