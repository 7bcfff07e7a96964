"""Save and load one run's replay buffer as a compressed .npz file.

File format (FORMAT_NAME "offon_jit.replay", FORMAT_VERSION 1): a zip archive written by
`numpy.savez_compressed` holding
  * "__metadata__": a uint8 array of UTF-8 JSON with
      format, version              "offon_jit.replay", 1
      num_envs, steps_per_env      stream layout; capacity = num_envs * steps_per_env
      capacity
      num_added_per_stream         steps ever appended to each stream (absolute time of the next step)
      cursor                       num_added_per_stream % steps_per_env (slot the next add writes)
      stored_per_stream            steps each stream holds (the newest ones); normally
                                   min(num_added_per_stream, steps_per_env), never more
      total_added, total_stored    the two counts above times num_envs
      fields                       {name: {"shape": per-step shape, "dtype": numpy dtype name}}
  * "field.<name>": one array per field, shape (num_envs, steps_per_env, *shape), every
    slot including never-written ones, so load(save(buffer)) is bit-identical.
Files are written atomically: a temporary file in the same directory is written, fsynced
and renamed into place (refusing to replace an existing file unless overwrite=True), so
a reader never sees a half-written file. `load_buffer` validates everything and raises
`ReplayFileError` (a ValueError naming the file and the problem) on any corrupt,
truncated, inconsistent or schema-mismatched file.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from offon_jit.atomic import atomic_file
from offon_jit.replay.buffer import ReplayBuffer, normalize_schema

FORMAT_NAME = "offon_jit.replay"
FORMAT_VERSION = 1
METADATA_KEY = "__metadata__"
FIELD_PREFIX = "field."


class ReplayFileError(ValueError):
    """A replay file is unreadable, inconsistent, or does not match the expected schema."""


def metadata_of(buffer: ReplayBuffer) -> dict:
    """The JSON metadata `save_buffer` writes for `buffer` (one run, concrete counts)."""
    if jnp.ndim(buffer.num_added):
        raise ValueError("save one run's buffer at a time: index the seed axis first, e.g. "
                         "jax.tree.map(lambda x: x[seed], buffer)")
    num_added, stored = int(buffer.num_added), int(buffer.num_stored)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "num_envs": buffer.num_envs,
        "steps_per_env": buffer.steps_per_env,
        "capacity": buffer.capacity,
        "num_added_per_stream": num_added,
        "cursor": num_added % buffer.steps_per_env,
        "stored_per_stream": stored,
        "total_added": num_added * buffer.num_envs,
        "total_stored": stored * buffer.num_envs,
        "fields": {
            name: {"shape": list(arr.shape[2:]), "dtype": np.dtype(arr.dtype).name}
            for name, arr in buffer.data.items()
        },
    }


def save_buffer(buffer: ReplayBuffer, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write `buffer` to `path` atomically; returns the path. Refuses to replace a file unless overwrite."""
    path = Path(path)
    metadata = metadata_of(buffer)
    if path.exists() and not overwrite:
        raise FileExistsError(f"replay file {path} already exists (pass overwrite=True to replace it)")
    arrays = {FIELD_PREFIX + name: np.asarray(arr) for name, arr in jax.device_get(buffer.data).items()}
    arrays[METADATA_KEY] = np.frombuffer(json.dumps(metadata, sort_keys=True).encode("utf-8"), np.uint8)
    # The temporary file is linked into place when overwrite is False, so an existing file is never clobbered.
    with atomic_file(path, "wb", overwrite=overwrite) as file:
        np.savez_compressed(file, **arrays)
    return path


