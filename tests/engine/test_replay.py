"""Replay buffer: contents, counts, uniform sampling, jit/scan/vmap, Tandem replay, subsets, file format."""

from __future__ import annotations

import io
import json
import struct as struct_module
import zipfile
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offon_jit import replay
from offon_jit.replay import ReplayFileError

NUM_ENVS = 3
SCHEMA = {
    "obs": ((2, 3), np.uint8),
    "action": ((2,), np.float32),
    "reward": ((), np.float32),
    "is_first": ((), bool),
    "is_terminal": ((), bool),
}


def make_step(t, seed=0, xp=np):
    """A step whose every value identifies (seed, t, stream); identical under numpy and jax."""
    s = xp.arange(NUM_ENVS)
    obs = (t * 7 + s[:, None] * 31 + seed * 13 + xp.arange(6)[None, :]) % 256
    return {
        "obs": obs.reshape(NUM_ENVS, 2, 3).astype(xp.uint8),
        "action": xp.stack([t + 0.25 * s, seed - 1.0 * s], axis=-1).astype(xp.float32),
        "reward": (t * 10 + s + 1000 * seed).astype(xp.float32),
        "is_first": (t + s) % 5 == 0,
        "is_terminal": (t + s) % 5 == 4,
    }


def reference(num_steps, seed=0):
    """{name: (T, num_envs, ...)} numpy log of the first num_steps steps."""
    steps = [make_step(t, seed) for t in range(num_steps)]
    return {name: np.stack([step[name] for step in steps]) for name in SCHEMA}


def expected_window(ref, stream, start, seq_len):
    return {name: ref[name][start : start + seq_len, stream] for name in ref}


def assert_trees_equal(actual, expected):
    actual, expected = jax.device_get(actual), jax.device_get(expected)
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_array_equal(a, e)


add_jit = jax.jit(replay.add)
gather_jit = jax.jit(replay.gather, static_argnums=2)
sample_indices_jit = jax.jit(replay.sample_indices, static_argnums=(2, 3))


def filled(capacity, num_steps, seed=0):
    buffer = replay.init_buffer(SCHEMA, capacity, NUM_ENVS)
    if num_steps:
        chunk = {name: jnp.asarray(v) for name, v in reference(num_steps, seed).items()}
        buffer = jax.jit(replay.add_chunk)(buffer, chunk)
    return buffer


def all_valid_windows(num_added, steps_per_env, seq_len):
    stored = min(num_added, steps_per_env)
    return [(s, t) for s in range(NUM_ENVS) for t in range(num_added - stored, num_added - seq_len + 1)]


# --- contents and counts -------------------------------------------------------------------------


def test_add_then_gather_returns_added_steps_and_counts_including_wraparound():
    steps_per_env, seq_len, total = 8, 3, 20
    ref = reference(total)
    buffer = replay.init_buffer(SCHEMA, NUM_ENVS * steps_per_env, NUM_ENVS)
    assert buffer.capacity == 24 and int(buffer.num_added) == 0 and not bool(replay.can_sample(buffer, seq_len))
    for t in range(total):
        buffer = add_jit(buffer, make_step(t))
        num_added = t + 1
        stored = min(num_added, steps_per_env)
        assert int(buffer.num_added) == num_added
        assert int(buffer.cursor) == num_added % steps_per_env
        assert int(buffer.stored_per_stream) == stored
        assert int(buffer.total_added) == NUM_ENVS * num_added
        assert int(buffer.total_stored) == NUM_ENVS * stored
        np.testing.assert_array_equal(buffer.stream_fill, [stored] * NUM_ENVS)
        assert int(replay.num_valid_starts(buffer, seq_len)) == NUM_ENVS * max(stored - seq_len + 1, 0)
        if num_added in (3, 8, 9, 13, 20):  # first window, full, first overwrite, mid, final
            windows = all_valid_windows(num_added, steps_per_env, seq_len)
            batch = gather_jit(buffer, jnp.asarray(windows, jnp.int32), seq_len)
            for row, (stream, start) in enumerate(windows):
                got = {name: np.asarray(v[row]) for name, v in batch.items()}
                assert_trees_equal(got, expected_window(ref, stream, start, seq_len))
    # the oldest 12 steps of every stream were overwritten in place, newest 8 remain
    slots = np.arange(12, 20) % steps_per_env
    np.testing.assert_array_equal(np.asarray(buffer.data["reward"])[:, slots], ref["reward"][12:20].T)


