"""Replay rows <-> episodes in the Minari convention (pure numpy; files are minari_io.py's business).

Our rows (engine/transitions.py): row t holds obs_t, the reward and `is_terminal` that came
with obs_t, `is_first` (obs_t is a reset observation) and the action taken at obs_t, one-hot
for discrete tasks. With auto-reset the step after an episode's last row is a reset row of
the next episode, and the action stored on the last row was ignored by the env.

An episode is a run of rows of one stream from an `is_first` row up to the row before the
next `is_first` row (or the newest row). For rows r_0 .. r_T the Minari episode is
    observations[t] = obs(r_t)                t = 0..T        (T+1 observations)
    actions[t]      = action(r_t)             t = 0..T-1      (discrete: the int index)
    rewards[t], terminations[t] = reward(r_{t+1}), is_terminal(r_{t+1})
    truncations[T-1] = True when the episode did not terminate: the next row is a reset
                       (the time limit) or the buffer ends there
    infos[name]     = the recorded info vectors (e.g. the vision maze's position), T+1 rows
What Minari has no place for is kept in the episode's metadata (`row_extras`): the first
row's reward, is_first and is_terminal (a reset row: 0, True, False; the oldest row of a
stream that wrapped: real values), the last row's stored action, and "lone rows": a
segment of a single row (a reset row at the newest end of a stream, or the oldest row of a
wrapped stream when it is an episode's last) holds no transition, so it travels with the
episode next to it in the same stream.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from envs.spec import EnvSpec
from offon_jit.replay.buffer import ReplayBuffer

ENDS = ("terminated", "truncated", "buffer_end")  # truncated: the next row is a reset (the time limit)


@dataclasses.dataclass(frozen=True)
class Segment:
    """Rows of one stream at absolute times [start, stop), cut where `is_first` is set."""

    stream: int
    start: int
    stop: int
    end: str  # one of ENDS

    @property
    def num_rows(self) -> int:
        return self.stop - self.start


@dataclasses.dataclass(frozen=True)
class EpisodeRows:
    """A segment of >= 2 rows (one Minari episode) and the lone single-row segments beside it."""

    episode: Segment
    before: tuple[Segment, ...] = ()
    after: tuple[Segment, ...] = ()


def _stored_times(buffer: ReplayBuffer) -> np.ndarray:
    num_added, stored = int(buffer.num_added), int(buffer.num_stored)
    return np.arange(num_added - stored, num_added)


def rows(buffer: ReplayBuffer, stream: int, start: int, stop: int) -> dict[str, np.ndarray]:
    slots = np.arange(start, stop) % buffer.steps_per_env
    return {name: np.asarray(arr)[stream, slots] for name, arr in buffer.data.items()}


def check_unstored_slots_empty(buffer: ReplayBuffer) -> None:
    """Slots outside the stored rows must be zero, as in a fresh buffer, so a rebuild is bit-identical."""
    stored = np.zeros(buffer.steps_per_env, bool)
    stored[_stored_times(buffer) % buffer.steps_per_env] = True
    if stored.all():
        return
    for name, arr in buffer.data.items():
        if np.any(np.asarray(arr)[:, ~stored]):
            raise ValueError(f"replay field {name!r} holds data outside the stored rows (an uncommitted write?); "
                             "only buffers whose unused slots are empty can be exported exactly")


def stream_segments(buffer: ReplayBuffer, stream: int) -> list[Segment]:
    """The stream's stored rows cut at every `is_first` row, oldest first."""
    times = _stored_times(buffer)
    if not len(times):
        return []
    slots = times % buffer.steps_per_env
    is_first = np.asarray(buffer.data["is_first"])[stream, slots]
    is_terminal = np.asarray(buffer.data["is_terminal"])[stream, slots]
    cuts = sorted({0, *np.flatnonzero(is_first).tolist()}) + [len(times)]
    segments = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if is_terminal[b - 1]:
            end = "terminated"
        else:
            end = "buffer_end" if b == len(times) else "truncated"
        segments.append(Segment(stream, int(times[a]), int(times[b - 1]) + 1, end))
    return segments


def group_lone_rows(segments: list[Segment]) -> list[EpisodeRows]:
    """Attach each single-row segment to the episode before it in its stream (or, at the oldest end, after it)."""
    episodes = [s for s in segments if s.num_rows >= 2]
    if not episodes:
        return []
    before, after = {0: []}, {i: [] for i in range(len(episodes))}
    current = -1  # index of the last episode seen
    for segment in segments:
        if segment.num_rows >= 2:
            current += 1
        elif current < 0:
            before[0].append(segment)
        else:
            after[current].append(segment)
    return [EpisodeRows(e, tuple(before[0]) if i == 0 else (), tuple(after[i])) for i, e in enumerate(episodes)]


def buffer_episodes(buffer: ReplayBuffer) -> list[EpisodeRows]:
    """Every stream's episodes, in the order they started (absolute start time, then stream)."""
    grouped = []
    for stream in range(buffer.num_envs):
        segments = stream_segments(buffer, stream)
        stream_episodes = group_lone_rows(segments)
        if segments and not stream_episodes:
            raise ValueError(f"env stream {stream} holds no transition (only {len(segments)} lone row(s)): "
                             "there is no episode to export")
        grouped.extend(stream_episodes)
    return sorted(grouped, key=lambda e: ((e.before or (e.episode,))[0].start, e.episode.stream))


