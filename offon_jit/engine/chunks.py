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
from offon_jit.agents import api as agent_lib
from offon_jit.engine import interaction
from offon_jit.engine.run_state import AgentRun, split_key
from offon_jit.engine.variants import VARIANTS, Variant
from offon_jit.engine.transitions import make_row
from offon_jit.replay import buffer as replay


def act_and_store(run: AgentRun, obs, reward, is_first, terminated, info, spec, random_policy: bool = False):
    """Pick actions for the parallel envs and store the row for the current obs in the run's buffer.

    Shared by the jitted collection below and the host-backend driver. Returns (run, action).
    """
    run, (policy_key,) = split_key(run, 1)
    if random_policy:
        action = random_actions(policy_key, spec.action, (obs.shape[0],))
        carry = run.policy_carry
    else:
        action, carry = agent_lib.policy_step(run.agent, run.policy_carry, obs, is_first, policy_key, "explore")
    buffer = replay.add(run.buffer, make_row(obs, reward, is_first, terminated, action, spec, info))
    return run.replace(buffer=buffer, policy_carry=carry, env_steps=run.env_steps + obs.shape[0]), action


def collect_iteration(run: AgentRun, env: JaxEnv, random_policy: bool = False) -> AgentRun:
    """Act in all parallel envs once, store the row, step the envs."""
    state = run.env_state
    run, action = act_and_store(run, state.obs, state.reward, state.is_first, state.terminated, state.info, env.spec,
                                random_policy)
    return run.replace(env_state=env.step(state, action))


def apply_update(run: AgentRun, batch: dict, key, train_world_model: bool = True) -> tuple[AgentRun, dict]:
    """The one update function every agent uses (frozen-world-model controls skip its WM step)."""
    agent, metrics = agent_lib.train_step(run.agent, batch, key, train_world_model=train_world_model)
    return run.replace(agent=agent, train_steps=run.train_steps + 1), metrics


def copy_world_model(run: AgentRun, source) -> AgentRun:
    """The Tandem_sameWM control: world-model weights (and optimiser state) taken from `source`."""
    agent = run.agent
    params = {**agent.params, "wm": source.params["wm"]}
    opt_states = {**agent.opt_states, "wm": source.opt_states["wm"]}
    return run.replace(agent=agent.replace(params=params, opt_states=opt_states))


def prefill(run: AgentRun, env: JaxEnv, iterations: int) -> AgentRun:
    """Fill the buffer with random-policy experience (the paper's 'a few random episodes')."""
    run, _ = jax.lax.scan(lambda r, _: (collect_iteration(r, env, random_policy=True), None), run, None, iterations)
    # Prefill steps are not on the x-axis: training curves start at env step 0.
    return run.replace(env_steps=jnp.zeros_like(run.env_steps))


def _mean_metrics(metrics: dict) -> dict:
    return {k: jnp.mean(v) for k, v in metrics.items()}


def follower_update(follower: AgentRun, name: str, active: AgentRun, batch: dict):
    """A lock-step agent's update on the Active's batch (Tandem; Tandem_sameWM copies the WM first)."""
    variant = VARIANTS[name]
    follower, (key,) = split_key(follower, 1)
    if variant.world_model == "active_each_step":
        follower = copy_world_model(follower, active.agent)
    follower, metrics = apply_update(follower, batch, key, train_world_model=variant.trains_world_model)
    return follower.replace(env_steps=active.env_steps), metrics


def active_updates(active: AgentRun, followers: dict, config: RunConfig):
    """`updates_per_iteration` updates of the Active on its own buffer; every lock-step follower
    trains on exactly the same batches. Returns (active, followers, (indices, metrics, metrics))."""

    def update(carry, _):
        active, followers = carry
        active, (sample_key, active_key) = split_key(active, 2)
        indices = replay.sample_indices(active.buffer, sample_key, config.batch_size, config.seq_len)
        batch = replay.gather(active.buffer, indices, config.seq_len)
        active, active_metrics = apply_update(active, batch, active_key)
        outputs = {name: follower_update(run, name, active, batch) for name, run in followers.items()}
        followers = {name: out[0] for name, out in outputs.items()}
        return (active, followers), (indices, active_metrics, {name: out[1] for name, out in outputs.items()})

    (active, followers), outputs = jax.lax.scan(update, (active, followers), None, config.updates_per_iteration)
    return active, followers, outputs


