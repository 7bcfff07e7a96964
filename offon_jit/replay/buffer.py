"""Device replay buffer: `num_envs` parallel env streams, each a ring of time steps, in one pytree.

Layout
  Every field is one array of shape (num_envs, steps_per_env, *field_shape), where
  steps_per_env = capacity // num_envs. `add` appends one step to every stream at once
  (the engine steps its B envs in lock-step), so all streams share one write cursor and
  each stream is contiguous in time: a sampled sequence is a run of consecutive slots of
  one stream.

Time and indices
  `num_added` counts the steps appended to each stream so far. The step appended as the
  t-th one (t = 0, 1, ...) is called absolute time t and lives in slot t % steps_per_env.
  A stream holds its newest `num_stored` steps, absolute times [num_added - num_stored,
  num_added); `add` keeps num_stored = min(num_added, steps_per_env), and it can be
  smaller only after `with_capacity` grew a buffer that had already wrapped.
  A sampled window is the int32 pair (stream, absolute start time); it covers absolute
  times start .. start + seq_len - 1. Because indices name absolute times (not slots),
  `indices_valid` can tell exactly whether a logged window is still in a later buffer,
  and `gather(later_buffer, logged_indices)` reproduces the logged batch whenever it is.
  With capacity >= total steps (the paper: 1M capacity, 1M steps) nothing is ever
  overwritten, so a Tandem agent can replay the Active agent's batches from the Active
  agent's *final* buffer (check with `assert_indices_replayable` first).

Sampling (DreamerV3 semantics)
  `sample_indices` draws windows uniformly over all (stream, start) pairs whose window is
  fully written and does not cross the write cursor (never mixes the newest with the
  oldest data after wraparound). Windows may span episode boundaries: the gathered
  sequence carries the stored `is_first` flags unchanged, and the world model resets its
  latent wherever `is_first` is True. Nothing here realigns windows to episode starts.
  Before a stream holds `seq_len` steps there is no valid window: `can_sample` is False
  and `sample_indices` returns (stream, oldest stored time) windows that run into
  never-written (zero) slots. It never crashes inside jit; the engine must only train
  once `can_sample` is True (it trains after a prefill).

Subsets (offline data-split experiments; Python-level, outside jit)
  `select_time_range` keeps a time slice of every stream (first half = suboptimal,
  second half = expert). `subsample` keeps a uniform random fraction of fixed-length
  chunks; each kept chunk becomes its own stream, so no sampled window ever joins two
  chunks that were not adjacent in time. `with_capacity` copies a buffer into a larger
  one, keeping absolute times (so logged indices stay valid).

Every function works on one run's buffer and is pure and vmappable; a seed axis is added
by `jax.vmap` (the Python-level subset functions also accept buffers with leading seed
axes, provided every seed has added the same number of steps).
"""

from __future__ import annotations

import re
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ALLOWED_DTYPE_KINDS = "biuf"  # bool, signed/unsigned ints, floats: all round-trip through .npy

FieldSpec = tuple[tuple[int, ...], np.dtype]


def normalize_schema(schema: Mapping) -> dict[str, FieldSpec]:
    """Check a schema {name: (per-step shape, dtype)} and return it with tuple shapes and np.dtypes."""
    if not isinstance(schema, Mapping) or not schema:
        raise ValueError(f"schema must be a non-empty mapping name -> (shape, dtype), got {schema!r}")
    normalized = {}
    for name, spec in schema.items():
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise ValueError(f"schema field name {name!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        try:
            shape, dtype = spec
            shape = tuple(shape)
            dtype = np.dtype(dtype)
        except (TypeError, ValueError) as error:
            raise ValueError(f"schema field {name!r}: expected (shape tuple, dtype), got {spec!r}") from error
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"schema field {name!r}: shape {shape!r} must hold non-negative ints")
        if dtype.kind not in ALLOWED_DTYPE_KINDS:
            raise ValueError(f"schema field {name!r}: dtype {dtype} not supported (use bool, int, uint or float)")
        if jax.dtypes.canonicalize_dtype(dtype) != dtype:
            raise ValueError(
                f"schema field {name!r}: dtype {dtype} is not available on device (jax_enable_x64 is off); "
                f"use {jax.dtypes.canonicalize_dtype(dtype)}"
            )
        normalized[name] = (tuple(int(d) for d in shape), dtype)
    return normalized


