"""One eval interval of training as a single `lax.scan`, for each kind of agent.

A *cycle* collects `iterations_per_update` env iterations (each steps all
`num_envs` envs once) and then performs `updates_per_iteration` updates, so the
paper's 4 envs with an update every 2nd env step give 1 iteration + 2 updates.

The functions here act on one seed; the study vmaps them over the seed axis and
jits the result. Every random draw comes from the run's own key, so seed i of a
vmapped run equals a run of seed i alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.core import JaxEnv
from envs.random_policy import random_actions
from offon_jit.config import RunConfig
from offon_jit.dreamer import agent as agent_lib
from offon_jit.engine.run_state import AgentRun, split_key
from offon_jit.engine.transitions import make_row
from offon_jit.replay import buffer as replay


def act_and_store(run: AgentRun, obs, reward, is_first, terminated, spec, random_policy: bool = False):
    """Pick actions for the parallel envs and store the row for the current obs in the run's buffer.

    Shared by the jitted collection below and the host-backend driver. Returns (run, action).
    """
    run, (policy_key,) = split_key(run, 1)
    if random_policy:
        action = random_actions(policy_key, spec.action, (obs.shape[0],))
        carry = run.policy_carry
    else:
        action, carry = agent_lib.policy_step(run.agent, run.policy_carry, obs, is_first, policy_key, "explore")
    buffer = replay.add(run.buffer, make_row(obs, reward, is_first, terminated, action, spec))
    return run.replace(buffer=buffer, policy_carry=carry, env_steps=run.env_steps + obs.shape[0]), action


def collect_iteration(run: AgentRun, env: JaxEnv, random_policy: bool = False) -> AgentRun:
    """Act in all parallel envs once, store the row, step the envs."""
    state = run.env_state
    run, action = act_and_store(run, state.obs, state.reward, state.is_first, state.terminated, env.spec, random_policy)
    return run.replace(env_state=env.step(state, action))


def apply_update(run: AgentRun, batch: dict, key) -> tuple[AgentRun, dict]:
    """The one update function every agent uses."""
    agent, metrics = agent_lib.train_step(run.agent, batch, key)
    return run.replace(agent=agent, train_steps=run.train_steps + 1), metrics


def prefill(run: AgentRun, env: JaxEnv, iterations: int) -> AgentRun:
    """Fill the buffer with random-policy experience (the paper's 'a few random episodes')."""
    run, _ = jax.lax.scan(lambda r, _: (collect_iteration(r, env, random_policy=True), None), run, None, iterations)
    # Prefill steps are not on the x-axis: training curves start at env step 0.
    return run.replace(env_steps=jnp.zeros_like(run.env_steps))


def _mean_metrics(metrics: dict) -> dict:
    return {k: jnp.mean(v) for k, v in metrics.items()}


def active_updates(active: AgentRun, tandem: AgentRun | None, config: RunConfig):
    """`updates_per_iteration` updates of the Active on its own buffer; a lock-step Tandem
    trains on exactly the same batches. Returns (active, tandem, (indices, metrics, metrics))."""

    def update(carry, _):
        active, tandem = carry
        active, (sample_key, active_key) = split_key(active, 2)
        indices = replay.sample_indices(active.buffer, sample_key, config.batch_size, config.seq_len)
        batch = replay.gather(active.buffer, indices, config.seq_len)
        active, active_metrics = apply_update(active, batch, active_key)
        tandem_metrics = {}
        if tandem is not None:
            tandem, (tandem_key,) = split_key(tandem, 1)
            tandem, tandem_metrics = apply_update(tandem, batch, tandem_key)
            tandem = tandem.replace(env_steps=active.env_steps)
        return (active, tandem), (indices, active_metrics, tandem_metrics)

    (active, tandem), outputs = jax.lax.scan(update, (active, tandem), None, config.updates_per_iteration)
    return active, tandem, outputs


def chunk_outputs(config: RunConfig, indices, active_metrics, tandem_metrics) -> dict:
    return {
        "indices": indices.reshape(-1, config.batch_size, 2),
        "active": _mean_metrics(active_metrics),
        "tandem": _mean_metrics(tandem_metrics),
    }


def active_chunk(active: AgentRun, tandem: AgentRun | None, config: RunConfig, env: JaxEnv):
    """One eval interval of the Active agent (collect + train), with an optional lock-step Tandem.

    Returns (active, tandem, outputs): outputs holds the chunk's sampled batch indices,
    (updates_per_chunk, batch, 2), and the mean train metrics per agent.
    """

    def cycle(carry, _):
        active, tandem = carry
        active, _ = jax.lax.scan(
            lambda r, _: (collect_iteration(r, env), None), active, None, config.iterations_per_update
        )
        active, tandem, outputs = active_updates(active, tandem, config)
        return (active, tandem), outputs

    cycles = config.iterations_per_chunk // config.iterations_per_update
    (active, tandem), outputs = jax.lax.scan(cycle, (active, tandem), None, cycles)
    return active, tandem, chunk_outputs(config, *outputs)


def offline_chunk(run: AgentRun, logged_indices=None, *, config: RunConfig):
    """Passive (uniform samples of its fixed buffer) or Tandem replaying logged indices.

    The buffer never changes. The env-step counter advances exactly as the Active
    partner's does (paper A.1.4) so all curves share one x-axis; the paper's shadow
    interaction only serves that counter, so no env is stepped here.
    """
    steps_per_update = config.train_every  # the Active does one update per `train_every` env steps

    def update(run, indices):
        if indices is None:
            run, (sample_key,) = split_key(run, 1)
            indices = replay.sample_indices(run.buffer, sample_key, config.batch_size, config.seq_len)
        # One key split per update, as for a lock-step Tandem: replaying a log reproduces it.
        run, (update_key,) = split_key(run, 1)
        batch = replay.gather(run.buffer, indices, config.seq_len)
        run, metrics = apply_update(run, batch, update_key)
        return run.replace(env_steps=run.env_steps + steps_per_update), metrics

    if logged_indices is None:
        run, metrics = jax.lax.scan(lambda r, _: update(r, None), run, None, config.updates_per_chunk)
    else:
        run, metrics = jax.lax.scan(update, run, logged_indices)
    return run, _mean_metrics(metrics)
