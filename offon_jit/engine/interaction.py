"""Self-generated data for Passive agents (the paper's Algorithm 2).

A Passive agent trains on the Active's final buffer and, on a schedule, runs its own
policy in the env for a burst of `burst_steps` env steps that is appended to its buffer:
  fixed     a burst whenever the env-step counter reaches a multiple of N
  adaptive  the evaluation every eval interval arms a burst if the OOD ratio (eval /
            replay world-model loss) exceeds the threshold; it runs before the next update
Each burst starts from freshly reset envs (the stored is_first flags keep sampled windows
from joining it to earlier data) and does not move the shared env-step x-axis; the steps
are counted in `Schedule.added` instead (Table S2 reports them as a percentage of the
Active's buffer).

Under the run vmap a `lax.cond` on a per-run flag would become a select that collects a
burst at every update. The flag is therefore reduced over the named run axis: the burst
branch runs only when some run is due, and runs that are not due write nothing visible
(`replay.add(..., commit=False)`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.core import JaxEnv
from offon_jit.agents import api as agent_lib
from offon_jit.engine.run_state import AgentRun
from offon_jit.engine.transitions import make_row
from offon_jit.replay import buffer as replay

KINDS = ("fixed", "adaptive")


@struct.dataclass
class Schedule:
    interval: jax.Array  # int32 env steps between fixed bursts (unused when adaptive)
    threshold: jax.Array  # float32 OOD-ratio threshold (unused when fixed)
    pending: jax.Array  # bool: the last evaluation armed an adaptive burst
    added: jax.Array  # int32 self-generated env steps so far


def init_schedule(kind: str, value) -> Schedule:
    """`value` is N (env steps) for a fixed schedule and the OOD threshold for an adaptive one."""
    if kind not in KINDS:
        raise ValueError(f"unknown interaction schedule {kind!r}; choose from {KINDS}")
    value = jnp.asarray(value)
    fixed = kind == "fixed"
    return Schedule(
        interval=value.astype(jnp.int32) if fixed else jnp.zeros((), jnp.int32),
        threshold=jnp.zeros((), jnp.float32) if fixed else value.astype(jnp.float32),
        pending=jnp.zeros((), bool),
        added=jnp.zeros((), jnp.int32),
    )


def extra_capacity(kind: str, values, burst_steps: int, env_steps: int, eval_interval: int, num_envs: int) -> int:
    """Buffer room for the most self-generated data any run can add, plus one spare slot per
    stream so that uncommitted writes never land on stored data."""
    if kind == "fixed":
        bursts = env_steps // min(values)
    else:
        bursts = env_steps // eval_interval  # at most one per evaluation
    return bursts * burst_steps + num_envs


def burst_due(kind: str, schedule: Schedule, env_steps) -> jax.Array:
    if kind == "fixed":
        return (env_steps > 0) & (env_steps % jnp.maximum(schedule.interval, 1) == 0)
    return schedule.pending


def arm(run: AgentRun, ood_ratio) -> AgentRun:
    """After an evaluation: an adaptive run interacts next if its OOD ratio exceeds its threshold."""
    schedule = run.schedule.replace(pending=ood_ratio > run.schedule.threshold)
    return run.replace(schedule=schedule)


def burst_keys(run: AgentRun):
    """(reset key, per-step key) of the burst a run would collect now.

    They come from the run's key folded with its step counter, without consuming the key, so
    a run's training is the same whether or not other runs burst alongside it.
    """
    return jax.random.split(jax.random.fold_in(run.key, run.env_steps))


def store_burst_step(run: AgentRun, carry, obs, reward, is_first, terminated, info, key, commit, spec):
    """Act with the run's exploring policy and append the row (visible only if `commit`)."""
    action, carry = agent_lib.policy_step(run.agent, carry, obs, is_first, key, "explore")
    row = make_row(obs, reward, is_first, terminated, action, spec, info)
    return run.replace(buffer=replay.add(run.buffer, row, commit)), carry, action


def finish_burst(run: AgentRun, commit, burst_steps: int) -> AgentRun:
    """Count a committed burst's steps and disarm an adaptive schedule."""
    committed = jnp.asarray(commit)
    schedule = run.schedule.replace(
        added=run.schedule.added + committed.astype(jnp.int32) * burst_steps,
        pending=run.schedule.pending & ~committed,
    )
    return run.replace(schedule=schedule)


def collect_burst(run: AgentRun, commit, env: JaxEnv, burst_steps: int) -> AgentRun:
    """`burst_steps` env steps of the run's own (exploring) policy into its buffer if `commit`."""
    num_envs = run.buffer.num_envs
    reset_key, steps_key = burst_keys(run)
    carry = agent_lib.initial_policy_carry(run.agent, num_envs)

    def step(loop, key):
        run, state, carry = loop
        run, carry, action = store_burst_step(run, carry, state.obs, state.reward, state.is_first, state.terminated,
                                              state.info, key, commit, env.spec)
        return (run, env.step(state, action), carry), None

    (run, _, _), _ = jax.lax.scan(
        step, (run, env.reset(reset_key), carry), jax.random.split(steps_key, burst_steps // num_envs)
    )
    return finish_burst(run, commit, burst_steps)


def maybe_burst(run: AgentRun, kind: str, env: JaxEnv, burst_steps: int, axis_name: str | None) -> AgentRun:
    due = burst_due(kind, run.schedule, run.env_steps)
    anyone = due if axis_name is None else jax.lax.psum(due.astype(jnp.int32), axis_name) > 0
    return jax.lax.cond(anyone, lambda r: collect_burst(r, due, env, burst_steps), lambda r: r, run)
