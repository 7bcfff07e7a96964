"""Learning signal: the Active agent clearly beats a random policy measured in the same test.

Uses `debug/point_reach` (dense reward, 50-step episodes) and learning rates of 1e-3 for
all three optimisers instead of DreamerV3's 1e-4/3e-5, so the effect shows within a
CPU-friendly 800 env steps (400 updates); the paper's rates need far more updates.
"""

import jax
import numpy as np
import pytest

import envs
from envs.random_policy import random_actions
from offon_jit.config import RunConfig
from offon_jit.engine.study import Study
from offon_jit.metrics_log import read_rows

FAST_LR = (("actor_lr", 1e-3), ("critic_lr", 1e-3), ("wm_lr", 1e-3))


def random_policy_score(task: str, episodes: int, key) -> float:
    env = envs.make(task, "jax", num_envs=episodes, auto_reset=False)

    def body(state, k):
        state = env.step(state, random_actions(k, env.spec.action, (episodes,)))
        return state, state.reward

    reset_key, run_key = jax.random.split(key)
    _, rewards = jax.lax.scan(body, env.reset(reset_key), jax.random.split(run_key, env.spec.episode_length))
    return float(rewards.sum(axis=0).mean())


@pytest.mark.parametrize("precision", ["f32", pytest.param("bf16", marks=pytest.mark.slow)])
def test_active_agent_beats_random_policy(tmp_path, precision):
    """In float32 (CPU's default) and in bfloat16 (GPU's default; slow here: XLA:CPU emulates bf16)."""
    config = RunConfig(task="debug/point_reach", agents=("active",), num_seeds=1, env_steps=800, eval_interval=400,
                       prefill=256, seq_len=16, batch_size=16, eval_episodes=8, checkpoint_every=0,
                       model_overrides=FAST_LR + (("precision", precision),), out_dir=str(tmp_path / "learn"))
    Study(config, progress=False).run()
    rows = read_rows(tmp_path / "learn")
    final = [r for r in rows if r["env_steps"] == 800]
    learned = final[0]["score"]
    baseline = random_policy_score("debug/point_reach", 64, jax.random.PRNGKey(123))
    print(f"random policy {baseline:.1f}, active agent after 800 env steps {learned:.1f} (max ~50)")
    assert learned > baseline + 8.0
    first_chunk = next(r for r in rows if r["env_steps"] == 400)  # the step-0 row has no train metrics
    assert final[0]["eval_wm_loss"] < first_chunk["train_wm_total"] * 2
    assert np.isfinite(final[0]["ood_ratio"])
