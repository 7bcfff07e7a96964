"""Replay buffers <-> Minari datasets: episodes in Minari's convention, and an exact round trip.

Buffers come from the real env and replay code (random actions, auto-reset, several env
streams): MinAtar Breakout (terminations, time-limit truncations, episodes cut by the end of
the buffer, never-written slots) and debug/point_reach streams that wrapped (lone rows at
both ends, an episode that starts mid-way). Nothing is downloaded: the Minari root is tmp.
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import jax
import minari
import numpy as np
import pytest

import envs
from envs.random_policy import random_actions
from offon_jit.config import RunConfig
from offon_jit.dataset_command import add_dataset_parser
from offon_jit.datasets import DatasetError, check_dataset, export_buffer, import_buffer
from offon_jit.datasets.minari_io import METADATA_KEY
from offon_jit.engine.transitions import make_row, replay_schema
from offon_jit.layout import RunLayout
from offon_jit.replay import buffer as replay
from offon_jit.replay import storage

BREAKOUT = ("minatar/breakout", 3, 25)  # task, env streams, time limit (agent steps)
REACH = ("debug/point_reach", 2, 20)
REACH_STEPS = 106  # per stream: episodes of 21 rows (20 steps + the reset row), so row 105 is a lone reset row


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def collect(task, num_envs, episode_length, capacity, iterations, seed=0):
    """Random-policy rows stored exactly as the engine stores them (chunks.collect_iteration)."""
    env = envs.make(task, "jax", num_envs, episode_length=episode_length)
    spec = env.spec

    @jax.jit
    def run(key):
        reset_key, key = jax.random.split(key)
        buffer = replay.init_buffer(replay_schema(spec), capacity, num_envs)

        def body(carry, step_key):
            buffer, state = carry
            action = random_actions(step_key, spec.action, (num_envs,))
            row = make_row(state.obs, state.reward, state.is_first, state.terminated, action, spec, state.info)
            return (replay.add(buffer, row), env.step(state, action)), None

        (buffer, _), _ = jax.lax.scan(body, (buffer, env.reset(reset_key)), jax.random.split(key, iterations))
        return buffer

    return jax.tree_util.tree_map(np.asarray, run(jax.random.PRNGKey(seed))), spec


def rewound(buffer, steps_per_env):
    """The same rows added to a smaller buffer: its streams wrap and keep only the newest rows."""
    count = int(buffer.num_added)
    rows = {name: np.swapaxes(arr[:, :count], 0, 1) for name, arr in buffer.data.items()}
    small = replay.init_buffer(replay.schema_of(buffer), steps_per_env * buffer.num_envs, buffer.num_envs)
    return jax.tree_util.tree_map(np.asarray, replay.add_chunk(small, rows))


@pytest.fixture(scope="module")
def breakout():
    task, num_envs, limit = BREAKOUT
    return collect(task, num_envs, limit, capacity=num_envs * 80, iterations=70)


@pytest.fixture(scope="module")
def reach():
    task, num_envs, limit = REACH
    return collect(task, num_envs, limit, capacity=num_envs * REACH_STEPS, iterations=REACH_STEPS)


@pytest.fixture(scope="module")
def reach_wrapped(reach):
    """23 rows per stream: times 83 (an episode's last row, alone) .. 104 (an episode) and 105 (a reset row, alone)."""
    buffer, spec = reach
    return rewound(buffer, 23), spec


def assert_trees_identical(actual, expected):
    """Same structure (for buffers: the static num_envs and steps_per_env too), dtypes, shapes and values."""
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(expected)
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(actual)[0], jax.tree_util.tree_leaves(expected)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(a, b, err_msg=str(path))


def segments_of(buffer):
    """Independent reference: per stream, the stored rows' (start, stop) runs cut at is_first."""
    out = {}
    times = np.arange(int(buffer.num_added) - int(buffer.num_stored), int(buffer.num_added))
    for stream in range(buffer.num_envs):
        first = buffer.data["is_first"][stream, times % buffer.steps_per_env]
        cuts = sorted({0, *np.flatnonzero(first)}) + [len(times)]
        out[stream] = [(int(times[a]), int(times[b - 1]) + 1) for a, b in zip(cuts[:-1], cuts[1:])]
    return out


def row(buffer, name, stream, time):
    return buffer.data[name][stream, time % buffer.steps_per_env]


def test_export_writes_minari_episodes_split_at_is_first(breakout):
    buffer, spec = breakout
    dataset = export_buffer(buffer, spec, spec.name, "offon/breakout-v0", description_extra={"seed": 0})
    assert dataset.observation_space == gym.spaces.Box(0, 255, (32, 32, 4), np.uint8)
    assert dataset.action_space == gym.spaces.Discrete(3)
    reference = segments_of(buffer)
    expected = {(s, a): b for s, runs in reference.items() for a, b in runs if b - a >= 2}
    assert dataset.total_episodes == len(expected)
    # Every stored row but the first of each segment ends one transition.
    assert dataset.total_steps == sum(b - a - 1 for runs in reference.values() for a, b in runs)
    records = list(dataset.storage.get_episode_metadata(dataset.episode_indices))
    ends, starts = [], []
    for episode, record in zip(dataset.iterate_episodes(), records):
        ours = record[METADATA_KEY]
        stream, start = int(ours["stream"]), int(ours["start"])
        stop = expected.pop((stream, start))
        steps = stop - start - 1
        times = np.arange(start, stop)
        assert episode.observations.shape == (steps + 1, *spec.obs_shape)
        np.testing.assert_array_equal(episode.observations, row(buffer, "obs", stream, times))
        assert episode.actions.dtype == np.int64 and episode.actions.shape == (steps,)
        np.testing.assert_array_equal(episode.actions, row(buffer, "action", stream, times[:-1]).argmax(-1))
        np.testing.assert_array_equal(episode.rewards, row(buffer, "reward", stream, times[1:]))
        np.testing.assert_array_equal(episode.terminations, row(buffer, "is_terminal", stream, times[1:]))
        last_terminal = bool(row(buffer, "is_terminal", stream, stop - 1))
        assert episode.truncations[-1] == (not last_terminal) and not episode.truncations[:-1].any()
        at_end = stop == int(buffer.num_added)
        assert ours["end"] == ("terminated" if last_terminal else "buffer_end" if at_end else "truncated")
        assert at_end or row(buffer, "is_first", stream, stop)  # the next row resets
        ends.append(ours["end"])
        starts.append((start, stream))
    assert expected == {}
    assert {"terminated", "truncated", "buffer_end"} <= set(ends)  # the fixture covers every way an episode ends
    assert starts == sorted(starts)  # listed in the order they started
    ours = dataset.storage.metadata[METADATA_KEY]
    assert ours["task"] == spec.name and ours["source"] == {"seed": 0}
    assert ours["env"]["action_repeat"] == 1 and ours["env"]["episode_length"] == BREAKOUT[2]
    assert ours["replay"]["num_envs"] == BREAKOUT[1] and ours["replay"]["num_added_per_stream"] == 70
    assert "agent steps" in dataset.storage.metadata["description"]


@pytest.mark.parametrize("name", ["breakout", "reach_wrapped"])
def test_import_rebuilds_the_exported_buffer_bit_for_bit(name, request):
    buffer, spec = request.getfixturevalue(name)
    dataset_id = f"offon/{name}-v0"
    export_buffer(buffer, spec, spec.name, dataset_id)
    schema = replay_schema(spec)
    imported = import_buffer(dataset_id, spec, schema, buffer.capacity, buffer.num_envs)
    assert_trees_identical(imported, buffer)
    # A Passive agent samples the same rows from either buffer.
    key = jax.random.PRNGKey(7)
    assert_trees_identical(replay.sample(imported, key, 6, 5), replay.sample(buffer, key, 6, 5))
    # By path too, and into a larger buffer: absolute times are kept, so the sampled rows are the same.
    larger = import_buffer(minari.load_dataset(dataset_id).spec.data_path, spec, schema, 2 * buffer.capacity,
                           buffer.num_envs)
    assert larger.steps_per_env == 2 * buffer.steps_per_env
    assert_trees_identical(replay.sample(larger, key, 6, 5), replay.sample(buffer, key, 6, 5))


def test_wrapped_streams_keep_their_lone_rows_and_mid_episode_starts(reach, reach_wrapped):
    buffer, spec = reach_wrapped
    dataset = export_buffer(buffer, spec, spec.name, "offon/wrapped-v0")
    assert dataset.total_episodes == REACH[1] and dataset.total_steps == REACH[1] * REACH[2]
    for record, episode in zip(dataset.storage.get_episode_metadata(dataset.episode_indices),
                               dataset.iterate_episodes()):
        ours = record[METADATA_KEY]
        assert int(ours["start"]) == 84 and bool(ours["first_is_first"])
        assert episode.actions.dtype == np.float32 and episode.truncations[-1] and ours["end"] == "truncated"
        before, after = ours["rows_before"], ours["rows_after"]
        assert not before["is_first"][0] and after["is_first"][0]
        np.testing.assert_array_equal(before["obs"][0], row(buffer, "obs", int(ours["stream"]), 83))
    # Kept from time 78: the oldest episode misses its first rows (no reset observation).
    partial, _ = rewound(reach[0], 28), None
    dataset = export_buffer(partial, spec, spec.name, "offon/partial-v0")
    first = next(iter(dataset.storage.get_episode_metadata([0])))[METADATA_KEY]
    assert int(first["start"]) == 78 and not bool(first["first_is_first"]) and len(dataset[0].rewards) == 5
    imported = import_buffer("offon/partial-v0", spec, replay_schema(spec), partial.capacity, partial.num_envs)
    assert_trees_identical(imported, partial)


def foreign_dataset(dataset_id, lengths, terminated_last, action_bound=1.0):
    """A dataset another tool wrote for point_reach's spaces (no offon_jit metadata)."""
    rng = np.random.default_rng(0)
    episodes = []
    for length, terminated in zip(lengths, terminated_last):
        terminations = np.zeros(length, bool)
        terminations[-1] = terminated
        episodes.append(minari.data_collector.episode_buffer.EpisodeBuffer(
            observations=rng.normal(size=(length + 1, 2)).astype(np.float32),
            actions=rng.uniform(-1, 1, size=(length, 2)).astype(np.float32),
            rewards=rng.normal(size=length).astype(np.float32),
            terminations=terminations, truncations=~terminations))
    with pytest.warns(UserWarning):  # minari asks for author, permalink, ...
        return minari.create_dataset_from_buffers(
            dataset_id, episodes, observation_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
            action_space=gym.spaces.Box(-action_bound, action_bound, (2,), np.float32))


def test_foreign_datasets_are_packed_into_equal_streams(reach):
    _, spec = reach
    dataset = foreign_dataset("other/reach-v1", lengths=(4, 7, 5), terminated_last=(False, True, False))
    episodes = list(dataset.iterate_episodes())
    # Reference: the episodes' rows concatenated (T+1 each: 5 + 8 + 6 = 19), cut into 2 streams of 9.
    obs = np.concatenate([e.observations for e in episodes])
    reward = np.concatenate([np.concatenate([[0.0], e.rewards]) for e in episodes]).astype(np.float32)
    action = np.concatenate([np.concatenate([e.actions, np.zeros((1, 2))]) for e in episodes]).astype(np.float32)
    is_first = np.concatenate([np.arange(len(e.observations)) == 0 for e in episodes])
    terminal = np.concatenate([np.concatenate([[False], e.terminations]) for e in episodes])
    buffer = import_buffer("other/reach-v1", spec, replay_schema(spec), capacity=24, num_envs=2)
    assert int(buffer.num_added) == int(buffer.num_stored) == 9 and buffer.steps_per_env == 12
    for name, reference in (("obs", obs), ("reward", reward), ("action", action), ("is_first", is_first),
                            ("is_terminal", terminal)):
        np.testing.assert_array_equal(buffer.data[name][:, :9], reference[:18].reshape(2, 9, *reference.shape[1:]))
        assert not buffer.data[name][:, 9:].any()
    with pytest.raises(ValueError, match="raise the replay capacity to at least 18"):
        import_buffer("other/reach-v1", spec, replay_schema(spec), capacity=16, num_envs=2)
    plan = check_dataset("other/reach-v1", spec, replay_schema(spec), capacity=24, num_envs=2, seq_len=9)
    assert (plan.layout, plan.rows_per_stream) == ("packed", 9)
    with pytest.raises(DatasetError, match="gives 9 rows per env stream, fewer than seq_len 10"):
        check_dataset("other/reach-v1", spec, replay_schema(spec), capacity=24, num_envs=2, seq_len=10)


def test_an_exported_dataset_read_with_other_stream_counts_is_packed_in_start_order(reach):
    buffer, spec = reach
    export_buffer(buffer, spec, spec.name, "offon/reach-v0")
    plan = check_dataset("offon/reach-v0", spec, replay_schema(spec), buffer.capacity, buffer.num_envs, seq_len=32)
    assert (plan.layout, plan.rows_per_stream) == ("exact", REACH_STEPS)
    with pytest.warns(UserWarning, match="recorded with 2 env streams, this run has 1: its episodes are packed"):
        packed = import_buffer("offon/reach-v0", spec, replay_schema(spec), capacity=212, num_envs=1)
    # 5 whole episodes of 21 rows per stream (the lone reset row at time 105 holds no transition), listed
    # by start time, then stream.
    assert int(packed.num_added) == int(packed.num_stored) == 210
    for k in range(10):
        stream, start = k % 2, 21 * (k // 2)
        for name in ("obs", "reward", "is_first"):
            np.testing.assert_array_equal(packed.data[name][0, 21 * k:21 * (k + 1)],
                                          row(buffer, name, stream, np.arange(start, start + 21)))


def test_imports_refuse_datasets_that_do_not_fit_the_task(breakout, reach):
    (breakout_buffer, breakout_spec), (reach_buffer, reach_spec) = breakout, reach
    export_buffer(breakout_buffer, breakout_spec, breakout_spec.name, "offon/breakout-v0")
    export_buffer(reach_buffer, reach_spec, reach_spec.name, "offon/reach-v0")
    foreign_dataset("other/wide-v0", lengths=(3,), terminated_last=(True,), action_bound=2.0)
    asterix = envs.get_task("minatar/asterix").spec
    cases = [
        ("other/wide-v0", reach_spec, "action bounds are \\[-2, 2\\], task debug/point_reach acts in \\[-1, 1\\]"),
        ("offon/breakout-v0", asterix, "action space is Discrete\\(3\\), task minatar/asterix needs Discrete\\(5\\)"),
        ("offon/reach-v0", breakout_spec, "observation shape is \\(2,\\), task minatar/breakout needs \\(32, 32, 4\\)"),
        ("offon/reach-v0", reach_spec.replace(name="debug/elsewhere"), "exported from task debug/point_reach"),
        ("offon/missing-v0", reach_spec, "no Minari dataset 'offon/missing-v0' in the local Minari root"),
        ("not an id", reach_spec, "neither a Minari dataset directory nor a dataset id"),
    ]
    for dataset_id, spec, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            import_buffer(dataset_id, spec, replay_schema(spec), 4096, 3)
        assert "\n" not in str(error.value)


def test_export_never_replaces_a_dataset_unless_asked(breakout, reach, minari_root):
    (breakout_buffer, breakout_spec), (reach_buffer, reach_spec) = breakout, reach
    export_buffer(reach_buffer, reach_spec, reach_spec.name, "offon/kept-v0")
    with pytest.raises(DatasetError, match="already exists"):
        export_buffer(breakout_buffer, breakout_spec, breakout_spec.name, "offon/kept-v0")
    kept = import_buffer("offon/kept-v0", reach_spec, replay_schema(reach_spec), reach_buffer.capacity, 2)
    assert_trees_identical(kept, reach_buffer)
    export_buffer(breakout_buffer, breakout_spec, breakout_spec.name, "offon/kept-v0", overwrite=True)
    assert minari.load_dataset("offon/kept-v0").action_space == gym.spaces.Discrete(3)
    assert sorted(p.name for p in (minari_root / "offon").iterdir()) == ["kept-v0", "namespace_metadata.json"]
    assert list(minari.list_local_datasets()) == ["offon/kept-v0"]


# -- the CLI -----------------------------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path, reach):
    """A point_reach run directory holding seed 0's Active buffer (seed 1's is missing)."""
    buffer, _ = reach
    directory = tmp_path / "run"
    config = RunConfig(task=REACH[0], num_envs=REACH[1], episode_length=REACH[2], num_seeds=2, out_dir=str(directory))
    layout = RunLayout(directory)
    layout.active_buffer("seed0").parent.mkdir(parents=True)
    layout.config.write_text(config.to_json())
    storage.save_buffer(buffer, layout.active_buffer("seed0"))
    return directory


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="offon-jit")
    add_dataset_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_export_writes_the_runs_active_buffer(run_dir, reach, capsys):
    buffer, spec = reach
    assert run_cli(["dataset", "export", str(run_dir), "--seed", "0", "--id", "runs/reach-v0"]) == 0
    assert "wrote Minari dataset runs/reach-v0" in capsys.readouterr().out
    imported = import_buffer("runs/reach-v0", spec, replay_schema(spec), buffer.capacity, buffer.num_envs)
    assert_trees_identical(imported, buffer)
    source = minari.load_dataset("runs/reach-v0").storage.metadata[METADATA_KEY]["source"]
    assert source["agent"] == "active" and source["seed"] == 0 and source["run_config"]["task"] == REACH[0]
    assert run_cli(["dataset", "export", str(run_dir), "--id", "runs/reach-v0", "--force"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["RUN", "--id", "a-v0", "--agent", "passive"], "only the active agent's final replay buffer is saved"),
    (["RUN", "--id", "a-v0", "--agent", "walker"], "'walker' is not an agent"),
    (["RUN", "--id", "no_version"], "must look like \\[namespace/\\]name-vN"),
    (["RUN/nowhere", "--id", "a-v0"], "run directory .*nowhere does not exist"),
    (["RUN/buffers", "--id", "a-v0"], "is not a run directory \\(no config.json\\)"),
    (["RUN", "--id", "a-v0", "--seed", "1"], "no Active buffer for seed1: expected .*active_seed1.npz"),
    (["RUN", "--id", "a-v0", "--seed", "5"], "--seed 5 is not in this run \\(its seeds are 0..1\\)"),
    (["RUN", "--id", "a-v0", "--expl-weight", "0.5"], "--expl-weight 0.5 is not in this run"),
    (["RUN", "--id", "taken-v0"], "Minari dataset taken-v0 already exists .*pass --force"),
])
def test_cli_bad_input_is_one_line_and_exit_2(run_dir, minari_root, capsys, argv, message):
    (minari_root / "taken-v0" / "data").mkdir(parents=True)
    (minari_root / "taken-v0" / "data" / "metadata.json").write_text(json.dumps({"dataset_id": "taken-v0"}))
    argv = [a.replace("RUN", str(run_dir)) for a in argv]
    assert run_cli(["dataset", "export", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("offon-jit dataset export: ") and err.count("\n") == 1
    assert __import__("re").search(message, err), err
    assert sorted(p.name for p in minari_root.iterdir()) == ["taken-v0"]  # nothing written
