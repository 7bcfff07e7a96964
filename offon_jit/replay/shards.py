"""Incremental replay-buffer checkpoints: each checkpoint writes only the rows added since the last.

Why
  Within a phase a buffer only grows (capacity >= everything added), so rewriting the whole
  buffer at every checkpoint (orbax, ~12 GB per seed for a 1M-step vision buffer, up to 200
  times per run) writes the same rows again and again. Here the orbax checkpoint keeps the
  small run state (the buffer with `data={}`) and the rows go to one directory per run's
  buffer as append-only shards, so a checkpoint writes one eval interval of rows.

Files (one directory per run's buffer; one writer at a time)
  rows_<start>_<stop>_step_<step>.npys  one shard: the rows of absolute times [start, stop) of
      every stream, as a concatenation of standard .npy records, one per field in the
      manifest's field order, each of shape (num_envs, stop - start, *field_shape); `np.load`
      on an open file reads the records one after another. Raw records by default: they are
      written straight from the array's memory (hashed on the way), with no copy, at disk speed.
      `compress=True` writes `<name>.npys.zlib` instead, the same bytes through zlib level 1:
      rendered DMC frames shrink about 5x, at ~100 MB/s on one core (~30 MB/s on noise-like
      data); see benchmarks/checkpoint_io.py for the measured trade-off. The step is part of the
      name because two checkpoints with no rows added in between both write the cursor row
      [n, n + 1) with possibly different (uncommitted) contents.
  manifest_<step>.json  checkpoint `step`: format and version, the buffer layout (num_envs,
      steps_per_env, field shapes/dtypes), num_added, num_stored, `base` (opaque caller JSON;
      rows below base["num_added"] are the caller's, e.g. an offline agent's initial data) and
      every shard needed to rebuild the buffer, in write order, each with its row range, the
      buffer's num_added when it was written, its byte size and sha256.
  Both are written atomically (offon_jit.atomic: temporary file, fsync, rename, fsync of the
  directory), so a kill at any moment leaves every earlier manifest and its shards intact.

Rows and the cursor
  Absolute time t lives in slot t % steps_per_env. An uncommitted `add` writes the slot at
  the cursor (time num_added) without counting it, so that slot can hold data that is not yet
  "added". For a bitwise restore each shard also holds that cursor row whenever the buffer is
  not full: it covers [start, num_added + 1), and the next shard starts again at num_added,
  superseding it. Slots past the cursor are never written inside a phase, so they stay as in
  the base buffer (zeros for an Active).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from offon_jit.atomic import atomic_file
from offon_jit.replay.buffer import ReplayBuffer, normalize_schema

FORMAT_NAME = "offon_jit.replay.shards"
FORMAT_VERSION = 1
MANIFEST_NAME = re.compile(r"^manifest_(\d{9,})\.json$")
SHARD_NAME = re.compile(r"^rows_(\d{9,})_(\d{9,})_step_(\d{9,})\.npys(\.zlib)?$")
ZLIB_LEVEL = 1  # zlib's fastest level: most of the ratio of level 6 on rendered frames at 1.5x its speed
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ShardError(ValueError):
    """A manifest or shard is missing, corrupt, inconsistent or does not fit the buffer; the message names the file."""


def manifest_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"manifest_{step:09d}.json"


def shard_name(start: int, stop: int, step: int, compress: bool = False) -> str:
    return f"rows_{start:09d}_{stop:09d}_step_{step:09d}.npys" + (".zlib" if compress else "")


def save_increment(
    directory: Path,
    buffer: ReplayBuffer,
    step: int,
    base: dict | None = None,
    *,
    compress: bool = False,
    run: int | None = None,
) -> dict:
    """Write the rows added since the newest manifest in `directory` (or since the base) as one
    shard, then the manifest of checkpoint `step` listing every shard needed to rebuild the buffer.

    The previous manifest is the one with the largest step < `step`; manifests of `step` or later
    are leftovers of a run resumed from an older checkpoint: they are replaced/deleted (their
    shards stay until `prune`). `base` (JSON dict with an int "num_added") is only needed at the
    first save; later saves inherit it, and a different one is refused (another buffer's
    directory). `compress` zlib-compresses this shard (restore reads either kind). `run` picks one
    run of a buffer with a leading run axis (e.g. the seed-vmapped device buffer, or one device's
    shard of it): only that run's new rows leave the device, where indexing the run first would
    copy its whole buffer. Returns the manifest dict (as written).
    """
    directory = Path(directory)
    _check_count(step, "step")
    layout = _layout(buffer, run)
    num_added, num_stored = (int(np.asarray(c)[()] if run is None else np.asarray(c)[run])
                             for c in (buffer.num_added, buffer.num_stored))
    manifests = _manifest_steps(directory)
    older = [s for s in manifests if s < step]
    if older:
        previous_path = manifests[max(older)]
        previous = _read_manifest(previous_path)
        if previous["layout"] != layout:
            raise ShardError(f"replay manifest {previous_path}: holds a buffer with layout {previous['layout']}, "
                             f"not this one's {layout}; use one directory per buffer")
        if base is not None and base != previous["base"]:
            raise ShardError(f"replay manifest {previous_path}: saved with base {previous['base']}, not {base}; "
                             "use one directory per buffer")
        base, start, shards = previous["base"], previous["num_added"], list(previous["shards"])
        if num_added < start:
            raise ShardError(f"replay manifest {previous_path}: already holds {start} steps per stream, but this "
                             f"buffer has only {num_added}: not the same buffer, or saved out of order")
    else:
        start, shards = _base_num_added(base), []
        if num_added < start:
            raise ValueError(f"base num_added {start} exceeds the buffer's num_added {num_added}")
    if start < num_added - num_stored:
        raise ValueError(f"rows from absolute time {start} on are needed but the buffer only keeps "
                         f"[{num_added - num_stored}, {num_added}): it wrapped; incremental checkpoints "
                         "need capacity >= every step added")
    # The cursor row holds uncommitted data whenever the cursor slot is not a stored row.
    stop = num_added + (num_stored < buffer.steps_per_env)
    records = [(name, _take_rows(buffer.data[name], start, stop, buffer.steps_per_env, run))
               for name in layout["fields"]]  # fmt: skip
    name = shard_name(start, stop, step, compress)
    size, digest = _write_atomic(directory / name, records, compress)
    shards.append({"file": name, "start": start, "stop": stop, "num_added": num_added, "bytes": size,
                   "sha256": digest})  # fmt: skip
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "step": step, "layout": layout,
                "num_added": num_added, "num_stored": num_stored, "base": base, "shards": shards}  # fmt: skip
    for stale in (s for s in manifests if s > step):  # an abandoned future must not become "previous" later
        manifests[stale].unlink(missing_ok=True)
    _write_atomic(manifest_path(directory, step), [_encode(manifest)])
    return manifest


def restore(directory: Path, step: int, base_buffer: ReplayBuffer) -> ReplayBuffer:
    """The buffer saved at checkpoint `step`, rebuilt on top of `base_buffer` (host numpy arrays).

    `base_buffer` has the same layout and holds the rows below the manifest's base num_added
    (an empty buffer for an Active, the offline agent's initial data otherwise). Every shard is
    checked (size, sha256, records) before its rows are written, in order, into their slots.
    """
    directory = Path(directory)
    path = manifest_path(directory, step)
    manifest = _read_manifest(path)
    layout = _layout(base_buffer)
    if manifest["layout"] != layout:
        raise ShardError(f"replay manifest {path}: layout {manifest['layout']} does not match the base "
                         f"buffer's {layout}")
    base_added = _base_num_added(manifest["base"], path)
    if int(base_buffer.num_added) != base_added:
        raise ShardError(f"replay manifest {path}: base has num_added {base_added}, the base buffer "
                         f"{int(base_buffer.num_added)}")
    _check_chain(manifest, base_added, path)
    data = {name: np.array(arr) for name, arr in base_buffer.data.items()}  # a writable host copy
    for entry in manifest["shards"]:
        rows = _read_shard(directory / entry["file"], entry, layout, path)
        slots = _slots(entry["start"], entry["stop"], layout["steps_per_env"])
        for name, values in rows.items():
            data[name][:, slots] = values
    return ReplayBuffer(data=data, num_added=np.asarray(manifest["num_added"], np.int32),
                        num_stored=np.asarray(manifest["num_stored"], np.int32),
                        num_envs=layout["num_envs"], steps_per_env=layout["steps_per_env"])  # fmt: skip


def prune(directory: Path, keep_steps: set[int]) -> None:
    """Delete manifests of steps not in `keep_steps`, then shards (and temporaries) no kept manifest lists.

    Kept manifests are read first, so an unreadable one raises ShardError before anything is deleted.
    """
    directory = Path(directory)
    manifests = _manifest_steps(directory)
    kept = [_read_manifest(path) for s, path in manifests.items() if s in keep_steps]
    referenced = {entry["file"] for manifest in kept for entry in manifest["shards"]}
    for s, path in manifests.items():
        if s not in keep_steps:
            path.unlink(missing_ok=True)
    for path in directory.iterdir() if directory.is_dir() else ():
        temporary = path.name.startswith((".rows_", ".manifest_")) and path.name.endswith(".tmp")  # killed saves
        if temporary or (SHARD_NAME.match(path.name) and path.name not in referenced):
            path.unlink(missing_ok=True)


def bytes_written(manifest: dict) -> int:
    """Bytes the save that produced `manifest` wrote: its new shard plus the manifest file."""
    return manifest["shards"][-1]["bytes"] + len(_encode(manifest))


# -- helpers -----------------------------------------------------------------------------------
def _layout(buffer: ReplayBuffer, run: int | None = None) -> dict:
    runs = jnp.shape(buffer.num_added)
    if run is None and runs:
        raise ValueError("incremental checkpoints take one run's buffer: pass run= or index the run axis first")
    if run is not None and (len(runs) != 1 or not 0 <= run < runs[0]):
        raise ValueError(f"run={run!r} needs a buffer with one leading run axis holding it, got run shape {runs}")
    skip = 2 + len(runs)
    fields = {name: {"shape": list(arr.shape[skip:]), "dtype": np.dtype(arr.dtype).name}
              for name, arr in sorted(buffer.data.items())}  # fmt: skip
    return {"num_envs": buffer.num_envs, "steps_per_env": buffer.steps_per_env, "fields": fields}


def _base_num_added(base, path: Path | None = None) -> int:
    if base is None:
        return 0
    if not isinstance(base, dict) or not _is_count(base.get("num_added")):
        problem = f"base must be None or a JSON dict with an int 'num_added' >= 0, got {base!r}"
        raise ShardError(f"replay manifest {path}: {problem}") if path else ValueError(problem)
    return base["num_added"]


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_count(value, label: str) -> None:
    if not _is_count(value):
        raise ValueError(f"{label} must be an int >= 0, got {value!r}")


def _slots(start: int, stop: int, steps_per_env: int):
    """Slots of absolute times [start, stop): a slice unless the range wraps (only with a wrapped base)."""
    first = start % steps_per_env
    if first + stop - start <= steps_per_env:
        return slice(first, first + stop - start)
    return np.arange(start, stop) % steps_per_env


def _take_rows(arr, start: int, stop: int, steps_per_env: int, run: int | None = None) -> np.ndarray:
    """Rows [start, stop) of every stream (of run `run`) on the host; only those rows leave the device."""
    first, count = start % steps_per_env, stop - start
    pieces = [(first, min(count, steps_per_env - first))]
    if count > pieces[0][1]:  # the range wraps (only possible on top of a wrapped base)
        pieces.append((0, count - pieces[0][1]))
    rows = [_contiguous_rows(arr, slot, size, run) for slot, size in pieces]
    return rows[0] if len(rows) == 1 else np.concatenate(rows, axis=1)


def _contiguous_rows(arr, slot: int, size: int, run: int | None) -> np.ndarray:
    """Slots [slot, slot + size). A device array is cut with dynamic_slice, whose compiled program
    depends on the sizes only (a static slice compiles anew for every start: ~0.4 s per field)."""
    lead = () if run is None else (run,)
    if isinstance(arr, np.ndarray):
        return arr[(*lead, slice(None), slice(slot, slot + size))]
    starts = (*lead, 0, slot) + (0,) * (arr.ndim - len(lead) - 2)
    sizes = (1,) * len(lead) + (arr.shape[len(lead)], size) + arr.shape[len(lead) + 2 :]
    rows = np.asarray(jax.lax.dynamic_slice(arr, starts, sizes))
    return rows[0] if lead else rows


def _encode(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=1) + "\n").encode("utf-8")


def _write_atomic(path: Path, parts: list, compress: bool = False) -> tuple[int, str]:
    """Write bytes and (name, array) records to `path` atomically; returns the file's (size, sha256).

    The checksum is computed on the way out and covers the bytes on disk, so restore catches
    corruption before decompressing or parsing anything.
    """
    digest, sizes = hashlib.sha256(), []
    compressor = zlib.compressobj(ZLIB_LEVEL) if compress else None
    with atomic_file(path) as file:

        def emit(chunk):
            digest.update(chunk)
            sizes.append(file.write(chunk))

        for part in parts:
            for chunk in [part] if isinstance(part, bytes) else _npy_chunks(np.asarray(part[1])):
                emit(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            emit(compressor.flush())
    return sum(sizes), digest.hexdigest()


def _npy_chunks(array: np.ndarray) -> list:
    """A .npy record as (header bytes, the array's own memory as flat uint8): no copy of the data."""
    array = np.ascontiguousarray(array)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return [header.getvalue(), array.reshape(-1).view(np.uint8)]


def _manifest_steps(directory: Path) -> dict[int, Path]:
    if not directory.is_dir():
        return {}
    found = (MANIFEST_NAME.match(p.name) for p in directory.iterdir())
    return {int(m.group(1)): directory / m.group(0) for m in found if m}


def _read_manifest(path: Path) -> dict:
    """The parsed manifest with its structure checked (the shard files are checked by `restore`)."""
    def bad(problem):
        return ShardError(f"replay manifest {path}: {problem}")

    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad("not found (no incremental checkpoint of this step)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad(f"unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(manifest, dict):
        raise bad("not a JSON object")
    if (manifest.get("format"), manifest.get("version")) != (FORMAT_NAME, FORMAT_VERSION):
        raise bad(f"format {manifest.get('format')!r} version {manifest.get('version')!r}, "
                  f"expected {FORMAT_NAME!r} version {FORMAT_VERSION}")
    for key in ("step", "num_added", "num_stored"):
        if not _is_count(manifest.get(key)):
            raise bad(f"{key!r} is {manifest.get(key)!r}, expected an int >= 0")
    if MANIFEST_NAME.match(path.name) and int(MANIFEST_NAME.match(path.name).group(1)) != manifest["step"]:
        raise bad(f"holds step {manifest['step']}, its name another")
    layout = manifest.get("layout")
    try:
        if set(layout) != {"num_envs", "steps_per_env", "fields"} or not all(
            isinstance(layout[k], int) and layout[k] > 0 for k in ("num_envs", "steps_per_env")
        ):
            raise ValueError(f"layout {layout!r}")
        normalize_schema({name: (spec["shape"], spec["dtype"]) for name, spec in layout["fields"].items()})
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        raise bad(f"malformed layout ({error})") from None
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not shards:
        raise bad("'shards' is missing or empty")
    for entry in shards:
        ok = isinstance(entry, dict) and isinstance(entry.get("file"), str) and SHARD_NAME.match(entry["file"])
        ok = ok and all(_is_count(entry.get(k)) for k in ("start", "stop", "num_added", "bytes"))
        ok = ok and isinstance(entry.get("sha256"), str) and SHA256.match(entry["sha256"])
        if not ok:
            raise bad(f"malformed shard entry {entry!r}")
    return manifest


def _check_chain(manifest: dict, base_added: int, path: Path) -> None:
    """Shards must cover [base num_added, num_added) in order, each starting at the previous num_added."""
    start, added = base_added, base_added
    steps_per_env = manifest["layout"]["steps_per_env"]
    num_added, num_stored = manifest["num_added"], manifest["num_stored"]
    if num_stored > min(num_added, steps_per_env) or base_added < num_added - num_stored:
        raise ShardError(f"replay manifest {path}: inconsistent counts num_added {num_added}, num_stored "
                         f"{num_stored}, base num_added {base_added}, steps_per_env {steps_per_env}")
    for entry in manifest["shards"]:
        if entry["start"] != start or entry["num_added"] < added or entry["stop"] - entry["num_added"] not in (0, 1):
            raise ShardError(f"replay manifest {path}: shard {entry['file']} covers [{entry['start']}, "
                             f"{entry['stop']}) at num_added {entry['num_added']}, but the rows continue at {start}")
        start = added = entry["num_added"]
    last = manifest["shards"][-1]
    if added != num_added or last["stop"] != num_added + (num_stored < steps_per_env):
        raise ShardError(f"replay manifest {path}: shards end at num_added {added} (stop {last['stop']}), "
                         f"the manifest says num_added {num_added}")
    if last["stop"] - (num_added - num_stored) > steps_per_env:
        raise ShardError(f"replay manifest {path}: rows up to {last['stop']} do not fit {steps_per_env} slots")


def _read_shard(path: Path, entry: dict, layout: dict, manifest: Path) -> dict[str, np.ndarray]:
    """The shard's arrays after checking size, sha256 and every record's shape and dtype."""
    def bad(problem):
        return ShardError(f"replay shard {path} (listed in {manifest.name}): {problem}")

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise bad("missing") from None
    except OSError as error:
        raise bad(f"unreadable ({error})") from None
    if len(raw) != entry["bytes"]:
        raise bad(f"{len(raw)} bytes, the manifest says {entry['bytes']} (truncated or replaced)")
    if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
        raise bad("sha256 does not match the manifest (corrupt)")
    if path.name.endswith(".zlib"):
        try:
            raw = zlib.decompress(raw)
        except zlib.error as error:
            raise bad(f"bad zlib data ({error})") from None
    reader, rows = io.BytesIO(raw), {}
    try:
        for name, spec in layout["fields"].items():
            if np.lib.format.read_magic(reader) != (1, 0):
                raise ValueError("not a version 1.0 .npy record")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(reader)
            want = (layout["num_envs"], entry["stop"] - entry["start"], *spec["shape"])
            if shape != want or dtype != np.dtype(spec["dtype"]) or fortran:
                raise ValueError(f"field {name!r} record has shape {shape}, dtype {dtype}; "
                                 f"expected {want}, {spec['dtype']}")
            offset = reader.tell()
            rows[name] = np.frombuffer(raw, dtype, math.prod(shape), offset).reshape(shape)
            reader.seek(offset + rows[name].nbytes)
    except ValueError as error:
        raise bad(f"bad record ({error})") from None
    if reader.tell() != len(raw):
        raise bad(f"{len(raw) - reader.tell()} trailing bytes after the last field")
    return rows