@struct.dataclass
class ReplayBuffer:
    data: dict  # name -> (num_envs, steps_per_env, *field_shape) array
    num_added: jax.Array  # int32 scalar: steps appended to each stream so far (absolute time of the next step)
    num_stored: jax.Array  # int32 scalar: steps each stream holds now (the newest ones)
    num_envs: int = struct.field(pytree_node=False)
    steps_per_env: int = struct.field(pytree_node=False)

    # The properties are elementwise in num_added, so they also work on seed-batched buffers.
    @property
    def capacity(self) -> int:
        return self.num_envs * self.steps_per_env

    @property
    def cursor(self) -> jax.Array:
        """Slot that the next `add` writes in every stream."""
        return self.num_added % self.steps_per_env

    @property
    def stored_per_stream(self) -> jax.Array:
        return self.num_stored

    @property
    def oldest(self) -> jax.Array:
        """Absolute time of the oldest step still stored."""
        return self.num_added - self.stored_per_stream

    @property
    def total_added(self) -> jax.Array:
        """Steps ever added, summed over streams."""
        return self.num_added * self.num_envs

    @property
    def total_stored(self) -> jax.Array:
        """Steps currently stored, summed over streams."""
        return self.stored_per_stream * self.num_envs

    @property
    def stream_fill(self) -> jax.Array:
        """(..., num_envs) steps stored per stream (equal, since streams advance together)."""
        fill = self.stored_per_stream
        return jnp.broadcast_to(fill[..., None], jnp.shape(fill) + (self.num_envs,))


def _seed_ndim(buffer: ReplayBuffer) -> int:
    return jnp.ndim(buffer.num_added)


def schema_of(buffer: ReplayBuffer) -> dict[str, FieldSpec]:
    """The schema a buffer was created with (also for seed-batched buffers)."""
    skip = _seed_ndim(buffer) + 2
    return {name: (tuple(arr.shape[skip:]), np.dtype(arr.dtype)) for name, arr in buffer.data.items()}