def chunk_outputs(config: RunConfig, indices, active_metrics, follower_metrics) -> dict:
    return {
        "indices": indices.reshape(-1, config.batch_size, 2),
        "active": _mean_metrics(active_metrics),
        **{name: _mean_metrics(metrics) for name, metrics in follower_metrics.items()},
    }


def active_chunk(active: AgentRun, followers: dict, config: RunConfig, env: JaxEnv):
    """One eval interval of the Active agent (collect + train) with its lock-step followers.

    Returns (active, followers, outputs): outputs holds the chunk's sampled batch indices,
    (updates_per_chunk, batch, 2), and the mean train metrics per agent.
    """

    def cycle(carry, _):
        active, followers = carry
        active, _ = jax.lax.scan(
            lambda r, _: (collect_iteration(r, env), None), active, None, config.iterations_per_update
        )
        active, followers, outputs = active_updates(active, followers, config)
        return (active, followers), outputs

    cycles = config.iterations_per_chunk // config.iterations_per_update
    (active, followers), outputs = jax.lax.scan(cycle, (active, followers), None, cycles)
    return active, followers, chunk_outputs(config, *outputs)


def offline_update(run: AgentRun, indices, *, config: RunConfig, variant: Variant) -> tuple[AgentRun, dict]:
    """One offline update: a uniform sample of the run's buffer (`indices` None) or the given windows.

    The env-step counter advances exactly as the Active partner's does (paper A.1.4) so all
    curves share one x-axis; the paper's shadow interaction only serves that counter.
    """
    if indices is None:
        run, (sample_key,) = split_key(run, 1)
        indices = replay.sample_indices(run.buffer, sample_key, config.batch_size, config.seq_len)
    # One key split per update, as for a lock-step Tandem: replaying a log reproduces it.
    run, (update_key,) = split_key(run, 1)
    batch = replay.gather(run.buffer, indices, config.seq_len)
    run, metrics = apply_update(run, batch, update_key, train_world_model=variant.trains_world_model)
    return run.replace(env_steps=run.env_steps + config.train_every), metrics


def offline_chunk(run: AgentRun, logged_indices=None, *, config: RunConfig, variant: Variant = VARIANTS["passive"],
                  env: JaxEnv | None = None, axis_name: str | None = None):
    """One eval interval of an offline agent: uniform samples, or a replay of the Active's logged indices.

    Interactive variants collect their bursts of self-generated data inside the loop (`env`
    and, under the run vmap, its `axis_name` are then needed).
    """
    if variant.interaction and env is None:
        raise ValueError(f"{variant.name} adds self-generated data: offline_chunk needs its env")
    if variant.interaction == "adaptive":
        # Armed only by the evaluation before this chunk, so its burst can only come before the first update.
        # Outside the update loop, the loop compiles exactly as the plain Passive's: a run that never arms
        # trains bitwise like it.
        run = interaction.maybe_burst(run, variant.interaction, env, config.burst_steps, axis_name)

    def update(run, indices):
        if variant.interaction == "fixed":
            run = interaction.maybe_burst(run, variant.interaction, env, config.burst_steps, axis_name)
        return offline_update(run, indices, config=config, variant=variant)

    if logged_indices is None:
        run, metrics = jax.lax.scan(lambda r, _: update(r, None), run, None, config.updates_per_chunk)
    else:
        run, metrics = jax.lax.scan(update, run, logged_indices)
    return run, _mean_metrics(metrics)


def offline_updates(run: AgentRun, num_updates, *, config: RunConfig, variant: Variant):
    """`num_updates` (a traced count: one compiled program for any segment length) uniform-sample
    updates; returns the run and the metrics summed over them. Host simulators run an interactive
    variant's chunk as such segments between the bursts they collect in Python."""
    one = lambda r: offline_update(r, None, config=config, variant=variant)  # noqa: E731
    zeros = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(one, run)[1])

    def body(_, carry):
        run, sums = carry
        run, metrics = one(run)
        return run, jax.tree_util.tree_map(jnp.add, sums, metrics)

    return jax.lax.fori_loop(0, num_updates, body, (run, zeros))
