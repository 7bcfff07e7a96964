"""A pixel study inside the jitted programs: DreamerV3 on JAX-rendered `dmc/cheetah_run-vision` with
passive_fixed swept over two burst intervals and tandem_alpha over two alphas.

Checked: the study runs on the JAX simulator (no dm_control), every swept run's bursts have the
schedule's sizes and hold freshly started, rendered frames, the Active's data under them is unchanged,
and the swept values train different agents. `benchmarks/results/vision_study-cpu-cpu-2cores/` is a
larger run of the same study (400 env steps, 2 seeds).
"""

import jax
import numpy as np
import pytest

from offon_jit.config import RunConfig
from offon_jit.engine.programs import JaxSimulator
from offon_jit.metrics_log import read_rows
from offon_jit.replay import load_buffer
from tests.engine.bursts import assert_bursts_follow_active_data
from tests.engine.compare import run_keeping_final_states

BURST = 20
NUM_ENVS = 2
PER_STREAM = BURST // NUM_ENVS
VISION = dict(task="dmc/cheetah_run-vision", backend="jax", agents=("active", "passive_fixed", "tandem_alpha"),
              num_seeds=1, env_steps=96, eval_interval=48, prefill=32, num_envs=NUM_ENVS, train_every=8,
              batch_size=2, seq_len=8, eval_episodes=1, episode_length=20, burst_steps=BURST,
              fixed_intervals=(24, 48), tandem_alphas=(0.1, 0.5))


@pytest.mark.slow  # three DreamerV3 pixel programs compile: 4 minutes on a quiet 2-core CPU
def test_vision_study_runs_bursts_and_swept_axes_in_jit(tmp_path):
    config = RunConfig(**VISION, out_dir=str(tmp_path / "vision"))
    study, _, finals = run_keeping_final_states(config)
    assert isinstance(study.simulator, JaxSimulator)

    active = load_buffer(study.layout.active_buffer("seed0"))
    run = finals["passive_fixed"]["passive_fixed"]
    for index, bursts in enumerate([3, 1]):  # N = 24: due at env steps 24, 48 and 72; N = 48: at 48
        frames = assert_bursts_follow_active_data(run, index, active, bursts, BURST, PER_STREAM)
        assert frames.shape[-3:] == (64, 64, 3) and frames.dtype == np.uint8
        for burst in range(bursts):
            assert frames[:, burst * PER_STREAM].std() > 10  # a drawn scene, not an empty frame

    rows = [r for r in read_rows(study.run_dir) if r["env_steps"] == VISION["env_steps"]]
    fixed = {r["hparam_value"]: r["self_generated_steps"] for r in rows if r["agent"] == "passive_fixed"}
    assert fixed == {24: 3 * BURST, 48: BURST}
    tandem = [r for r in rows if r["agent"] == "tandem_alpha"]
    assert sorted(r["hparam_value"] for r in tandem) == [0.1, 0.5]
    assert all(np.isfinite(r["score"]) and np.isfinite(r["eval_wm_loss"]) for r in tandem)
    weights = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(finals["tandem_alpha"]["tandem_alpha"].agent)
               if np.issubdtype(np.asarray(leaf).dtype, np.floating)]
    largest = max(weights, key=np.size)  # runs axis first: alpha 0.1, then 0.5
    assert not np.allclose(largest[0], largest[1])  # the two alphas trained different agents