def test_add_chunk_equals_repeated_add():
    chunk = reference(11)
    chunked = replay.add_chunk(replay.init_buffer(SCHEMA, 24, NUM_ENVS), chunk)
    stepped = replay.init_buffer(SCHEMA, 24, NUM_ENVS)
    for t in range(11):
        stepped = add_jit(stepped, make_step(t))
    assert_trees_equal(chunked, stepped)


def test_bad_inputs_raise_clear_errors():
    buffer = replay.init_buffer(SCHEMA, 24, NUM_ENVS)
    step = make_step(0)
    with pytest.raises(ValueError, match=r"missing \['reward'\]"):
        replay.add(buffer, {k: v for k, v in step.items() if k != "reward"})
    with pytest.raises(ValueError, match="'obs': shape"):
        replay.add(buffer, {**step, "obs": step["obs"][:2]})
    with pytest.raises(ValueError, match="'obs': dtype float32 cannot be stored safely as uint8"):
        replay.add(buffer, {**step, "obs": step["obs"].astype(np.float32)})
    with pytest.raises(ValueError, match="divisible"):
        replay.init_buffer(SCHEMA, 25, NUM_ENVS)
    with pytest.raises(ValueError, match="identifier"):
        replay.init_buffer({"bad name": ((), np.float32)}, 24, NUM_ENVS)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        replay.init_buffer({"x": ((), np.float64)}, 24, NUM_ENVS)
    with pytest.raises(ValueError, match="seq_len 9 exceeds"):
        replay.sample_indices(buffer, jax.random.key(0), 4, 9)


# --- sampling ------------------------------------------------------------------------------------


def chi_square(counts):
    counts = np.asarray(counts, float)
    expected = counts.sum() / counts.size
    return ((counts - expected) ** 2 / expected).sum()


@pytest.mark.parametrize(
    "steps_per_env, num_added, chi2_limit",
    [(6, 10, 24.32), (6, 4, 16.27)],  # wrapped: 8 windows (7 dof); not yet full: 4 windows (3 dof); p=0.001
    ids=["after-wraparound", "before-wraparound"],
)
def test_sampling_is_uniform_over_exactly_the_valid_windows(steps_per_env, num_added, chi2_limit):
    seq_len, num_samples = 3, 16_000
    buffer = filled(NUM_ENVS * steps_per_env, num_added)
    indices = np.asarray(sample_indices_jit(buffer, jax.random.key(7), num_samples, seq_len))
    assert indices.dtype == np.int32 and indices.shape == (num_samples, 2)
    valid = all_valid_windows(num_added, steps_per_env, seq_len)
    sampled = [tuple(row) for row in indices.tolist()]
    assert set(sampled) == set(valid)  # every valid window drawn, nothing else (no cursor crossing)
    counts = [sampled.count(window) for window in valid]
    assert chi_square(counts) < chi2_limit, counts
    assert bool(np.asarray(replay.indices_valid(buffer, indices, seq_len)).all())
    # gathered windows hold consecutive steps of one stream, never newest mixed with oldest
    batch = gather_jit(buffer, jnp.asarray(indices[:50]), seq_len)
    ref = reference(num_added)
    for row, (stream, start) in enumerate(indices[:50]):
        assert_trees_equal({k: v[row] for k, v in batch.items()}, expected_window(ref, stream, start, seq_len))


