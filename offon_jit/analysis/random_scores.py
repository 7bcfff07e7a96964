"""Random-policy scores per task, measured by the library and cached: the 0 of the normalised score.

A task's random score is the mean undiscounted episode return of a uniform-random policy
(envs.random_policy) over `episodes` episodes, counted exactly as the evaluation counts an
episode's score (engine/evaluate.py): from a fresh reset, the rewards of every step up to and
including the one that ends the episode (termination or the time limit). JAX-native tasks roll
out in one jitted `lax.scan` per batch of episodes; host tasks (dm_control vision, Metaworld) step
a batched host env. Results depend only on the setting (task, episodes, seed, episode length,
sticky-action probability) and the batch size, not on anything else a run does.

The cache is one small JSON file, {"format", "version", "scores": {key: entry}}, keyed by
`RandomPolicySetting.key`; a setting already in it is never rolled out again. A cache file that
cannot be read (not JSON, another format, an entry without a finite mean or whose fields do not
match its key) is an error naming the file: it is never silently overwritten, since other
tasks' measured entries live in it too (delete it to measure everything again).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
import sys
from typing import Iterable, Mapping

import numpy as np

from offon_jit.atomic import atomic_write

CACHE_FORMAT = "offon_jit.random_scores"
CACHE_VERSION = 1
DEFAULT_BATCH = 25  # episodes rolled out together (one jitted call / one batched host env)


@dataclasses.dataclass(frozen=True)
class RandomPolicySetting:
    """What a random score depends on; episode_length 0 and sticky_prob < 0 resolve to the suite defaults."""

    task: str
    episodes: int
    seed: int = 0
    episode_length: int = 0
    sticky_prob: float = -1.0

    def __post_init__(self):
        import envs

        try:
            entry = envs.get_task(self.task)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        for name, low in (("episodes", 1), ("seed", 0), ("episode_length", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"random score of {self.task}: {name} must be an int >= {low}, got {value!r}")
        sticky = entry.settings.sticky_prob if self.sticky_prob < 0 else float(self.sticky_prob)
        if sticky > 0 and entry.suite != "minatar":
            raise ValueError(f"random score of {self.task}: sticky_prob only applies to MinAtar tasks")
        object.__setattr__(self, "episodes", int(self.episodes))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "episode_length", int(self.episode_length or entry.settings.episode_length))
        object.__setattr__(self, "sticky_prob", sticky)

    @property
    def key(self) -> str:
        return (f"{self.task}|episodes={self.episodes}|seed={self.seed}|episode_length={self.episode_length}"
                f"|sticky_prob={self.sticky_prob:g}")

    def fields(self) -> dict:
        return dataclasses.asdict(self)


def _env_options(setting: RandomPolicySetting) -> dict:
    import envs

    options = {"episode_length": setting.episode_length}
    if envs.get_task(setting.task).suite == "minatar":
        options["sticky_prob"] = setting.sticky_prob
    return options


@functools.lru_cache(maxsize=16)
def _jax_batch_returns(task: str, episode_length: int, sticky_prob: float, batch: int):
    """A jitted key -> (batch,) returns for one env setting (cached: a process compiles it once)."""
    import jax
    import jax.numpy as jnp

    import envs
    from envs.random_policy import random_actions

    setting = RandomPolicySetting(task, batch, 0, episode_length, sticky_prob)
    env = envs.make(task, "jax", auto_reset=False, **_env_options(setting))
    action_spec = env.spec.action

    @jax.jit
    def batch_returns(key):
        reset_key, key = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(reset_key, batch))

        def body(carry, step_key):
            state, alive, total = carry
            state = jax.vmap(env.step)(state, random_actions(step_key, action_spec, (batch,)))
            total = total + jnp.where(alive, state.reward, 0.0)  # the step that ends an episode counts
            return (state, alive & ~state.done, total), None

        start = (state, jnp.ones((batch,), bool), jnp.zeros((batch,), jnp.float32))
        (_, _, total), _ = jax.lax.scan(body, start, jax.random.split(key, env.spec.episode_length))
        return total

    return batch_returns


def _jax_returns(setting: RandomPolicySetting, batch: int, progress: bool) -> np.ndarray:
    import jax
    from tqdm import tqdm

    batch_returns = _jax_batch_returns(setting.task, setting.episode_length, setting.sticky_prob, batch)
    root = jax.random.PRNGKey(setting.seed)
    batches = -(-setting.episodes // batch)
    out = [np.asarray(batch_returns(jax.random.fold_in(root, b)))
           for b in tqdm(range(batches), desc=f"random policy {setting.task}", unit="batch", disable=not progress,
                         file=sys.stderr, dynamic_ncols=True)]
    return np.concatenate(out)[: setting.episodes]


def _host_returns(setting: RandomPolicySetting, batch: int, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    import envs
    from envs.random_policy import random_actions_np

    env = envs.make(setting.task, "host", batch, **_env_options(setting))
    batches = -(-setting.episodes // batch)
    length = env.spec.episode_length
    out = []
    try:
        with tqdm(total=batches * length, desc=f"random policy {setting.task}", unit="step", disable=not progress,
                  file=sys.stderr, dynamic_ncols=True) as bar:
            for b in range(batches):
                env.reset([(setting.seed, b)])  # one seed group for the batch's envs
                rng = np.random.default_rng((setting.seed, b, 1))
                alive, total = np.ones(batch, bool), np.zeros(batch, np.float64)
                for _ in range(length):
                    step = env.step(random_actions_np(rng, env.spec.action, batch))
                    total += np.where(alive, step.reward, 0.0)
                    alive &= ~step.done
                    bar.update(1)
                out.append(total)
    finally:
        env.close()
    return np.concatenate(out)[: setting.episodes]


def episode_returns(setting: RandomPolicySetting, *, batch: int = DEFAULT_BATCH, backend: str = "auto",
                    progress: bool = True) -> np.ndarray:
    """(episodes,) undiscounted returns of a uniform-random policy on the setting's task."""
    import envs
    from envs.make import resolve_backend

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    batch = min(batch, setting.episodes)
    resolved = resolve_backend(envs.get_task(setting.task), backend)
    return (_jax_returns if resolved == "jax" else _host_returns)(setting, batch, progress)


