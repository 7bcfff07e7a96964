"""Learning signal of the model-free families: an Active agent beats a random policy measured in the same test.

Slow (minutes on a 2-core CPU): DQN on MinAtar Breakout (30K env steps, epsilon annealed over the
first 20K) and SAC on DMC cheetah_run-proprio (20K env steps; a 2-seed pilot scored 43 and 58 there,
a random policy 6.6), each with the family's run defaults.
The quick check in the default suite is that each family's loss falls on a fixed batch (tests/agents).
"""

import jax
import numpy as np
import pytest

from offon_jit.config import RunConfig
from offon_jit.engine.study import Study
from offon_jit.metrics_log import read_rows
from tests.engine.test_learning import random_policy_score

CASES = {
    # (task, env steps, eval interval, model overrides, required margin over the random policy's mean score)
    "dqn": ("minatar/breakout", 30_000, 10_000, (("eps_decay_updates", 5_000),), 1.0),
    "sac": ("dmc/cheetah_run-proprio", 20_000, 10_000, (), 15.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("algo", sorted(CASES))
def test_active_model_free_agent_beats_random_policy(tmp_path, algo):
    task, steps, interval, overrides, margin = CASES[algo]
    config = RunConfig.from_dict({"algo": algo, "task": task, "agents": ["active"], "num_seeds": 2, "env_steps": steps,
                                  "eval_interval": interval, "eval_episodes": 8, "checkpoint_every": 0,
                                  "model_overrides": list(overrides), "out_dir": str(tmp_path / algo)})
    Study(config, progress=False).run()
    final = [r for r in read_rows(tmp_path / algo) if r["env_steps"] == steps]
    learned = float(np.mean([r["score"] for r in final]))
    baseline = random_policy_score(task, 64, jax.random.PRNGKey(123))
    print(f"{algo} on {task}: random policy {baseline:.2f}, Active after {steps} env steps {learned:.2f}")
    assert learned > baseline + margin
    assert all(np.isfinite(r["ood_ratio"]) and r["eval_td_loss"] >= 0 for r in final)
