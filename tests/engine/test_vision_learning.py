"""Learning signal on pixels: an Active agent on the JAX-rendered cheetah_run-vision beats a random policy.

A shorter run of benchmarks/vision_learning.py (its functions, its margin): one seed, tiny
preset, jax backend (MJX physics, JAX ray caster), learning rates 1e-3. The random policy's
score is measured in the test with the same episode length. The margin over random is the
larger of 4 standard errors of a random eval score and 5 return units (`vision_learning.margin`):
at 4 standard errors a random policy passes with probability ~3e-5, and 5 units of cheetah's
reward (forward speed / 10 per step, over 250-step episodes) is a policy that moves forward.
The benchmark's 10K-step run passed (benchmarks/results/vision_learning-cpu-cpu-2cores.json: 20.0 at
8K steps, 20.6 at 10K, random 3.36) in 108 min on a shared 2-core CPU; this 8K-step test passed in
49 min (the same CPU, shared with the test suite for half of it).
"""

import math

import pytest

from benchmarks import vision_learning

TASK = "dmc/cheetah_run-vision"
SETTINGS = {**vision_learning.TRAINING, "env_steps": 8_000, "eval_interval": 2_000, "episode_length": 250, "eval_episodes": 8}


@pytest.mark.slow  # tens of minutes on a 2-core CPU
def test_active_agent_on_jax_pixels_beats_random_policy(tmp_path):
    random = vision_learning.random_policy(TASK, SETTINGS["episode_length"], episodes=100, seed=7)
    study = vision_learning.run_study(TASK, SETTINGS, tmp_path / "study", preset="tiny", seed=0)
    curve = study["curve"]
    assert [p["env_steps"] for p in curve] == list(range(0, SETTINGS["env_steps"] + 1, SETTINGS["eval_interval"]))
    assert all(math.isfinite(p["score"]) for p in curve)
    result = vision_learning.verdict(curve, random, SETTINGS["eval_episodes"], final_points=2, minimum=5.0)
    print(f"random {random['mean']:.2f} +- {random['std']:.2f}; curve {[round(p['score'], 2) for p in curve]}; "
          f"final {result['final_score']:.2f}, needed > {random['mean'] + result['margin']:.2f}")
    assert result["beats_random"]