@pytest.mark.parametrize("num_added", [0, 2])
def test_sampling_before_prefill_is_flagged_and_does_not_crash_in_jit(num_added):
    seq_len = 3
    buffer = filled(NUM_ENVS * 6, num_added)
    assert not bool(replay.can_sample(buffer, seq_len))
    assert int(replay.num_valid_starts(buffer, seq_len)) == 0

    @jax.jit
    def sample_and_gather(buffer, key):
        batch, indices = replay.sample(buffer, key, 32, seq_len)
        return batch, indices, replay.can_sample(buffer, seq_len)

    batch, indices, ok = sample_and_gather(buffer, jax.random.key(1))
    assert not bool(ok)
    indices = np.asarray(indices)
    np.testing.assert_array_equal(indices[:, 1], 0)  # clamped to the oldest stored step
    assert set(indices[:, 0].tolist()) <= set(range(NUM_ENVS))
    assert not np.asarray(replay.indices_valid(buffer, indices, seq_len)).any()
    # the written prefix is real data, the rest never-written zeros
    ref = reference(num_added + 1)["reward"][:num_added]
    for row, stream in enumerate(indices[:, 0]):
        np.testing.assert_array_equal(batch["reward"][row, :num_added], ref[:, stream])
        np.testing.assert_array_equal(batch["reward"][row, num_added:], 0)


# --- jit + scan + vmap, and Tandem replay from logged indices ------------------------------------

SCAN_STEPS, BATCH, SEQ_LEN = 30, 4, 3


def collect_and_sample(seed, key, capacity):
    """Active-style loop inside one jitted scan: add a step, then sample and gather a batch."""

    def body(carry, t):
        buffer, key = carry
        buffer = replay.add(buffer, make_step(t, seed, xp=jnp))
        key, sample_key = jax.random.split(key)
        batch, indices = replay.sample(buffer, sample_key, BATCH, SEQ_LEN)
        return (buffer, key), (indices, batch, replay.can_sample(buffer, SEQ_LEN))

    buffer = replay.init_buffer(SCHEMA, capacity, NUM_ENVS)
    (buffer, _), logged = jax.lax.scan(body, (buffer, key), jnp.arange(SCAN_STEPS))
    return buffer, logged


SEEDS = np.array([0, 1, 2], np.int32)


@pytest.fixture(scope="module", params=[NUM_ENVS * 12, NUM_ENVS * 32], ids=["wrapping", "no-overwrite"])
def scan_runs(request):
    capacity = request.param
    run = jax.jit(partial(collect_and_sample, capacity=capacity))
    keys = jax.random.split(jax.random.key(3), len(SEEDS))
    vmapped = jax.jit(jax.vmap(partial(collect_and_sample, capacity=capacity)))(SEEDS, keys)
    separate = [run(seed, keys[i]) for i, seed in enumerate(SEEDS)]
    return capacity // NUM_ENVS, vmapped, separate


def test_vmap_over_seeds_equals_separate_runs(scan_runs):
    _, vmapped, separate = scan_runs
    for i, single in enumerate(separate):
        assert_trees_equal(jax.tree.map(lambda x: x[i], vmapped), single)
    # the seeds really differ (different data and different keys)
    assert not np.array_equal(separate[0][1][0], separate[1][1][0])


def test_batches_sampled_inside_scan_are_valid_windows_of_the_added_data(scan_runs):
    steps_per_env, _, separate = scan_runs
    for seed, (_, (indices, batch, ok)) in zip(SEEDS, separate):
        ref = reference(SCAN_STEPS, seed)
        indices, ok = np.asarray(indices), np.asarray(ok)
        np.testing.assert_array_equal(ok, np.arange(1, SCAN_STEPS + 1) >= SEQ_LEN)
        for i in np.flatnonzero(ok):
            num_added = i + 1
            oldest = num_added - min(num_added, steps_per_env)
            for row, (stream, start) in enumerate(indices[i]):
                assert oldest <= start <= num_added - SEQ_LEN  # inside the stored data at sampling time
                got = {k: np.asarray(v[i, row]) for k, v in batch.items()}
                assert_trees_equal(got, expected_window(ref, stream, start, SEQ_LEN))