def _error(path: Path, problem: str) -> ReplayFileError:
    return ReplayFileError(f"replay file {path}: {problem}")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _validated_metadata(raw: np.ndarray, path: Path) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _error(path, f"metadata entry {METADATA_KEY!r} is not a uint8 byte array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _error(path, f"metadata is not valid JSON ({error})")
    if not isinstance(meta, dict):
        raise _error(path, "metadata JSON is not an object")
    if meta.get("format") != FORMAT_NAME:
        raise _error(path, f"format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
    if meta.get("version") != FORMAT_VERSION:
        raise _error(path, f"format version {meta.get('version')!r} is not supported "
                           f"(this code reads {FORMAT_VERSION})")
    counts = ("num_envs", "steps_per_env", "capacity", "num_added_per_stream", "cursor",
              "stored_per_stream", "total_added", "total_stored")
    for key in counts:
        if not _is_count(meta.get(key)):
            raise _error(path, f"metadata {key!r} is {meta.get(key)!r}, expected a non-negative int")
    num_envs, steps, num_added = meta["num_envs"], meta["steps_per_env"], meta["num_added_per_stream"]
    stored = meta["stored_per_stream"]
    if num_envs == 0 or steps == 0:
        raise _error(path, f"empty layout num_envs={num_envs}, steps_per_env={steps}")
    if stored > min(num_added, steps):
        raise _error(path, f"inconsistent counts: stored_per_stream {stored} exceeds "
                           f"min(num_added_per_stream={num_added}, steps_per_env={steps})")
    expected = {
        "capacity": num_envs * steps,
        "cursor": num_added % steps,
        "total_added": num_added * num_envs,
        "total_stored": stored * num_envs,
    }
    for key, value in expected.items():
        if meta[key] != value:
            raise _error(path, f"inconsistent counts: {key} is {meta[key]}, expected {value} from "
                        f"num_envs={num_envs}, steps_per_env={steps}, num_added_per_stream={num_added}")
    if num_added >= 2**31:
        raise _error(path, f"num_added_per_stream {num_added} does not fit int32")
    fields = meta.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _error(path, "metadata 'fields' is missing or empty")
    try:
        schema = normalize_schema({name: (spec["shape"], spec["dtype"]) for name, spec in fields.items()})
    except (TypeError, KeyError, ValueError) as error:
        raise _error(path, f"metadata 'fields' is malformed ({error})")
    meta["schema"] = schema  # normalized {name: (shape, np.dtype)}; not part of the JSON
    return meta


def _check_expected_schema(schema: dict, expected_schema: Mapping, path: Path) -> None:
    expected = normalize_schema(expected_schema)
    problems = []
    for name in sorted(set(expected) - set(schema)):
        problems.append(f"field {name!r} missing from file")
    for name in sorted(set(schema) - set(expected)):
        problems.append(f"unexpected field {name!r} in file")
    for name in sorted(set(schema) & set(expected)):
        (shape, dtype), (want_shape, want_dtype) = schema[name], expected[name]
        if shape != want_shape:
            problems.append(f"field {name!r} has shape {shape} in file, expected {want_shape}")
        if dtype != want_dtype:
            problems.append(f"field {name!r} has dtype {dtype} in file, expected {want_dtype}")
    if problems:
        raise _error(path, "schema mismatch: " + "; ".join(problems))


def read_metadata(path: str | os.PathLike) -> dict:
    """The validated metadata of a replay file, without loading its arrays."""
    return _read(Path(path), load_arrays=False)[0]


def load_buffer(path: str | os.PathLike, expected_schema: Mapping | None = None) -> ReplayBuffer:
    """Load and validate a file written by `save_buffer`; raises ReplayFileError on any problem."""
    path = Path(path)
    meta, arrays = _read(path, load_arrays=True)
    if expected_schema is not None:
        _check_expected_schema(meta["schema"], expected_schema, path)
    return ReplayBuffer(
        data={name: jnp.asarray(arr) for name, arr in arrays.items()},
        num_added=jnp.asarray(meta["num_added_per_stream"], jnp.int32),
        num_stored=jnp.asarray(meta["stored_per_stream"], jnp.int32),
        num_envs=meta["num_envs"],
        steps_per_env=meta["steps_per_env"],
    )


def _read(path: Path, load_arrays: bool) -> tuple[dict, dict]:
    if not path.is_file():
        raise FileNotFoundError(f"replay file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise _error(path, "not a zip/.npz archive (truncated, or not written by save_buffer)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if METADATA_KEY not in names:
                raise _error(path, f"metadata entry {METADATA_KEY!r} is missing")
            meta = _validated_metadata(archive[METADATA_KEY], path)
            schema = meta["schema"]
            stored_fields = {n[len(FIELD_PREFIX):] for n in names if n.startswith(FIELD_PREFIX)}
            missing = sorted(set(schema) - stored_fields)
            unexpected = sorted(stored_fields - set(schema)) + sorted(
                n for n in names if n != METADATA_KEY and not n.startswith(FIELD_PREFIX)
            )
            if missing:
                raise _error(path, f"field arrays missing from archive: {missing}")
            if unexpected:
                raise _error(path, f"archive holds arrays not listed in metadata: {unexpected}")
            arrays = {}
            if load_arrays:
                for name, (shape, dtype) in schema.items():
                    arr = archive[FIELD_PREFIX + name]
                    want = (meta["num_envs"], meta["steps_per_env"], *shape)
                    if arr.shape != want:
                        raise _error(path, f"field {name!r} array has shape {arr.shape}, metadata says {want}")
                    if arr.dtype != dtype:
                        raise _error(path, f"field {name!r} array has dtype {arr.dtype}, metadata says {dtype}")
                    arrays[name] = arr
    except ReplayFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as error:
        raise _error(path, f"corrupt or truncated archive ({type(error).__name__}: {error})")
    return meta, arrays
