"""Random-policy scores: a real rollout on debug/point_reach, measured once and cached, errors in one line."""

import json

import numpy as np
import pytest

from offon_jit.analysis import random_scores as random_lib
from offon_jit.analysis.random_scores import (
    RandomPolicySetting,
    cached_random_scores,
    episode_returns,
    read_cache,
)

TASK = "debug/point_reach"  # reward exp(-(d / 0.8)^2) in (0, 1] per step, 50 steps per episode
BATCH = 4  # every rollout here shares one compiled program


def test_random_policy_score_is_a_deterministic_rollout_within_the_reward_range():
    setting = RandomPolicySetting(TASK, episodes=6, seed=3)
    assert setting.episode_length == 50 and setting.sticky_prob == 0.0
    returns = episode_returns(setting, batch=BATCH, progress=False)  # two batches, the second one cut to 2
    assert returns.shape == (6,)
    assert np.all(returns > 0) and np.all(returns <= 50)
    np.testing.assert_array_equal(returns, episode_returns(setting, batch=BATCH, progress=False))
    other = episode_returns(RandomPolicySetting(TASK, episodes=6, seed=4), batch=BATCH, progress=False)
    assert not np.allclose(returns, other)
    assert np.unique(returns).size == 6  # every episode its own start and actions
    shorter = episode_returns(RandomPolicySetting(TASK, episodes=4, seed=3, episode_length=10), batch=BATCH,
                              progress=False)
    assert np.all(shorter > 0) and np.all(shorter <= 10)


def test_cache_is_written_once_and_reused(tmp_path, monkeypatch):
    path = tmp_path / "random_scores.json"
    setting = RandomPolicySetting(TASK, episodes=4, seed=3)
    measured = random_lib.measure_random_score(setting, batch=BATCH, progress=False)
    first = cached_random_scores([setting], path, batch=BATCH, progress=False)
    assert first == {TASK: pytest.approx(measured["mean"])}
    entry = read_cache(path)[setting.key]
    assert entry["episodes"] == 4 and entry["seed"] == 3 and entry["episode_length"] == 50
    text = path.read_text()

    def no_rollout(*args, **kwargs):
        raise AssertionError("a cached setting was rolled out again")

    monkeypatch.setattr(random_lib, "measure_random_score", no_rollout)
    assert cached_random_scores([RandomPolicySetting(TASK, episodes=4, seed=3, episode_length=0)], path,
                                progress=False) == first
    assert path.read_text() == text
    with pytest.raises(AssertionError, match="rolled out again"):  # a new setting is measured
        cached_random_scores([RandomPolicySetting(TASK, episodes=5, seed=3)], path, progress=False)


def test_corrupt_cache_is_a_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / "random_scores.json"
    setting = RandomPolicySetting(TASK, episodes=4, seed=3)
    good = {setting.key: {**setting.fields(), "mean": 12.0}}
    cases = {
        "{not json": "not readable JSON",
        json.dumps({"format": "other", "version": 1, "scores": {}}): "expected format",
        json.dumps({"format": random_lib.CACHE_FORMAT, "version": 1, "scores": {setting.key: {"mean": None}}}):
            "no finite mean",
        json.dumps({"format": random_lib.CACHE_FORMAT, "version": 1,
                    "scores": {"x": good[setting.key]}}): "holds the fields of",
    }
    for text, reason in cases.items():
        path.write_text(text)
        with pytest.raises(ValueError, match=reason) as error:
            cached_random_scores([setting], path, progress=False)
        message = str(error.value)
        assert str(path) in message and "\n" not in message and "corrupt" in message
    random_lib.write_cache(path, good)
    assert cached_random_scores([setting], path, progress=False) == {TASK: 12.0}


def test_settings_are_checked():
    with pytest.raises(ValueError, match="unknown task 'nope/x'") as error:
        RandomPolicySetting("nope/x", episodes=3)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="episodes must be an int >= 1"):
        RandomPolicySetting(TASK, episodes=0)
    with pytest.raises(ValueError, match="sticky_prob only applies to MinAtar"):
        RandomPolicySetting(TASK, episodes=3, sticky_prob=0.1)
    assert RandomPolicySetting("minatar/breakout", episodes=3).sticky_prob == 0.1
    with pytest.raises(ValueError, match="two random-policy settings for task"):
        cached_random_scores([RandomPolicySetting(TASK, 3), RandomPolicySetting(TASK, 4)], "unused.json")
