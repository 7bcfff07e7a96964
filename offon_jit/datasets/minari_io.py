"""Replay buffers as Minari datasets (hdf5 storage) and Minari datasets as replay buffers.

    export_buffer(buffer, spec, task, "point_reach/active-seed0-v0")   -> a dataset in the local Minari root
    import_buffer("point_reach/active-seed0-v0" or a directory, spec, schema, capacity, num_envs)
                                                                        -> the numpy buffer offline agents sample

Episodes follow the Minari convention (episodes.py: T+1 observations, actions[t] at
observations[t] gives rewards[t] and observations[t+1], terminations/truncations recovered
from our rows), actions are in the env's own space (spaces.py), image observations are
stored losslessly (no JPEG). The dataset metadata's "offon_jit" entry and each episode's
metadata record the replay layout (streams, absolute start times, counters) and the few
row values Minari has no field for, so a dataset exported here is rebuilt bit-identically
(streams.py, "exact"). Any other dataset whose spaces fit the task is packed into streams
(streams.py, "packed").

The local Minari root is $MINARI_DATASETS_PATH, else ~/.minari/datasets (minari's rule);
nothing is ever downloaded. A dataset is written into a hidden staging directory beside its
final place and renamed into place, so a failed export leaves no partial dataset and
replacing one (`overwrite`) never loses the old one before the new one is complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
import warnings

import jax
import numpy as np
from minari import MinariDataset
from minari import __version__ as minari_version
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.dataset.minari_dataset import parse_dataset_id
from minari.dataset.minari_storage import METADATA_FILE_NAME, MinariStorage
from minari.namespace import create_namespace, list_local_namespaces
from minari.storage.datasets_root_dir import get_dataset_path

import offon_jit
from envs.spec import EnvSpec
from offon_jit.datasets import episodes as episodes_lib
from offon_jit.datasets import spaces, streams
from offon_jit.engine.transitions import replay_schema
from offon_jit.replay.buffer import ReplayBuffer, normalize_schema, schema_of, with_capacity

FORMAT_NAME = "offon_jit.replay_episodes"
FORMAT_VERSION = 1
METADATA_KEY = "offon_jit"  # our entry in the dataset metadata and the prefix of our episode metadata
DATA_DIR = "data"  # minari keeps a dataset's files in <root>/<id>/data
ALGORITHM = "DreamerV3 (offon_jit)"


class DatasetError(ValueError):
    """A dataset id, path or file that cannot be used; the message names it and the problem."""


# -- where datasets live ---------------------------------------------------------------------
def check_dataset_id(dataset_id: str) -> str:
    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):  # minari raises TypeError for an id without -vN
        raise DatasetError(f"dataset id {dataset_id!r} must look like [namespace/]name-vN, "
                           "e.g. point_reach/active-seed0-v0") from None
    return dataset_id


def dataset_dir(dataset_id: str) -> pathlib.Path:
    """The directory the dataset `dataset_id` has (or would have) in the local Minari root."""
    return pathlib.Path(get_dataset_path(check_dataset_id(dataset_id)))


def resolve_dataset(id_or_path: str | os.PathLike) -> pathlib.Path:
    """The data directory (holding metadata.json) of a dataset directory path or a local dataset id.

    An existing directory wins over an id of the same spelling; ids are looked up in the local
    Minari root only (never downloaded).
    """
    path = pathlib.Path(id_or_path).expanduser()
    if path.is_dir():
        for candidate in (path / DATA_DIR, path):
            if (candidate / METADATA_FILE_NAME).is_file():
                return candidate
        raise DatasetError(f"{path} is a directory but not a Minari dataset (no {DATA_DIR}/{METADATA_FILE_NAME})")
    try:
        check_dataset_id(str(id_or_path))
    except DatasetError:
        raise DatasetError(f"{str(id_or_path)!r} is neither a Minari dataset directory nor a dataset id "
                           "([namespace/]name-vN)") from None
    data = dataset_dir(str(id_or_path)) / DATA_DIR
    if not (data / METADATA_FILE_NAME).is_file():
        raise DatasetError(f"no Minari dataset {str(id_or_path)!r} in the local Minari root {get_dataset_path()} "
                           "(set MINARI_DATASETS_PATH or give the dataset's directory; nothing is downloaded)")
    return data


def open_dataset(id_or_path: str | os.PathLike) -> MinariDataset:
    data = resolve_dataset(id_or_path)
    try:
        return MinariDataset(str(data))
    except Exception as error:  # minari raises assertion, key, JSON and value errors on damaged files
        raise DatasetError(f"{data} is not a readable Minari dataset ({type(error).__name__}: {error})") from None


# -- export -----------------------------------------------------------------------------------
def _as_numpy_run(buffer: ReplayBuffer) -> ReplayBuffer:
    buffer = jax.tree_util.tree_map(np.asarray, buffer)
    if np.ndim(buffer.num_added):
        raise ValueError("export one run's buffer: index the seed axis first")
    return buffer


def _check_buffer_schema(buffer: ReplayBuffer, spec: EnvSpec) -> dict:
    expected = normalize_schema(replay_schema(spec))
    actual = schema_of(buffer)
    if actual != expected:
        raise ValueError(f"the buffer's fields {actual} are not task {spec.name}'s replay rows {expected}")
    return expected


def _layout(buffer: ReplayBuffer, schema: dict) -> dict:
    return {
        "num_envs": buffer.num_envs,
        "steps_per_env": buffer.steps_per_env,
        "num_added_per_stream": int(buffer.num_added),
        "stored_per_stream": int(buffer.num_stored),
        "fields": {name: {"shape": list(shape), "dtype": dtype.name} for name, (shape, dtype) in schema.items()},
    }


def _description(spec: EnvSpec, task_name: str, layout: dict) -> str:
    action = (f"Discrete({spec.action.num_actions}) integer actions" if spec.action.is_discrete
              else f"float32 actions in the env's [{spec.action.low:g}, {spec.action.high:g}]^{spec.action.dim} box")
    return (
        f"Replay buffer of an offon_jit agent on task {task_name}. Steps are agent steps (one policy decision = "
        f"{spec.action_repeat} simulator frame(s) of action repeat); episodes end at an MDP termination or at the time "
        f"limit of {spec.episode_length} agent steps. {action}. Each episode is a run of rows of one env stream "
        "from a reset observation (is_first) to the row before the next reset: observations[0] is the reset "
        "observation and actions[t] taken at observations[t] gave rewards[t] and observations[t+1] (T+1 "
        "observations, T steps). terminations[-1] marks an MDP termination, truncations[-1] the time limit or "
        "the end of the buffer: the newest episode of each stream was still running and is marked truncated "
        f"(episode metadata {METADATA_KEY}/end says terminated, truncated or buffer_end). If the buffer wrapped, "
        "a stream's oldest episode may lack its first rows (observations[0] is then no reset observation, "
        f"{METADATA_KEY}/first_is_first is False). The replay layout ({layout['num_envs']} env streams stepped in "
        f"lock-step, {layout['num_added_per_stream']} rows added per stream) is in metadata['{METADATA_KEY}']; each "
        "episode's metadata gives its stream and absolute start time; episodes are listed in the order they "
        "started (start time, then stream), and `offon-jit run --dataset` "
        "rebuilds the exact buffer."
    )


def _lone_rows(buffer: ReplayBuffer, segments) -> dict | None:
    if not segments:
        return None
    parts = [episodes_lib.rows(buffer, s.stream, s.start, s.stop) for s in segments]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _episode_buffers(buffer: ReplayBuffer, grouped, spec: EnvSpec):
    for index, group in enumerate(grouped):
        seg = group.episode
        arrays = episodes_lib.minari_arrays(episodes_lib.rows(buffer, seg.stream, seg.start, seg.stop), seg.end, spec)
        yield EpisodeBuffer(id=index, **arrays)


def _episode_metadata(buffer: ReplayBuffer, grouped):
    for group in grouped:
        seg = group.episode
        extras = episodes_lib.row_extras(episodes_lib.rows(buffer, seg.stream, seg.start, seg.stop),
                                         _lone_rows(buffer, group.before), _lone_rows(buffer, group.after))
        record = {"stream": seg.stream, "start": seg.start, "end": seg.end, **extras}
        yield {f"{METADATA_KEY}/{key}": value for key, value in record.items()}


def _ensure_namespace(dataset_id: str) -> None:
    namespace = parse_dataset_id(dataset_id)[0]
    if namespace is not None and namespace not in list_local_namespaces():
        create_namespace(namespace)


def _replace_dir(staging: pathlib.Path, final: pathlib.Path) -> None:
    """Move the complete `staging` directory to `final`; an old `final` is removed only afterwards."""
    if not final.exists():
        os.rename(staging, final)
        return
    old = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    os.rename(final, old / final.name)
    try:
        os.rename(staging, final)
    except OSError:
        os.rename(old / final.name, final)  # the old dataset goes back where it was
        os.rmdir(old)
        raise
    shutil.rmtree(old)


def export_buffer(buffer: ReplayBuffer, spec: EnvSpec, task_name: str, dataset_id: str, *,
                  description_extra: dict | None = None, overwrite: bool = False) -> MinariDataset:
    """Write one run's replay buffer as the Minari dataset `dataset_id` in the local Minari root.

    `description_extra` (JSON-serialisable: the run's config, agent, seed) is kept in
    metadata['offon_jit']['source']. Refuses an existing dataset unless `overwrite`.
    """
    if task_name != spec.name:
        raise ValueError(f"task {task_name!r} is not the spec's task {spec.name!r}")
    buffer = _as_numpy_run(buffer)
    schema = _check_buffer_schema(buffer, spec)
    final = dataset_dir(dataset_id)
    if final.exists():
        if not overwrite:
            raise DatasetError(f"Minari dataset {dataset_id} already exists at {final}")
        if not (final / DATA_DIR / METADATA_FILE_NAME).is_file():
            raise DatasetError(f"{final} exists and is not a Minari dataset; refusing to replace it")
    episodes_lib.check_unstored_slots_empty(buffer)
    grouped = episodes_lib.buffer_episodes(buffer)
    if not grouped:
        raise ValueError("the buffer holds no episode to export (nothing was added)")
    layout = _layout(buffer, schema)
    metadata = {
        "dataset_id": dataset_id,
        "minari_version": minari_version,
        "algorithm_name": ALGORITHM,
        "description": _description(spec, task_name, layout),
        METADATA_KEY: {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "offon_jit_version": offon_jit.__version__,
            "task": task_name,
            "env": spec.describe(),
            "replay": layout,
            "episode_order": "start time, then env stream",
            "source": json.loads(json.dumps(description_extra or {})),
        },
    }
    _ensure_namespace(dataset_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, so minari's listing skips it while it is written.
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        storage = MinariStorage.new(staging / DATA_DIR, observation_space=spaces.observation_space(spec),
                                    action_space=spaces.action_space(spec), data_format="hdf5",
                                    jpeg_encoding=False)  # lossless images: the rebuild must be bit-identical
        storage.update_metadata(metadata)
        storage.update_episodes(_episode_buffers(buffer, grouped, spec))
        storage.update_episode_metadata(_episode_metadata(buffer, grouped))
        _replace_dir(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return MinariDataset(str(final / DATA_DIR))


# -- import -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ImportPlan:
    """How a dataset becomes a buffer (decided from metadata alone, before any episode is read)."""

    where: str  # "Minari dataset ID", for messages
    layout: str  # "exact" (a dataset offon_jit exported, same num_envs) or "packed" (streams.py)
    rows_per_stream: int  # stored rows each env stream will hold
    recorded: dict | None  # the exported replay layout (exact only)
    note: str = ""  # why a dataset offon_jit exported is packed instead


def _check_own_dataset(ours: dict, spec: EnvSpec, schema: dict, where: str) -> dict:
    if ours.get("version") != FORMAT_VERSION:
        raise DatasetError(f"{where}: offon_jit dataset format version {ours.get('version')!r} is not supported "
                           f"(this code reads {FORMAT_VERSION})")
    if ours.get("task") != spec.name:
        raise DatasetError(f"{where} was exported from task {ours.get('task')}, not {spec.name}")
    layout = ours.get("replay")
    try:
        recorded = normalize_schema({n: (f["shape"], f["dtype"]) for n, f in layout["fields"].items()})
        counts = [int(layout[key]) for key in ("num_envs", "steps_per_env", "num_added_per_stream", "stored_per_stream")]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DatasetError(f"{where}: malformed replay layout in its metadata ({error})") from None
    if recorded != schema:
        raise DatasetError(f"{where}: its replay fields {recorded} differ from this run's {schema}")
    if min(counts[:2]) < 1 or min(counts[2:]) < 0:
        raise DatasetError(f"{where}: malformed replay layout in its metadata ({layout})")
    return layout


def _plan(dataset: MinariDataset, spec: EnvSpec, schema: dict, capacity: int, num_envs: int) -> ImportPlan:
    where = f"Minari dataset {dataset.id}"
    spaces.check_spaces(dataset.observation_space, dataset.action_space, spec, where)
    ours = dataset.storage.metadata.get(METADATA_KEY)
    note = ""
    if isinstance(ours, dict) and ours.get("format") == FORMAT_NAME:
        layout = _check_own_dataset(ours, spec, schema, where)
        if layout["num_envs"] == num_envs:
            stored = layout["stored_per_stream"] * num_envs
            if capacity < stored:
                raise DatasetError(f"{where} holds {stored} replay rows, more than a replay capacity of {capacity}; "
                                   f"raise the replay capacity to at least {stored}")
            return ImportPlan(where, "exact", layout["stored_per_stream"], layout)
        note = (f"{where} was recorded with {layout['num_envs']} env streams, this run has {num_envs}: its episodes "
                "are packed into the streams instead of rebuilding the recorded buffer")
    total_rows = dataset.total_steps + dataset.total_episodes  # T + 1 rows per episode
    return ImportPlan(where, "packed", streams.packed_length(total_rows, num_envs, capacity, where), None, note)


def check_dataset(dataset_id_or_path: str | os.PathLike, spec: EnvSpec, schema: dict, capacity: int, num_envs: int,
                  seq_len: int) -> ImportPlan:
    """Everything `import_buffer` would refuse, from metadata alone, plus room for one training window per stream."""
    plan = _plan(open_dataset(dataset_id_or_path), spec, normalize_schema(schema), capacity, num_envs)
    if plan.rows_per_stream < seq_len:
        raise DatasetError(f"{plan.where} gives {plan.rows_per_stream} rows per env stream, fewer than seq_len "
                           f"{seq_len}: no training sequence fits")
    return plan


def _exact_pieces(dataset: MinariDataset, spec: EnvSpec, schema: dict, where: str):
    """(stream, start, rows) of every episode and of its lone rows, as `streams.exact_buffer` takes them."""
    storage, indices = dataset.storage, dataset.episode_indices
    records = list(storage.get_episode_metadata(indices))
    for index, episode, record in zip(indices, storage.get_episodes(indices), records):
        extras = record.get(METADATA_KEY)
        if not isinstance(extras, dict) or "stream" not in extras or "start" not in extras:
            raise DatasetError(f"{where}: episode {index} has no {METADATA_KEY} layout metadata")
        rows = episodes_lib.replay_rows(episode, spec, schema, f"{where} episode {index}", extras)
        stream, start = int(extras["stream"]), int(extras["start"])
        for key, offset in (("rows_before", None), ("rows_after", start + len(rows["reward"]))):
            lone = extras.get(key)
            if lone:
                lone = {name: np.asarray(lone[name], dtype) for name, (_, dtype) in schema.items()}
                yield stream, (start - len(lone["reward"]) if offset is None else offset), lone
        yield stream, start, rows


def _packed_rows(dataset: MinariDataset, spec: EnvSpec, schema: dict, where: str):
    storage = dataset.storage
    for index, episode in zip(dataset.episode_indices, storage.get_episodes(dataset.episode_indices)):
        yield episodes_lib.replay_rows(episode, spec, schema, f"{where} episode {index}")


def import_buffer(dataset_id_or_path: str | os.PathLike, spec: EnvSpec, schema: dict, capacity: int,
                  num_envs: int) -> ReplayBuffer:
    """The replay buffer (numpy leaves, `RunFiles.active_buffer`'s format) of a Minari dataset.

    The dataset's spaces must fit the task (`spaces.check_spaces`). A dataset exported by
    offon_jit from task `spec.name` with `num_envs` streams is rebuilt exactly (bit-identical
    at its own capacity; moved to `capacity` keeping absolute times otherwise); any other is
    packed into `num_envs` streams and must fit `capacity` (streams.py).
    """
    schema = normalize_schema(schema)
    dataset = open_dataset(dataset_id_or_path)
    plan = _plan(dataset, spec, schema, capacity, num_envs)
    if plan.note:
        warnings.warn(plan.note)
    if plan.layout == "packed":
        return streams.packed_buffer(_packed_rows(dataset, spec, schema, plan.where), schema, num_envs, capacity,
                                     plan.rows_per_stream)
    layout = plan.recorded
    buffer = streams.exact_buffer(_exact_pieces(dataset, spec, schema, plan.where), schema, num_envs,
                                  layout["steps_per_env"], layout["num_added_per_stream"], layout["stored_per_stream"])
    if buffer.capacity != capacity:
        buffer = jax.tree_util.tree_map(np.asarray, with_capacity(buffer, capacity))
    return buffer
