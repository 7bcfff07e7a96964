"""Laying episodes' replay rows into a buffer's env streams (the inverse of episodes.py's cut).

exact   a dataset offon_jit exported, read with the num_envs it was exported with: every
        episode (with its lone rows) goes back to its recorded stream and absolute times,
        the counters are the recorded ones, and every stored slot must be filled exactly
        once, so the buffer is bit-identical to the exported one.
packed  any other dataset: episodes are concatenated in dataset order (episode index) into
        one sequence of rows (T+1 per episode) that is cut into num_envs equal consecutive
        parts, stream k holding rows [k L, (k+1) L) with L = total rows // num_envs; the last
        (total rows % num_envs) rows are left out. A stream may then begin mid-episode, as in
        a buffer that wrapped; `is_first` still marks every episode start inside it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from offon_jit.replay.buffer import ReplayBuffer


def _empty(schema: dict, num_envs: int, steps_per_env: int) -> dict:
    return {name: np.zeros((num_envs, steps_per_env, *shape), dtype) for name, (shape, dtype) in schema.items()}


def _buffer(data: dict, num_added: int, num_stored: int, num_envs: int, steps_per_env: int) -> ReplayBuffer:
    return ReplayBuffer(data=data, num_added=np.asarray(num_added, np.int32), num_stored=np.asarray(num_stored, np.int32),
                        num_envs=num_envs, steps_per_env=steps_per_env)


def exact_buffer(placed: Iterable[tuple[int, int, dict]], schema: dict, num_envs: int, steps_per_env: int,
                 num_added: int, num_stored: int) -> ReplayBuffer:
    """`placed` yields (stream, absolute start time, rows); they must tile the stored times exactly."""
    if not (0 <= num_stored <= min(num_added, steps_per_env)):
        raise ValueError(f"inconsistent replay layout: {num_stored} stored of {num_added} added rows per stream, "
                         f"{steps_per_env} slots")
    data = _empty(schema, num_envs, steps_per_env)
    filled = np.zeros((num_envs, steps_per_env), bool)
    oldest = num_added - num_stored
    for stream, start, rows in placed:
        length = len(rows["reward"])
        if not (0 <= stream < num_envs and oldest <= start and start + length <= num_added):
            raise ValueError(f"an episode of {length} rows at stream {stream}, time {start} lies outside the "
                             f"recorded layout ({num_envs} streams, times [{oldest}, {num_added}))")
        slots = np.arange(start, start + length) % steps_per_env
        if filled[stream, slots].any():
            raise ValueError(f"two episodes claim stream {stream} at times within [{start}, {start + length})")
        filled[stream, slots] = True
        for name, arr in data.items():
            arr[stream, slots] = rows[name]
    expected = np.zeros(steps_per_env, bool)
    expected[np.arange(oldest, num_added) % steps_per_env] = True
    gaps = np.argwhere(filled != expected[None])
    if len(gaps):
        stream, slot = gaps[0]
        raise ValueError(f"the episodes leave stream {stream} slot {slot} unfilled: the dataset does not hold "
                         "the whole recorded buffer")
    return _buffer(data, num_added, num_stored, num_envs, steps_per_env)


def packed_length(total_rows: int, num_envs: int, capacity: int, what: str) -> int:
    """Rows per stream of the packed layout; a clear error when they do not fit `capacity`."""
    if capacity % num_envs:
        raise ValueError(f"capacity {capacity} must be a multiple of num_envs {num_envs}")
    length = total_rows // num_envs
    if length < 1:
        raise ValueError(f"{what} holds {total_rows} rows, fewer than the {num_envs} env streams to fill")
    if length > capacity // num_envs:
        raise ValueError(f"{what} holds {total_rows} rows ({length} per env stream), more than a replay capacity "
                         f"of {capacity} ({capacity // num_envs} per stream) holds; raise the replay capacity to at "
                         f"least {length * num_envs}")
    return length


def packed_buffer(episodes: Iterable[dict], schema: dict, num_envs: int, capacity: int, length: int) -> ReplayBuffer:
    """Streams of `length` rows each, filled from the episodes' rows in order (see the module doc)."""
    steps_per_env = capacity // num_envs
    data = _empty(schema, num_envs, steps_per_env)
    position = 0  # rows laid so far, over all streams
    total = num_envs * length
    for rows in episodes:
        count = len(rows["reward"])
        take = min(count, total - position)
        index = np.arange(position, position + take)  # global row index -> (stream, slot)
        stream, slot = index // length, index % length
        for name, arr in data.items():
            arr[stream, slot] = rows[name][:take]
        position += take
        if position == total:
            break
    if position < total:
        raise ValueError(f"the episodes hold {position} rows, fewer than the {total} their metadata announced")
    return _buffer(data, length, length, num_envs, steps_per_env)
