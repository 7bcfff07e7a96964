"""The host-backend driver runs the same agents through Python simulators (original MinAtar).

Only the Active agent: its collection loop and the host evaluation are what the host
driver adds; Passive and Tandem updates are the jitted functions the JAX path tests.
"""

import numpy as np
import pytest

from offon_jit.config import ConfigError, RunConfig
from offon_jit.engine.host_driver import HostStudy
from offon_jit.metrics_log import read_rows
from offon_jit.replay import load_buffer


def test_host_driver_runs_the_active_agent_end_to_end(tmp_path):
    config = RunConfig(task="minatar/breakout", backend="host", agents=("active",), num_seeds=2, env_steps=32, eval_interval=16,
                       prefill=64, batch_size=4, seq_len=16, eval_episodes=2, episode_length=30,
                       checkpoint_every=0, out_dir=str(tmp_path / "host"))
    study = HostStudy(config, progress=False)
    study.run()
    rows = read_rows(tmp_path / "host")
    assert sorted((r["seed"], r["env_steps"]) for r in rows) == [(0, 16), (0, 32), (1, 16), (1, 32)]
    for row in rows:
        assert np.isfinite(row["score"]) and row["eval_wm_loss"] > 0 and np.isfinite(row["ood_ratio"])
        assert 1 <= row["episode_length"] <= 30
    buffer = load_buffer(tmp_path / "host" / "buffers" / "active_seed0.npz")
    assert int(buffer.total_added) == 64 + 32
    obs = np.asarray(buffer.data["obs"])
    assert set(np.unique(obs)) <= {0, 255} and obs.max() == 255  # real MinAtar frames were stored
    # The two seeds drove different envs and different policies.
    other = load_buffer(tmp_path / "host" / "buffers" / "active_seed1.npz")
    assert not np.array_equal(np.asarray(other.data["action"]), np.asarray(buffer.data["action"]))
    with pytest.raises(ConfigError, match="cannot be resumed"):
        HostStudy(config, progress=False).run(resume=True)
