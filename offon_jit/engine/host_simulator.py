"""Host simulators (dm_control, Metaworld, the original MinAtar) behind the phase programs.

The same jitted, run-vmapped policy, update, burst and metric functions as the JAX-native
path; only the env steps happen in Python, on one `BatchedHostEnv` per purpose whose envs
are batched over every run of the phase (runs x num_envs). Every host seed derives from the
run's own key, so a run's episodes do not depend on which other runs share the batch.

  Active        collect in Python, then the jitted `active_updates` (lock-step followers included)
  offline       the jitted `offline_chunk`; interactive variants run jitted update segments with
                bursts of self-generated data collected in Python between them, due by the same rule
                as the JAX path (fixed: the env-step counter reaches a multiple of N; adaptive: the
                last evaluation armed it), appended with `commit` only for the runs that are due
  evaluation    eval episodes of the eval policy (`RunConfig.eval_policy`) on a host env, then the
                jitted `trajectory_metrics`
  resume        simulators cannot be checkpointed: after a resume the training envs start fresh
                episodes (seeded from the restored run keys), as DreamerV3's own resume does; device
                state, buffers, counters and keys come from the checkpoint
Host studies run in one process on one device.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

import envs
from offon_jit.config import ConfigError, RunConfig
from offon_jit.agents import api as agent_lib
from offon_jit.engine import chunks, evaluate as evaluate_lib, interaction, salts
from offon_jit.engine.phases import Phase
from offon_jit.engine.placement import RunPlacement
from offon_jit.engine.programs import env_options
from offon_jit.engine.transitions import make_row


def _per_run(array: np.ndarray, runs: int) -> jnp.ndarray:
    """(runs * n, ...) host arrays -> (runs, n, ...) device arrays."""
    return jnp.asarray(array.reshape(runs, array.shape[0] // runs, *array.shape[1:]))


def _fields(step, runs: int, spec) -> list:
    """A host step's (obs, reward, is_first, terminated, recorded info) as per-run device arrays."""
    info = {name: _per_run(step.info[name], runs) for name, _ in spec.recorded_info}
    return [*(_per_run(x, runs) for x in (step.obs, step.reward, step.is_first, step.terminated)), info]


def _host_seeds(keys, salt: int, *extra: int) -> list[tuple[int, ...]]:
    """One seed per run for a host env's group of envs, from the run's key."""
    return [(*map(int, key), salt, *extra) for key in np.asarray(keys).reshape(-1, 2)]