def measure_random_score(setting: RandomPolicySetting, *, batch: int = DEFAULT_BATCH, backend: str = "auto",
                         progress: bool = True) -> dict:
    """The setting's fields plus mean, std (population), min and max of the random policy's episode scores."""
    returns = episode_returns(setting, batch=batch, backend=backend, progress=progress)
    return {**setting.fields(), "mean": float(returns.mean()), "std": float(returns.std()),
            "min": float(returns.min()), "max": float(returns.max()), "batch": batch}


def _corrupt(path: pathlib.Path, reason: str) -> ValueError:
    return ValueError(f"random-score cache {path} is corrupt ({reason}); delete it to measure the scores again")


def read_cache(path: str | pathlib.Path) -> dict[str, dict]:
    """{setting key: entry} of a cache file ({} if it does not exist); a corrupt file is a ValueError naming it."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(path, f"not readable JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("version") != CACHE_VERSION:
        raise _corrupt(path, f"expected format {CACHE_FORMAT!r} version {CACHE_VERSION}")
    scores = data.get("scores")
    if not isinstance(scores, dict):
        raise _corrupt(path, "no 'scores' object")
    for key, entry in scores.items():
        mean = entry.get("mean") if isinstance(entry, dict) else None
        if isinstance(mean, bool) or not isinstance(mean, (int, float)) or not math.isfinite(mean):
            raise _corrupt(path, f"entry {key!r} has no finite mean")
        try:
            expected = RandomPolicySetting(**{f.name: entry[f.name] for f in dataclasses.fields(RandomPolicySetting)})
        except (KeyError, TypeError, ValueError) as error:
            raise _corrupt(path, f"entry {key!r} does not describe a setting: {error}") from None
        if expected.key != key:
            raise _corrupt(path, f"entry {key!r} holds the fields of {expected.key!r}")
    return scores


def write_cache(path: str | pathlib.Path, scores: Mapping[str, dict]) -> pathlib.Path:
    text = json.dumps({"format": CACHE_FORMAT, "version": CACHE_VERSION, "scores": dict(scores)}, indent=1,
                      sort_keys=True)
    return atomic_write(path, text + "\n")


def cached_random_scores(settings: Iterable[RandomPolicySetting], cache_path: str | pathlib.Path, *,
                  batch: int = DEFAULT_BATCH, progress: bool = True) -> dict[str, float]:
    """{task: random score} for one setting per task: read from the cache, measured (and cached) if absent."""
    settings = list(settings)
    if not settings or not all(isinstance(s, RandomPolicySetting) for s in settings):
        raise ValueError("cached_random_scores needs a non-empty list of RandomPolicySetting")
    by_task: dict[str, RandomPolicySetting] = {}
    for setting in settings:
        if by_task.setdefault(setting.task, setting) != setting:
            raise ValueError(f"two random-policy settings for task {setting.task}: "
                             f"{by_task[setting.task].key} and {setting.key}")
    cache_path = pathlib.Path(cache_path)
    cached = read_cache(cache_path)
    out = {}
    for task, setting in by_task.items():
        if setting.key not in cached:
            if progress:
                print(f"[random score] measuring {setting.key} -> {cache_path}", file=sys.stderr)
            cached = {**read_cache(cache_path), setting.key: measure_random_score(setting, batch=batch,
                                                                                  progress=progress)}
            write_cache(cache_path, cached)  # after each task: a killed measurement keeps the finished ones
        out[task] = float(cached[setting.key]["mean"])
    return out
