"""Incremental replay checkpoints: bitwise restore at every step, constant increments, corruption, bases, prune."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from offon_jit import replay
from offon_jit.replay import shards
from offon_jit.replay.shards import ShardError

from tests.engine.test_replay import NUM_ENVS, SCHEMA  # the same small buffer layout
add = jax.jit(replay.add)


def make_step(t: int, salt: int = 0) -> dict:
    """A step whose values identify (t, salt, stream)."""
    s = np.arange(NUM_ENVS)
    obs = (t * 7 + salt * 101 + s[:, None] * 31 + np.arange(6)[None, :]) % 256
    return {
        "obs": obs.reshape(NUM_ENVS, 2, 3).astype(np.uint8),
        "action": np.stack([t + 0.25 * s, salt - 1.0 * s], axis=-1).astype(np.float32),
        "reward": (t * 10 + s + 1000 * salt).astype(np.float32),
        "is_first": (t + s) % 5 == 0,
        "is_terminal": (t + s) % 5 == 4,
    }


def grow(buffer, steps: int, uncommitted_salt: int | None = None):
    """`steps` committed adds, then optionally one uncommitted add (data at the cursor, not counted)."""
    start = int(buffer.num_added)
    for t in range(start, start + steps):
        buffer = add(buffer, make_step(t))
    if uncommitted_salt is not None:
        buffer = add(buffer, make_step(int(buffer.num_added), uncommitted_salt), False)
    return buffer


def host(buffer):
    return jax.tree_util.tree_map(np.asarray, buffer)


def assert_same(restored, expected):
    expected = host(expected)
    assert (restored.num_envs, restored.steps_per_env) == (expected.num_envs, expected.steps_per_env)
    assert int(restored.num_added) == int(expected.num_added)
    assert int(restored.num_stored) == int(expected.num_stored)
    assert set(restored.data) == set(expected.data)
    for name, arr in expected.data.items():
        got = np.asarray(restored.data[name])
        assert got.dtype == arr.dtype and got.shape == arr.shape
        assert got.tobytes() == arr.tobytes(), name


def empty(steps_per_env: int = 20):
    return replay.init_buffer(SCHEMA, NUM_ENVS * steps_per_env, NUM_ENVS)


@pytest.mark.parametrize("compress", ["never", "alternate"])
def test_restore_is_bitwise_at_every_checkpoint(tmp_path, compress):
    buffer, snapshots, ranges = empty(20), {}, {}
    plan = [
        (1, 5, None),  # plain growth
        (2, 4, 7),  # an uncommitted add at the cursor
        (3, 0, 9),  # nothing added, the cursor row changed
        (4, 11, None),  # fills the buffer (20 of 20): no cursor row
        (5, 0, None),  # full and unchanged: an empty shard
    ]
    for step, steps, salt in plan:
        buffer = grow(buffer, steps, salt)
        manifest = shards.save_increment(tmp_path, buffer, step, compress=compress == "alternate" and step % 2 == 0)
        snapshots[step] = buffer
        ranges[step] = (manifest["shards"][-1]["start"], manifest["shards"][-1]["stop"])
        assert manifest["num_added"] == int(buffer.num_added) and len(manifest["shards"]) == step
    assert ranges == {1: (0, 6), 2: (5, 10), 3: (9, 10), 4: (9, 20), 5: (20, 20)}
    assert [e["file"].endswith(".zlib") for e in manifest["shards"]] == [compress == "alternate" and s % 2 == 0
                                                                         for s in range(1, 6)]
    for step, expected in snapshots.items():
        assert_same(shards.restore(tmp_path, step, empty(20)), expected)
    # The cursor data really differs between steps 2 and 3 (so the superseding row matters).
    assert not np.array_equal(np.asarray(snapshots[2].data["obs"]), np.asarray(snapshots[3].data["obs"]))
    # A numpy buffer saves the same bytes as its device twin.
    other = tmp_path / "host"
    shards.save_increment(other, host(snapshots[2]), 1)
    assert_same(shards.restore(other, 1, empty(20)), snapshots[2])


def test_bytes_per_increment_do_not_grow_with_the_buffer(tmp_path):
    buffer, shard_bytes, written = empty(64), [], []
    for step in range(1, 6):
        buffer = grow(buffer, 8)
        manifest = shards.save_increment(tmp_path, buffer, step)
        shard_bytes.append(manifest["shards"][-1]["bytes"])
        written.append(shards.bytes_written(manifest))
        manifest_file = shards.manifest_path(tmp_path, step)
        assert written[-1] == shard_bytes[-1] + manifest_file.stat().st_size
        assert shard_bytes[-1] == (tmp_path / manifest["shards"][-1]["file"]).stat().st_size
    assert len(set(shard_bytes)) == 1  # every increment: 8 new rows + the cursor row
    assert all(0 < b - a < 300 for a, b in zip(written, written[1:]))  # only the manifest's shard list grows
    row_bytes = sum(np.asarray(x[:, 0]).nbytes for x in buffer.data.values())  # one time step of every stream
    assert 0 < shard_bytes[0] - 9 * row_bytes <= 128 * len(SCHEMA)  # 9 rows + one small .npy header per field


def _two_checkpoints(directory):
    first = grow(empty(), 6)
    shards.save_increment(directory, first, 10)
    second = grow(first, 5, uncommitted_salt=3)
    manifest = shards.save_increment(directory, second, 20)
    return first, second, directory / manifest["shards"][-1]["file"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_newest_shard_is_named_and_older_step_still_restores(tmp_path, damage):
    first, second, newest = _two_checkpoints(tmp_path)
    raw = bytearray(newest.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        newest.write_bytes(bytes(raw))
    elif damage == "truncate":
        newest.write_bytes(bytes(raw[:-7]))
    else:
        newest.unlink()
    expected = {"flip": "sha256", "truncate": "bytes", "delete": "missing"}[damage]
    with pytest.raises(ShardError, match=expected) as error:
        shards.restore(tmp_path, 20, empty())
    assert newest.name in str(error.value)
    assert_same(shards.restore(tmp_path, 10, empty()), first)


def test_manifest_problems_raise_shard_error_naming_the_manifest(tmp_path):
    _two_checkpoints(tmp_path)
    manifest = shards.manifest_path(tmp_path, 20)
    for base, problem in [
        (replay.init_buffer(SCHEMA, NUM_ENVS * 24, NUM_ENVS), "layout"),  # another capacity
        (replay.init_buffer({**SCHEMA, "reward": ((), np.int32)}, NUM_ENVS * 20, NUM_ENVS), "layout"),
        (replay.init_buffer(SCHEMA, 2 * 30, 2), "layout"),  # other streams
    ]:
        with pytest.raises(ShardError, match=problem) as error:
            shards.restore(tmp_path, 20, base)
        assert manifest.name in str(error.value)
    with pytest.raises(ShardError, match="not found") as error:
        shards.restore(tmp_path, 30, empty())
    assert "manifest_000000030.json" in str(error.value)
    manifest.write_text(manifest.read_text()[:-20])
    with pytest.raises(ShardError, match="unreadable") as error:
        shards.restore(tmp_path, 20, empty())
    assert manifest.name in str(error.value)


def test_offline_base_rows_come_from_the_base_buffer(tmp_path):
    active = grow(empty(10), 10)  # an Active's final buffer, 10 steps per stream
    initial = replay.with_capacity(active, NUM_ENVS * 20)  # room for self-generated data
    base = {"source": "buffers/active_seed0.npz", "num_added": 10}
    buffer = grow(initial, 3, uncommitted_salt=5)
    first = shards.save_increment(tmp_path, buffer, 1, base=base)
    assert (first["shards"][0]["start"], first["shards"][0]["stop"]) == (10, 14) and first["base"] == base
    snapshot = buffer
    buffer = grow(buffer, 4)
    second = shards.save_increment(tmp_path, buffer, 2)  # the base is inherited
    assert second["base"] == base and second["shards"][-1]["start"] == 13
    assert_same(shards.restore(tmp_path, 1, initial), snapshot)
    assert_same(shards.restore(tmp_path, 2, initial), buffer)
    with pytest.raises(ShardError, match="base"):
        shards.restore(tmp_path, 2, replay.init_buffer(SCHEMA, NUM_ENVS * 20, NUM_ENVS))  # num_added 0, not 10
    with pytest.raises(ShardError, match="base"):
        shards.save_increment(tmp_path, buffer, 3, base={"source": "other.npz", "num_added": 10})


def test_a_run_of_a_batched_device_buffer_and_a_wrapped_base(tmp_path):
    runs = [grow(empty(), 4 + r, uncommitted_salt=r) for r in range(3)]
    batched = jax.tree_util.tree_map(lambda *xs: jax.numpy.stack(xs), *runs)
    for r in range(3):
        shards.save_increment(tmp_path / f"run{r}", batched, 1, run=r)
        assert_same(shards.restore(tmp_path / f"run{r}", 1, empty()), runs[r])
    with pytest.raises(ValueError, match="run"):
        shards.save_increment(tmp_path / "bad", batched, 1, run=3)
    # A base that wrapped (times 1..4 of 5 kept) moved into 6 slots: new times 5, 6 land in slots 5, 0.
    initial = replay.with_capacity(grow(empty(4), 5), NUM_ENVS * 6)
    buffer = grow(initial, 2)
    manifest = shards.save_increment(tmp_path / "wrapped", buffer, 1, base={"num_added": 5})
    assert (manifest["shards"][0]["start"], manifest["shards"][0]["stop"]) == (5, 7)
    assert_same(shards.restore(tmp_path / "wrapped", 1, initial), buffer)


def test_resume_from_older_checkpoint_replaces_stale_manifests(tmp_path):
    buffer = empty()
    for step in (1, 2, 3):
        buffer = grow(buffer, 4)
        shards.save_increment(tmp_path, buffer, step)
    resumed = shards.restore(tmp_path, 1, empty())
    redo = grow(resumed, 2, uncommitted_salt=8)  # a different future after the resume
    shards.save_increment(tmp_path, redo, 2)
    assert not shards.manifest_path(tmp_path, 3).exists()
    assert_same(shards.restore(tmp_path, 2, empty()), redo)
    later = grow(redo, 3)
    assert shards.save_increment(tmp_path, later, 4)["shards"][-1]["start"] == 6  # continues from step 2
    assert_same(shards.restore(tmp_path, 4, empty()), later)


def test_prune_keeps_exactly_what_kept_manifests_need(tmp_path):
    buffer, snapshots = empty(), {}
    for step in (1, 2, 3, 4):
        buffer = grow(buffer, 3, uncommitted_salt=step)
        snapshots[step] = buffer
        shards.save_increment(tmp_path, buffer, step)
    # Resume from step 2 and take another path: the old step-3 and step-4 shards become orphans.
    snapshots[3] = grow(snapshots[2], 1, uncommitted_salt=30)
    shards.save_increment(tmp_path, snapshots[3], 3)
    del snapshots[4]
    (tmp_path / ("." + shards.shard_name(99, 100, 9) + ".x1y2.tmp")).write_bytes(b"half")  # a killed save
    (tmp_path / "notes.txt").write_text("not ours")

    def listed(*steps):
        names = set()
        for step in steps:
            names |= {e["file"] for e in json.loads(shards.manifest_path(tmp_path, step).read_text())["shards"]}
        return names

    assert len(list(tmp_path.glob("rows_*.npys"))) == 5 and len(listed(1, 2, 3)) == 3
    shards.prune(tmp_path, {1, 3})
    assert {p.name for p in tmp_path.glob("manifest_*")} == {"manifest_000000001.json", "manifest_000000003.json"}
    assert {p.name for p in tmp_path.glob("rows_*.npys")} == listed(1, 3) and len(listed(1, 3)) == 3
    assert not list(tmp_path.glob(".*.tmp")) and (tmp_path / "notes.txt").exists()
    for step in (1, 3):
        assert_same(shards.restore(tmp_path, step, empty()), snapshots[step])
    shards.prune(tmp_path, {3})
    assert {p.name for p in tmp_path.glob("*") if p.name != "notes.txt"} == listed(3) | {"manifest_000000003.json"}
    assert_same(shards.restore(tmp_path, 3, empty()), snapshots[3])


def test_a_wrapped_buffer_is_refused(tmp_path):
    buffer = grow(empty(4), 3)
    shards.save_increment(tmp_path, buffer, 1)
    with pytest.raises(ValueError, match="wrapped"):
        shards.save_increment(tmp_path, grow(buffer, 5), 2)
    with pytest.raises(ValueError, match="one run"):
        shards.save_increment(tmp_path / "b", jax.tree_util.tree_map(lambda x: x[None], buffer), 1)