class HostSimulator:
    train_env = None  # the Active's init takes no env: host simulators step outside the programs

    def __init__(self, config: RunConfig, devices: int = 0):
        if jax.process_count() > 1 or devices > 1:
            raise ConfigError(f"{config.task} runs on host simulators, which step in one process on one device; "
                              "run it without --devices/--coordinator (or choose a JAX-native task)")
        if "host" not in envs.get_task(config.task).backends:
            raise ConfigError(f"{config.task} has no host backend")
        self.config = config
        self._envs: dict[tuple[str, int], object] = {}
        self.spec = self._env("eval", config.eval_episodes).spec
        self._last = None  # the training envs' latest step (None: start fresh episodes first)
        # Built once, so every evaluation (and trace) of the study reuses one compiled policy.
        mode = evaluate_lib.policy_mode(config.eval_policy)
        self._eval_policy = jax.jit(jax.vmap(lambda a, c, o, f, k: agent_lib.policy_step(a, c, o, f, k, mode)))
        self._eval_carry = jax.jit(jax.vmap(lambda a: agent_lib.initial_policy_carry(a, config.eval_episodes)))

    def _env(self, purpose: str, num_envs: int):
        if (purpose, num_envs) not in self._envs:
            self._envs[(purpose, num_envs)] = envs.make(self.config.task, "host", num_envs, **env_options(self.config))
        return self._envs[(purpose, num_envs)]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()

    # -- the Active's collection ------------------------------------------------------
    def _acts(self, placement: RunPlacement):
        return {flag: placement.map(partial(chunks.act_and_store, spec=self.spec, random_policy=flag))
                for flag in (False, True)}

    def _collect(self, act, run):
        run, action = act(run, *_fields(self._last, run.env_steps.shape[0], self.spec))
        self._last = self._train.step(np.asarray(action).reshape(-1, *self.spec.action.action_shape))
        return run

    def _start_episodes(self, run, *extra: int) -> None:
        self._train = self._env("train", run.env_steps.shape[0] * self.config.num_envs)
        self._last = self._train.reset(_host_seeds(run.key, salts.HOST_RESET, *extra))

    def prefill(self, models, placement: RunPlacement, active):
        cfg = self.config
        act = self._acts(placement)[True]
        self._start_episodes(active)
        for _ in range(cfg.prefill // cfg.num_envs):
            active = self._collect(act, active)
        return active.replace(env_steps=jnp.zeros_like(active.env_steps))  # prefill is not on the x-axis

    def active_chunk(self, models, phase: Phase, placement: RunPlacement):
        cfg = self.config
        act = self._acts(placement)[False]
        updates = placement.map(partial(chunks.active_updates, config=cfg))
        outputs = placement.map(partial(chunks.chunk_outputs, cfg))

        def collect_and_update(state, chunk, logged_indices=None):
            active = state["active"]
            followers = {name: state[name] for name in phase.agents[1:]}
            if self._last is None:  # resumed: the simulators start fresh episodes here
                self._start_episodes(active, chunk)
            cycles = []
            for _ in range(cfg.iterations_per_chunk // cfg.iterations_per_update):
                for _ in range(cfg.iterations_per_update):
                    active = self._collect(act, active)
                active, followers, out = updates(active, followers)
                cycles.append(out)
            # (runs, cycles, updates, ...) per output, as the jitted path's scan gives them
            stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs, axis=1), *cycles)
            return {"active": active, **followers}, outputs(*stacked)

        return collect_and_update, None

    # -- offline agents and their bursts ------------------------------------------------
    def offline_chunk(self, models, phase: Phase, placement: RunPlacement):
        cfg, variant, name = self.config, phase.variant, phase.name
        if not variant.interaction:
            step = placement.map(partial(chunks.offline_chunk, config=cfg, variant=variant))

            def collect_and_update(state, chunk, logged_indices=None):
                args = () if logged_indices is None else (logged_indices,)
                run, metrics = step(state[name], *args)
                return {name: run}, {name: metrics}

            return collect_and_update, step

        segment = jax.jit(jax.vmap(partial(chunks.offline_updates, config=cfg, variant=variant), in_axes=(0, None)))
        burst = self._burst_collector(placement)

        def collect_and_update(state, chunk, logged_indices=None):
            run, total, done, sums = state[name], cfg.updates_per_chunk, 0, None
            while done < total:
                due = self._due(variant.interaction, run, 0)
                if due.any():
                    run = burst(run, due)
                length = self._updates_until_due(variant.interaction, run, total - done)
                run, part = segment(run, length)
                sums = part if sums is None else jax.tree_util.tree_map(jnp.add, sums, part)
                done += length
            return {name: run}, {name: jax.tree_util.tree_map(lambda x: x / total, sums)}

        return collect_and_update, None

    def _due(self, kind: str, run, updates_ahead) -> np.ndarray:
        """(runs,) or (runs, k): which runs are due before the update `updates_ahead` from now."""
        if kind == "adaptive":  # armed by the last evaluation; the burst before the first update disarms it
            pending = np.asarray(run.schedule.pending)
            return pending if np.ndim(updates_ahead) == 0 else np.zeros((len(pending), len(updates_ahead)), bool)
        steps = np.asarray(run.env_steps)[:, None] + np.atleast_1d(updates_ahead)[None] * self.config.train_every
        interval = np.maximum(np.asarray(run.schedule.interval), 1)[:, None]
        due = (steps > 0) & (steps % interval == 0)
        return due[:, 0] if np.ndim(updates_ahead) == 0 else due

    def _updates_until_due(self, kind: str, run, remaining: int) -> int:
        """Updates to run before some run is due again (at most `remaining`)."""
        ahead = np.arange(1, remaining)
        if not len(ahead):
            return remaining
        due = self._due(kind, run, ahead).any(axis=0)
        return int(ahead[due][0]) if due.any() else remaining

    def _burst_collector(self, placement: RunPlacement):
        cfg = self.config
        keys_of = jax.jit(jax.vmap(interaction.burst_keys))
        carry_of = jax.jit(jax.vmap(lambda agent: agent_lib.initial_policy_carry(agent, cfg.num_envs)))
        store = jax.jit(jax.vmap(partial(interaction.store_burst_step, spec=self.spec)))
        finish = jax.jit(jax.vmap(partial(interaction.finish_burst, burst_steps=cfg.burst_steps)))
        steps = cfg.burst_steps // cfg.num_envs

        def burst(run, due):
            runs = len(due)
            env = self._env("burst", runs * cfg.num_envs)
            keys = keys_of(run)  # (runs, 2, 2): each run's reset key and per-step key
            reset_keys, step_keys = keys[:, 0], keys[:, 1]
            step = env.reset(_host_seeds(reset_keys, salts.HOST_RESET))
            carry, commit = carry_of(run.agent), jnp.asarray(due)
            per_step = jax.vmap(lambda k: jax.random.split(k, steps))(step_keys)
            for i in range(steps):
                run, carry, action = store(run, carry, *_fields(step, runs, self.spec), per_step[:, i], commit)
                step = env.step(np.asarray(action).reshape(-1, *self.spec.action.action_shape))
            return finish(run, commit)

        return burst

    # -- evaluation -----------------------------------------------------------------------
    def _rollout(self, agents, keys):
        """`eval_episodes` episodes per run of the eval policy: replay-format rows (runs, episodes, L + 1, ...)
        and the valid mask, as `evaluate.rollout_episodes` gives them on the JAX path."""
        runs, length, episodes = len(keys), self.spec.episode_length, self.config.eval_episodes
        env = self._env("eval", runs * episodes)
        policy = self._eval_policy
        seed_keys, policy_keys = (np.asarray(k) for k in jax.vmap(jax.random.split, out_axes=1)(jnp.asarray(keys)))
        step = env.reset(_host_seeds(seed_keys, salts.EVAL))
        carry = self._eval_carry(agents)
        step_keys = jax.vmap(lambda k: jax.random.split(k, length + 1))(jnp.asarray(policy_keys))
        alive = np.ones(runs * episodes, bool)
        rows, valid = [], []
        for t in range(length + 1):
            obs, reward, first, terminated, info = _fields(step, runs, self.spec)
            action, carry = policy(agents, carry, obs, first, step_keys[:, t])
            action = np.asarray(action)
            row = make_row(obs, reward, first, terminated, jnp.asarray(action), self.spec, info)
            rows.append(jax.device_get(row))
            valid.append(alive.reshape(runs, episodes).copy())
            alive &= ~step.done
            if t < length:
                step = env.step(action.reshape(-1, *self.spec.action.action_shape))
        stacked = {k: jnp.asarray(np.stack([r[k] for r in rows], axis=2)) for k in rows[0]}
        return stacked, jnp.asarray(np.stack(valid, axis=2))

    def evaluator(self, models, phase: Phase, placement: RunPlacement):
        cfg = self.config
        metrics = placement.map(partial(evaluate_lib.trajectory_metrics, batch_size=cfg.batch_size,
                                        seq_len=cfg.seq_len))

        def evaluate(agents, buffer, keys, point):
            roll_keys, metric_keys = jax.vmap(jax.random.split, out_axes=1)(jnp.asarray(keys))
            rows, valid = self._rollout(agents, roll_keys)
            return metrics(agents, rows, valid, buffer, metric_keys)

        return evaluate

    def tracer(self, models, phase: Phase, placement: RunPlacement):
        from_rows = placement.map(evaluate_lib.trace_from_rows)

        def record(agents, keys):
            roll_keys, loss_keys = jax.vmap(jax.random.split, out_axes=1)(jnp.asarray(keys))
            rows, valid = self._rollout(agents, roll_keys)
            return from_rows(agents, rows, valid, loss_keys)

        return record