def test_logged_indices_replay_the_same_batches_from_the_final_buffer(scan_runs):
    steps_per_env, _, separate = scan_runs
    for final_buffer, (indices, batch, ok) in separate:
        ok = np.asarray(ok)
        logged, original = indices[ok], jax.tree.map(lambda x: x[ok], batch)
        still_there = np.asarray(replay.indices_valid(final_buffer, logged, SEQ_LEN))
        replayed = gather_jit(final_buffer, logged, SEQ_LEN)
        if steps_per_env >= SCAN_STEPS:  # capacity >= total steps: the paper's setting
            assert still_there.all()
            replay.assert_indices_replayable(final_buffer, logged, SEQ_LEN)
            assert_trees_equal(replayed, original)
            from_other_run = np.asarray(logged).copy()
            from_other_run[0, 0, 1] = SCAN_STEPS  # a window past the data this run collected
            with pytest.raises(ValueError, match="1 of .* not in this buffer; they lie outside"):
                replay.assert_indices_replayable(final_buffer, from_other_run, SEQ_LEN)
        else:  # early windows were overwritten; exactly those are flagged
            starts = np.asarray(logged)[..., 1]
            np.testing.assert_array_equal(still_there, starts >= SCAN_STEPS - steps_per_env)
            assert (~still_there).any() and still_there.any()
            with pytest.raises(ValueError, match="overwritten.*capacity 36 < total steps added 90"):
                replay.assert_indices_replayable(final_buffer, logged, SEQ_LEN)
            keep = jax.tree.map(lambda x: x[still_there], (replayed, original))
            assert_trees_equal(*keep)


# --- subsets -------------------------------------------------------------------------------------


def test_select_time_range_keeps_the_right_steps():
    ref = reference(20)
    buffer = filled(NUM_ENVS * 8, 20)  # stores absolute times 12..19
    first = replay.select_time_range(buffer, 0.0, 0.5)
    second = replay.select_time_range(buffer, 0.5, 1.0)
    middle = replay.select_time_range(buffer, 0.25, 0.75)
    for subset, times in ((first, range(12, 16)), (second, range(16, 20)), (middle, range(14, 18))):
        assert (subset.num_envs, subset.steps_per_env, int(subset.num_added)) == (NUM_ENVS, 4, 4)
        assert int(subset.total_stored) == NUM_ENVS * 4
        expected = {k: np.swapaxes(v[list(times)], 0, 1) for k, v in ref.items()}
        assert_trees_equal(subset.data, expected)
    # sampling from the subset stays inside it
    indices = replay.sample_indices(second, jax.random.key(0), 64, 3)
    assert bool(replay.indices_valid(second, indices, 3).all())
    # seed-batched buffers: same result per seed
    batched = jax.tree.map(lambda *x: jnp.stack(x), filled(24, 20, seed=0), filled(24, 20, seed=1))
    batched_second = replay.select_time_range(batched, 0.5, 1.0)
    assert_trees_equal(jax.tree.map(lambda x: x[0], batched_second), second)
    assert_trees_equal(jax.tree.map(lambda x: x[1], batched_second).data,
                       replay.select_time_range(filled(24, 20, seed=1), 0.5, 1.0).data)
    with pytest.raises(ValueError, match="start_fraction < end_fraction"):
        replay.select_time_range(buffer, 0.6, 0.5)
    with pytest.raises(ValueError, match="outside jit"):
        jax.jit(lambda b: replay.select_time_range(b, 0.0, 0.5).num_added)(buffer)


def test_subsample_keeps_uniform_chunks_as_separate_streams():
    ref = reference(20)
    buffer = filled(NUM_ENVS * 8, 20)  # stores times 12..19 -> 4 chunks of 2 per stream, 12 in all
    chunks = {(s, 12 + 2 * c): None for s in range(NUM_ENVS) for c in range(4)}
    subset = replay.subsample(buffer, jax.random.key(5), 0.5, chunk_len=2)
    assert (subset.num_envs, subset.steps_per_env, int(subset.num_added)) == (6, 2, 2)
    found = []
    for stream in range(subset.num_envs):
        rewards = np.asarray(subset.data["reward"][stream])
        source_stream, time = int(rewards[0]) % 10, int(rewards[0]) // 10  # reward = 10 t + stream
        assert (source_stream, time) in chunks
        window = expected_window(ref, source_stream, time, 2)
        assert_trees_equal({k: v[stream] for k, v in subset.data.items()}, window)
        found.append((source_stream, time))
    assert found == sorted(set(found))  # distinct chunks, ordered by (stream, time)
    # over many keys every chunk is kept equally often (seed-batched path, one key per seed)
    num_keys = 300
    batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_keys,) + x.shape), buffer)
    many = replay.subsample(batched, jax.random.split(jax.random.key(9), num_keys), 0.5, chunk_len=2)
    first_rewards = np.asarray(many.data["reward"][:, :, 0]).astype(int).ravel()
    counts = [np.sum(first_rewards == 10 * time + s) for (s, time) in chunks]
    assert sum(counts) == num_keys * 6 and chi_square(counts) < 31.26  # 11 dof, p=0.001
    with pytest.raises(ValueError, match="keeps no chunk"):
        replay.subsample(buffer, jax.random.key(0), 0.5, chunk_len=9)