# -- one episode: replay rows -> Minari arrays ------------------------------------------------
def _action_indices(one_hot: np.ndarray, spec: EnvSpec) -> np.ndarray:
    is_one_hot = np.all((one_hot == 0) | (one_hot == 1), axis=-1) & (one_hot.sum(-1) == 1)
    if not is_one_hot.all():
        raise ValueError(f"stored actions of the discrete task {spec.name} are not one-hot vectors")
    return np.argmax(one_hot, axis=-1).astype(np.int64)


def minari_arrays(episode_rows: dict[str, np.ndarray], end: str, spec: EnvSpec) -> dict:
    """The Minari fields of an episode given its T+1 replay rows and how it ended."""
    num_steps = len(episode_rows["reward"]) - 1
    actions = episode_rows["action"][:-1]
    actions = _action_indices(actions, spec) if spec.action.is_discrete else actions.astype(np.float32)
    truncations = np.zeros(num_steps, bool)
    truncations[-1] = end != "terminated"
    infos = {name: episode_rows[name] for name, _ in spec.recorded_info}
    return {
        "observations": episode_rows["obs"],
        "actions": actions,
        "rewards": episode_rows["reward"][1:],
        "terminations": episode_rows["is_terminal"][1:],
        "truncations": truncations,
        "infos": infos or None,
    }


def row_extras(episode_rows: dict[str, np.ndarray], lone_before: dict | None, lone_after: dict | None) -> dict:
    """What an exact rebuild needs beyond the Minari fields (see the module doc)."""
    extras = {
        "first_reward": episode_rows["reward"][0],
        "first_is_first": episode_rows["is_first"][0],
        "first_is_terminal": episode_rows["is_terminal"][0],
        "last_action": episode_rows["action"][-1],
    }
    for key, lone in (("rows_before", lone_before), ("rows_after", lone_after)):
        if lone is not None:
            extras.update({f"{key}/{name}": value for name, value in lone.items()})
    return extras


# -- one Minari episode -> replay rows ----------------------------------------------------------
def _observations(values, num_rows: int, spec: EnvSpec, where: str) -> np.ndarray:
    obs = np.asarray(values)
    if obs.shape != (num_rows, *spec.obs_shape):
        raise ValueError(f"{where}: observations have shape {obs.shape}, expected {(num_rows, *spec.obs_shape)}")
    return obs.astype(spec.obs_dtype, copy=False)


def _encoded_actions(values, num_steps: int, spec: EnvSpec, where: str) -> np.ndarray:
    act = spec.action
    actions = np.asarray(values)
    if act.is_discrete:
        actions = actions.reshape(actions.shape[:1] + tuple(d for d in actions.shape[1:] if d != 1))
        if actions.shape != (num_steps,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"{where}: actions have shape {actions.shape} and dtype {actions.dtype}, "
                             f"expected {num_steps} integer actions")
        if actions.size and (actions.min() < 0 or actions.max() >= act.num_actions):
            raise ValueError(f"{where}: actions outside [0, {act.num_actions})")
        return np.eye(act.num_actions, dtype=np.float32)[actions]
    if actions.shape != (num_steps, *act.shape):
        raise ValueError(f"{where}: actions have shape {actions.shape}, expected {(num_steps, *act.shape)}")
    return actions.astype(np.float32)


def _vector(values, num: int, dtype, where: str, name: str) -> np.ndarray:
    array = np.asarray(values).reshape(-1)
    if array.shape != (num,):
        raise ValueError(f"{where}: {name} has {array.shape[0]} entries, expected {num}")
    return array.astype(dtype)


def replay_rows(episode: dict, spec: EnvSpec, schema: dict, where: str, extras: dict | None = None) -> dict:
    """The T+1 replay rows of a Minari episode dict (`get_episodes`' format).

    Without `extras` (a foreign dataset) the first row is a reset row (reward 0, is_first,
    not terminal) and the last row's action is zero.
    """
    num_steps = len(np.asarray(episode["rewards"]).reshape(-1))
    if num_steps < 1:
        raise ValueError(f"{where}: an episode needs at least one step")
    num_rows = num_steps + 1
    extras = extras or {}
    reward = np.concatenate([[extras.get("first_reward", 0.0)],
                             _vector(episode["rewards"], num_steps, np.float32, where, "rewards")])
    terminal = np.concatenate([[extras.get("first_is_terminal", False)],
                               _vector(episode["terminations"], num_steps, bool, where, "terminations")])
    is_first = np.zeros(num_rows, bool)
    is_first[0] = extras.get("first_is_first", True)
    last_action = np.asarray(extras.get("last_action", np.zeros(spec.action.dim, np.float32)), np.float32)
    out = {
        "obs": _observations(episode["observations"], num_rows, spec, where),
        "action": np.concatenate([_encoded_actions(episode["actions"], num_steps, spec, where), last_action[None]]),
        "reward": reward.astype(np.float32),
        "is_first": is_first,
        "is_terminal": terminal.astype(bool),
    }
    infos = episode.get("infos") or {}
    for name, size in spec.recorded_info:
        if name not in infos:
            raise ValueError(f"{where}: task {spec.name} records info {name!r} in its replay rows, "
                             f"but the episode's infos hold only {sorted(infos)}")
        info = np.asarray(infos[name], np.float32)
        if info.shape != (num_rows, size):
            raise ValueError(f"{where}: info {name!r} has shape {info.shape}, expected {(num_rows, size)}")
        out[name] = info
    missing = sorted(set(schema) - set(out))
    if missing:
        raise ValueError(f"{where}: cannot fill replay fields {missing} from a Minari episode")
    return {name: out[name].astype(dtype, copy=False) for name, (_, dtype) in schema.items()}