def init_buffer(schema: Mapping, capacity: int, num_envs: int = 4) -> ReplayBuffer:
    """An empty buffer: `num_envs` streams of `capacity // num_envs` zero-filled slots each."""
    schema = normalize_schema(schema)
    for label, value in (("capacity", capacity), ("num_envs", num_envs)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{label} must be a positive int, got {value!r}")
    if capacity % num_envs:
        raise ValueError(f"capacity {capacity} must be divisible by num_envs {num_envs}")
    steps_per_env = int(capacity) // int(num_envs)
    if steps_per_env * num_envs >= 2**31:
        raise ValueError(f"capacity {capacity} does not fit int32 indices")
    data = {name: jnp.zeros((num_envs, steps_per_env, *shape), dtype) for name, (shape, dtype) in schema.items()}
    zero = jnp.zeros((), jnp.int32)
    return ReplayBuffer(
        data=data, num_added=zero, num_stored=zero, num_envs=int(num_envs), steps_per_env=steps_per_env
    )


def _checked_step(buffer: ReplayBuffer, step: Mapping, leading: tuple[int, ...]) -> dict:
    """Validate names/shapes/dtypes of one step (or chunk) against the buffer (static checks, jit-safe)."""
    if not isinstance(step, Mapping):
        raise ValueError(f"step must be a dict of arrays, got {type(step).__name__}")
    missing = sorted(set(buffer.data) - set(step))
    unknown = sorted(set(step) - set(buffer.data))
    if missing or unknown:
        raise ValueError(f"step fields do not match the buffer schema: missing {missing}, unknown {unknown}")
    checked = {}
    for name, arr in buffer.data.items():
        value = jnp.asarray(step[name])
        expected_shape = leading + arr.shape[2:]
        if value.shape != expected_shape:
            raise ValueError(f"step field {name!r}: shape {value.shape}, expected {expected_shape}")
        if not np.can_cast(value.dtype, arr.dtype, casting="safe"):
            raise ValueError(f"step field {name!r}: dtype {value.dtype} cannot be stored safely as {arr.dtype}")
        checked[name] = value.astype(arr.dtype)
    return checked


def add(buffer: ReplayBuffer, step: Mapping, commit=True) -> ReplayBuffer:
    """Append one step to every stream; `step[name]` has shape (num_envs, *field_shape).

    `commit` (a bool, may be traced) False writes the cursor slot without counting it, so
    the step stays invisible and the next add overwrites it: vmapped runs that skip an
    interaction burst run the same program as those that take it. An uncommitted write
    lands on the oldest step once a stream is full, so give such buffers a spare slot.
    """
    step = _checked_step(buffer, step, (buffer.num_envs,))
    slot = buffer.cursor
    data = {
        # dynamic_update_slice lets XLA write in place inside scan instead of copying the buffer.
        name: jax.lax.dynamic_update_index_in_dim(arr, step[name], slot, axis=1)
        for name, arr in buffer.data.items()
    }
    added = jnp.asarray(commit).astype(jnp.int32)
    num_stored = jnp.minimum(buffer.num_stored + added, buffer.steps_per_env)
    return buffer.replace(data=data, num_added=buffer.num_added + added, num_stored=num_stored)


def add_chunk(buffer: ReplayBuffer, steps: Mapping) -> ReplayBuffer:
    """Append T steps in time order; `steps[name]` has shape (T, num_envs, *field_shape)."""
    first = next(iter(steps.values()), None) if isinstance(steps, Mapping) else None
    if first is None or jnp.ndim(first) < 1:
        raise ValueError("add_chunk needs a non-empty dict of (T, num_envs, ...) arrays")
    steps = _checked_step(buffer, steps, (jnp.shape(first)[0], buffer.num_envs))
    buffer, _ = jax.lax.scan(lambda b, s: (add(b, s), None), buffer, steps)
    return buffer


def _check_seq_len(buffer: ReplayBuffer, seq_len: int) -> None:
    if not isinstance(seq_len, (int, np.integer)) or seq_len <= 0:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    if seq_len > buffer.steps_per_env:
        raise ValueError(f"seq_len {seq_len} exceeds the {buffer.steps_per_env} steps each stream can hold")


def num_valid_starts(buffer: ReplayBuffer, seq_len: int) -> jax.Array:
    """Number of valid (stream, start) windows of length `seq_len` (0 before the prefill)."""
    _check_seq_len(buffer, seq_len)
    return jnp.maximum(buffer.stored_per_stream - seq_len + 1, 0) * buffer.num_envs


def can_sample(buffer: ReplayBuffer, seq_len: int) -> jax.Array:
    """True once every stream holds at least one full window of `seq_len` steps."""
    return num_valid_starts(buffer, seq_len) > 0


def sample_indices(buffer: ReplayBuffer, key: jax.Array, batch_size: int = 16, seq_len: int = 64) -> jax.Array:
    """(batch_size, 2) int32 windows (stream, absolute start), uniform over all valid windows.

    Valid windows lie inside the stored steps, so they never cross the write cursor. Before
    `can_sample` holds, every window starts at the oldest stored step (see module doc).
    """
    _check_seq_len(buffer, seq_len)
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    # Clamped to >= 1 so randint always has a non-empty range, even before the prefill.
    starts_per_stream = jnp.maximum(buffer.stored_per_stream - seq_len + 1, 1).astype(jnp.int32)
    flat = jax.random.randint(key, (batch_size,), 0, starts_per_stream * buffer.num_envs, dtype=jnp.int32)
    stream = flat // starts_per_stream
    start = buffer.oldest + flat % starts_per_stream
    return jnp.stack([stream, start], axis=-1).astype(jnp.int32)


def gather(buffer: ReplayBuffer, indices: jax.Array, seq_len: int) -> dict:
    """Sequences for windows (..., 2) -> {name: (..., seq_len, *field_shape)}, stored values unchanged."""
    _check_seq_len(buffer, seq_len)
    indices = jnp.asarray(indices)
    if indices.ndim < 1 or indices.shape[-1] != 2:
        raise ValueError(f"indices must have shape (..., 2) of (stream, start), got {indices.shape}")
    stream = indices[..., 0, None]
    slots = (indices[..., 1, None] + jnp.arange(seq_len, dtype=indices.dtype)) % buffer.steps_per_env
    return {name: arr[stream, slots] for name, arr in buffer.data.items()}


def sample(
    buffer: ReplayBuffer, key: jax.Array, batch_size: int = 16, seq_len: int = 64
) -> tuple[dict, jax.Array]:
    """`sample_indices` then `gather`: returns (batch, indices); log the indices for a Tandem replay."""
    indices = sample_indices(buffer, key, batch_size, seq_len)
    return gather(buffer, indices, seq_len), indices


def indices_valid(buffer: ReplayBuffer, indices: jax.Array, seq_len: int) -> jax.Array:
    """(...,) bool: the window is fully stored in `buffer` (written and not overwritten since)."""
    _check_seq_len(buffer, seq_len)
    indices = jnp.asarray(indices)
    stream, start = indices[..., 0], indices[..., 1]
    in_streams = (stream >= 0) & (stream < buffer.num_envs)
    return in_streams & (start >= buffer.oldest) & (start + seq_len <= buffer.num_added)


def assert_indices_replayable(buffer: ReplayBuffer, indices: jax.Array, seq_len: int) -> None:
    """Python-level check before replaying logged indices (e.g. Tandem from the Active's final buffer).

    Raises ValueError if any logged window is no longer (or was never) in `buffer`.
    """
    if _seed_ndim(buffer):
        raise ValueError("assert_indices_replayable takes one run's buffer; index the seed axis first")
    valid = np.asarray(indices_valid(buffer, indices, seq_len))
    if valid.all():
        return
    num_added, oldest = int(buffer.num_added), int(buffer.oldest)
    flat = np.asarray(indices).reshape(-1, 2)
    bad = flat[~valid.reshape(-1)]
    overwritten = int((bad[:, 1] < oldest).sum())
    if overwritten:
        cause = (
            f"{overwritten} were overwritten: the buffer keeps absolute times [{oldest}, {num_added}) but "
            f"capacity {buffer.capacity} < total steps added {buffer.num_envs * num_added}; replaying logged "
            f"batches needs capacity >= total steps"
        )
    else:
        cause = (
            f"they lie outside the {buffer.num_envs} streams x absolute times [{oldest}, {num_added}) "
            f"this buffer holds: the log belongs to another run or a longer one"
        )
    raise ValueError(f"{len(bad)} of {len(flat)} logged windows are not in this buffer; {cause}")


# ---------------------------------------------------------------------------------------------
# Python-level subsets and copies (shapes change, so these run outside jit).


def _concrete_counts(buffer: ReplayBuffer, caller: str) -> tuple[int, int]:
    """(num_added, num_stored) as ints; seed-batched buffers must agree across seeds."""
    result = []
    for counts in (buffer.num_added, buffer.num_stored):
        try:
            counts = np.asarray(counts)
        except jax.errors.JAXTypeError as error:
            raise ValueError(f"{caller} changes array shapes: call it outside jit/vmap") from error
        if counts.size == 0 or (counts != counts.flat[0]).any():
            raise ValueError(f"{caller}: every seed must hold the same number of steps, got {counts.tolist()}")
        result.append(int(counts.flat[0]))
    return result[0], result[1]


def _compact(buffer: ReplayBuffer, data: dict, num_envs: int, steps: int) -> ReplayBuffer:
    """A full buffer holding exactly `steps` per stream at absolute times 0..steps-1."""
    counts = jnp.full(jnp.shape(buffer.num_added), steps, jnp.int32)
    return ReplayBuffer(data=data, num_added=counts, num_stored=counts, num_envs=num_envs, steps_per_env=steps)


def select_time_range(buffer: ReplayBuffer, start_fraction: float, end_fraction: float) -> ReplayBuffer:
    """A new full buffer with steps [round(start*n), round(end*n)) of every stream's n stored steps.

    Positions count from the oldest stored step; (0, 0.5) and (0.5, 1) partition the data
    exactly. The result's absolute times restart at 0, so indices from the source don't apply.
    """
    if not (0.0 <= start_fraction < end_fraction <= 1.0):
        raise ValueError(f"need 0 <= start_fraction < end_fraction <= 1, got ({start_fraction}, {end_fraction})")
    num_added, stored = _concrete_counts(buffer, "select_time_range")
    first, last = round(start_fraction * stored), round(end_fraction * stored)
    if last <= first:
        raise ValueError(
            f"time range ({start_fraction}, {end_fraction}) of {stored} stored steps per stream is empty"
        )
    slots = (num_added - stored + np.arange(first, last)) % buffer.steps_per_env
    time_axis = _seed_ndim(buffer) + 1
    data = {name: jnp.take(arr, slots, axis=time_axis) for name, arr in buffer.data.items()}
    return _compact(buffer, data, buffer.num_envs, last - first)


def subsample(buffer: ReplayBuffer, key: jax.Array, fraction: float, chunk_len: int) -> ReplayBuffer:
    """Keep a uniform random `fraction` of the data in contiguous chunks of `chunk_len` steps.

    Each stream's stored steps are cut into consecutive chunks from the oldest step (a
    remainder shorter than chunk_len is dropped); round(fraction * all chunks) chunks are
    drawn without replacement, uniformly over all (stream, chunk) pairs. Each kept chunk
    becomes its own stream of the result (num_envs = chunks kept, steps_per_env = chunk_len),
    ordered by (source stream, time), so sampled windows never join non-adjacent data.
    Choose chunk_len >= the training seq_len (e.g. one episode). For a seed-batched buffer
    pass one key per seed (keys of shape seed_shape + key_shape).
    """
    if not (0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if not isinstance(chunk_len, (int, np.integer)) or chunk_len <= 0:
        raise ValueError(f"chunk_len must be a positive int, got {chunk_len!r}")
    num_added, stored = _concrete_counts(buffer, "subsample")
    chunks_per_stream = stored // chunk_len
    total_chunks = chunks_per_stream * buffer.num_envs
    keep = round(fraction * total_chunks)
    if keep == 0:
        raise ValueError(
            f"subsample keeps no chunk: {stored} stored steps per stream give {total_chunks} chunks of "
            f"{chunk_len}, times fraction {fraction}"
        )
    oldest = num_added - stored
    offsets = np.arange(chunk_len)

    def pick(data, one_key):
        chosen = jnp.sort(jax.random.choice(one_key, total_chunks, (keep,), replace=False))
        stream = (chosen // chunks_per_stream)[:, None]
        slots = (oldest + (chosen % chunks_per_stream)[:, None] * chunk_len + offsets) % buffer.steps_per_env
        return {name: arr[stream, slots] for name, arr in data.items()}

    for _ in range(_seed_ndim(buffer)):
        pick = jax.vmap(pick)
    return _compact(buffer, pick(buffer.data, key), keep, chunk_len)


def with_capacity(buffer: ReplayBuffer, capacity: int) -> ReplayBuffer:
    """Copy into a buffer of another capacity (same streams), keeping absolute times.

    Every stored step moves to slot (absolute time % new steps_per_env), so indices logged
    against `buffer` gather the same sequences from the copy. Use it e.g. to give a Passive
    agent room for self-generated data without evicting the Active agent's data.
    """
    if not isinstance(capacity, (int, np.integer)) or capacity <= 0 or capacity % buffer.num_envs:
        raise ValueError(f"capacity must be a positive multiple of num_envs {buffer.num_envs}, got {capacity!r}")
    num_added, stored = _concrete_counts(buffer, "with_capacity")
    steps_per_env = int(capacity) // buffer.num_envs
    if steps_per_env < stored:
        raise ValueError(f"capacity {capacity} cannot hold the {stored * buffer.num_envs} stored steps")
    times = np.arange(num_added - stored, num_added)
    old_slots, new_slots = times % buffer.steps_per_env, times % steps_per_env
    seed_ndim = _seed_ndim(buffer)
    data = {}
    for name, arr in buffer.data.items():
        shape = arr.shape[: seed_ndim + 1] + (steps_per_env,) + arr.shape[seed_ndim + 2 :]
        target = (slice(None),) * (seed_ndim + 1) + (new_slots,)
        data[name] = jnp.zeros(shape, arr.dtype).at[target].set(jnp.take(arr, old_slots, axis=seed_ndim + 1))
    return buffer.replace(data=data, steps_per_env=steps_per_env)