def test_with_capacity_keeps_absolute_times_and_logged_indices():
    ref = reference(25)
    small = filled(NUM_ENVS * 8, 20)
    grown = replay.with_capacity(small, NUM_ENVS * 16)
    assert (grown.steps_per_env, int(grown.num_added), int(grown.stored_per_stream)) == (16, 20, 8)
    windows = jnp.asarray(all_valid_windows(20, 8, 3), jnp.int32)
    assert_trees_equal(gather_jit(grown, windows, 3), gather_jit(small, windows, 3))
    # only the 8 really stored steps (times 12..19) are sampled, not the empty slots of the new ring
    sampled = np.asarray(sample_indices_jit(grown, jax.random.key(2), 2000, 3))
    assert {tuple(w) for w in sampled.tolist()} == {tuple(w) for w in np.asarray(windows).tolist()}
    for t in range(20, 25):  # new data lands after the old without evicting it
        grown = add_jit(grown, make_step(t))
    assert int(grown.stored_per_stream) == 13
    batch = gather_jit(grown, jnp.asarray([[1, 12]], jnp.int32), 13)
    assert_trees_equal({k: v[0] for k, v in batch.items()}, expected_window(ref, 1, 12, 13))
    with pytest.raises(ValueError, match="cannot hold"):
        replay.with_capacity(small, NUM_ENVS * 4)


# --- files ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wrapped_buffer():
    return filled(NUM_ENVS * 8, 20)


def test_save_load_round_trip_is_bit_identical(tmp_path, wrapped_buffer):
    path = replay.save_buffer(wrapped_buffer, tmp_path / "run0.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run0.npz"]  # no temp file left behind
    loaded = replay.load_buffer(path, expected_schema=SCHEMA)
    assert (loaded.num_envs, loaded.steps_per_env) == (wrapped_buffer.num_envs, wrapped_buffer.steps_per_env)
    assert_trees_equal(loaded, wrapped_buffer)
    meta = replay.read_metadata(path)
    assert (meta["format"], meta["version"]) == ("offon_jit.replay", 1)
    assert (meta["capacity"], meta["num_envs"], meta["num_added_per_stream"], meta["cursor"]) == (24, 3, 20, 4)
    assert (meta["total_added"], meta["total_stored"]) == (60, 24)
    assert meta["fields"]["obs"] == {"shape": [2, 3], "dtype": "uint8"}
    # an empty buffer and a grown one (fewer steps stored than the ring holds) round-trip too
    empty = replay.init_buffer(SCHEMA, 24, NUM_ENVS)
    assert_trees_equal(replay.load_buffer(replay.save_buffer(empty, tmp_path / "empty.npz")), empty)
    grown = replay.with_capacity(wrapped_buffer, 48)
    assert_trees_equal(replay.load_buffer(replay.save_buffer(grown, tmp_path / "grown.npz")), grown)


def test_save_never_clobbers_unless_asked(tmp_path, wrapped_buffer):
    path = tmp_path / "run.npz"
    replay.save_buffer(replay.init_buffer(SCHEMA, 24, NUM_ENVS), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        replay.save_buffer(wrapped_buffer, path)
    assert path.read_bytes() == before
    replay.save_buffer(wrapped_buffer, path, overwrite=True)
    assert int(replay.load_buffer(path).num_added) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]
    batched = jax.tree.map(lambda x: jnp.stack([x, x]), wrapped_buffer)
    with pytest.raises(ValueError, match="index the seed axis"):
        replay.save_buffer(batched, tmp_path / "batched.npz")


def npy_bytes(array):
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def rewrite_archive(source, target, changes):
    """Copy a zip archive, replacing (bytes) or dropping (None) the members named in `changes`."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            if name not in changes:
                dst.writestr(name, src.read(name))
        for name, content in changes.items():
            if content is not None:
                dst.writestr(name, content)


def metadata_with(path, **updates):
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(np.lib.format.read_array(io.BytesIO(archive.read("__metadata__.npy"))).tobytes())
    meta.update(updates)
    return npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def flip_middle_of_member(source, target, member):
    raw = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo(member)
    name_len, extra_len = struct_module.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    data_start = info.header_offset + 30 + name_len + extra_len
    for offset in range(info.compress_size // 3, info.compress_size // 3 + 8):
        raw[data_start + offset] ^= 0xFF
    target.write_bytes(bytes(raw))


def replace_members(changes_of):
    """A corruption that rewrites archive members; `changes_of(src)` gives {member: bytes or None}."""
    return lambda src, dst: rewrite_archive(src, dst, changes_of(src))


def replace_metadata(**updates):
    return replace_members(lambda src: {"__metadata__.npy": metadata_with(src, **updates)})


def replace_field(name, array):
    return replace_members(lambda src: {f"field.{name}.npy": None if array is None else npy_bytes(array)})


CORRUPTIONS = {  # name: (how to corrupt a good file, text the error must contain)
    "truncated": (lambda src, dst: dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2]), "not a zip"),
    "not-a-zip": (lambda src, dst: dst.write_bytes(b"hello, not an archive"), "not a zip"),
    "flipped-bytes": (lambda src, dst: flip_middle_of_member(src, dst, "field.obs.npy"), "corrupt or truncated"),
    "bad-json": (
        replace_members(lambda src: {"__metadata__.npy": npy_bytes(np.frombuffer(b"{oops", np.uint8))}),
        "not valid JSON",
    ),
    "no-metadata": (replace_members(lambda src: {"__metadata__.npy": None}), "'__metadata__' is missing"),
    "missing-field": (replace_field("reward", None), "missing from archive: ['reward']"),
    "extra-array": (replace_field("value", np.zeros((3, 8), np.float32)), "not listed in metadata: ['value']"),
    "wrong-version": (replace_metadata(version=2), "version 2"),
    "bad-counts": (replace_metadata(cursor=5), "cursor is 5, expected 4"),
    "too-many-stored": (replace_metadata(stored_per_stream=9), "stored_per_stream 9 exceeds"),
    "wrong-dtype": (
        replace_field("reward", np.zeros((3, 8), np.float64)),
        "'reward' array has dtype float64, metadata says float32",
    ),
    "wrong-shape": (replace_field("reward", np.zeros((3, 7), np.float32)), "'reward' array has shape (3, 7)"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_files_raise_replay_file_error_naming_problem_and_path(tmp_path, wrapped_buffer, corruption):
    good = replay.save_buffer(wrapped_buffer, tmp_path / "good.npz")
    bad = tmp_path / f"{corruption}.npz"
    corrupt, problem = CORRUPTIONS[corruption]
    corrupt(good, bad)
    with pytest.raises(ReplayFileError) as raised:
        replay.load_buffer(bad)
    assert str(bad) in str(raised.value) and problem in str(raised.value), str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_schema_mismatch_and_missing_file(tmp_path, wrapped_buffer):
    path = replay.save_buffer(wrapped_buffer, tmp_path / "run.npz")
    expected = {**SCHEMA, "obs": ((4, 3), np.uint8), "action": ((2,), np.int32), "value": ((), np.float32)}
    del expected["is_terminal"]
    with pytest.raises(ReplayFileError) as raised:
        replay.load_buffer(path, expected_schema=expected)
    message = str(raised.value)
    for part in (
        str(path),
        "schema mismatch",
        "'value' missing from file",
        "unexpected field 'is_terminal'",
        "'obs' has shape (2, 3) in file, expected (4, 3)",
        "'action' has dtype float32 in file, expected int32",
    ):
        assert part in message, message
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        replay.load_buffer(tmp_path / "nowhere.npz")
