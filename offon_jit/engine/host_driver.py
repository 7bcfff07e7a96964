"""Host-backend driver: the same jitted policy and update functions, env steps in Python.

Used for tasks without a JAX-native backend (dm_control vision, Metaworld) and for
`backend="host"` (e.g. the original MinAtar). One `BatchedHostEnv` holds every
seed's envs (seeds x num_envs); actions come from the seed-vmapped jitted policy,
rows go into the device buffers through a jitted add, and updates use the very
`active_updates` / `offline_chunk` functions of the JAX path. Offline phases need no
env at all except for evaluation. Host simulators cannot be checkpointed, so host
runs cannot be resumed.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

import envs
from offon_jit.config import ConfigError
from offon_jit.dreamer import agent as agent_lib
from offon_jit.engine import chunks, evaluate
from offon_jit.engine.study import Phase, Study
from offon_jit.engine.transitions import make_row
from offon_jit.engine.variants import VARIANTS


def host_support_problem(config) -> str | None:
    """Why a config cannot run on host simulators (None if it can)."""
    interactive = [a for a in config.agents if VARIANTS[a].interaction]
    axes = [VARIANTS[a].hparam for a in config.agents if VARIANTS[a].hparam]
    if interactive or len(config.expl_weights) > 1 or any(len(getattr(config, h)) > 1 for h in axes):
        return (f"{config.task} runs on host simulators: self-generated data ({interactive or 'none asked'}) and "
                "swept hyperparameter axes need a JAX-native task (python -m envs list); host studies run one "
                "value per hyperparameter")
    return None


class HostStudy(Study):
    def __init__(self, config, progress: bool = True, devices: int = 0):
        # Host simulators feed one Python process; its arrays live on the default device.
        if jax.process_count() > 1 or devices > 1:
            raise ConfigError(
                f"{config.task} runs on host simulators, which step in one process on one device; "
                "run it without --devices/--coordinator (or choose a JAX-native task)"
            )
        problem = host_support_problem(config)
        if problem:
            raise ConfigError(problem)
        super().__init__(config, progress, devices=1)

    def _make_envs(self) -> None:
        cfg = self.config
        if "host" not in envs.get_task(cfg.task).backends:
            raise ConfigError(f"{cfg.task} has no host backend")
        self.host_env = envs.make(cfg.task, "host", cfg.num_seeds * cfg.num_envs, **self.env_options())
        self.eval_host_env = envs.make(cfg.task, "host", cfg.num_seeds * cfg.eval_episodes, **self.env_options())
        self.env = self.eval_env = None
        self.spec = self.host_env.spec
        self._last = None

    def _compile_fns(self):
        super()._compile_fns()
        cfg, spec = self.config, self.spec
        # Prefill happens in Python here, so the jitted init is the plain Active init.
        self.init_active = jax.jit(jax.vmap(partial(self.fresh_active, expl_weight=cfg.expl_weights[0])))
        self.act = {
            flag: jax.jit(jax.vmap(partial(chunks.act_and_store, spec=spec, random_policy=flag)))
            for flag in (False, True)
        }
        self.updates = jax.jit(jax.vmap(partial(chunks.active_updates, config=cfg)))
        self.eval_policy = jax.jit(jax.vmap(lambda a, c, o, f, k: agent_lib.policy_step(a, c, o, f, k, "eval")))
        self.eval_carry = jax.jit(jax.vmap(lambda a: agent_lib.initial_policy_carry(a, cfg.eval_episodes)))
        self.eval_metrics = jax.jit(
            jax.vmap(partial(evaluate.trajectory_metrics, batch_size=cfg.batch_size, seq_len=cfg.seq_len))
        )

    # -- host stepping ---------------------------------------------------------------------
    def _split_seeds(self, array: np.ndarray, per_seed: int) -> jnp.ndarray:
        return jnp.asarray(array.reshape(self.config.num_seeds, per_seed, *array.shape[1:]))

    def _collect(self, run, random_policy: bool):
        cfg, step = self.config, self._last
        fields = [self._split_seeds(x, cfg.num_envs) for x in (step.obs, step.reward, step.is_first, step.terminated)]
        run, action = self.act[random_policy](run, *fields)
        action = np.asarray(action).reshape(cfg.num_seeds * cfg.num_envs, *self.spec.action.action_shape)
        self._last = self.host_env.step(action)
        return run

    def initial_state(self, phase: Phase, buffers=None, inputs=None) -> dict:
        if phase.name != "active":
            return super().initial_state(phase, buffers, inputs)
        cfg = self.config
        run = self.init_active(self.keys)
        self._last = self.host_env.reset(cfg.seed)
        for _ in range(cfg.prefill // cfg.num_envs):
            run = self._collect(run, random_policy=True)
        state = {"active": run.replace(env_steps=jnp.zeros_like(run.env_steps))}
        for name, init in self.phase_fns(phase)["init_followers"].items():
            state[name] = init(self.keys, run.agent)
        return state

    def run_chunk(self, phase: Phase, state: dict, chunk: int):
        if phase.name != "active":
            return super().run_chunk(phase, state, chunk)
        cfg = self.config
        active = state["active"]
        followers = {name: state[name] for name in phase.agents[1:]}
        outputs = []
        for _ in range(cfg.iterations_per_chunk // cfg.iterations_per_update):
            for _ in range(cfg.iterations_per_update):
                active = self._collect(active, random_policy=False)
            active, followers, out = self.updates(active, followers)
            outputs.append(out)
        # (seeds, cycles, updates, ...) -> per seed, as the jitted path returns
        stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs, axis=1), *outputs)
        out = jax.vmap(partial(chunks.chunk_outputs, cfg))(*stacked)
        return {"active": active, **followers}, out

    # -- evaluation ------------------------------------------------------------------------
    def _host_rollout(self, agents, seed: int):
        cfg, env = self.config, self.eval_host_env
        episodes, length = cfg.eval_episodes, self.spec.episode_length
        step = env.reset(seed)
        carry = self.eval_carry(agents)
        keys = jax.vmap(jax.random.PRNGKey)(seed + jnp.arange(cfg.num_seeds))
        alive = np.ones(cfg.num_seeds * episodes, bool)
        rows, valid = [], []
        for t in range(length + 1):
            keys, step_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
            obs, first = (self._split_seeds(x, episodes) for x in (step.obs, step.is_first))
            action, carry = self.eval_policy(agents, carry, obs, first, step_keys)
            action = np.asarray(action)
            row = make_row(obs, self._split_seeds(step.reward, episodes), first,
                           self._split_seeds(step.terminated, episodes), jnp.asarray(action), self.spec)
            rows.append(jax.device_get(row))
            valid.append(alive.reshape(cfg.num_seeds, episodes).copy())
            alive &= ~step.done
            if t < length:
                step = env.step(action.reshape(cfg.num_seeds * episodes, *self.spec.action.action_shape))
        stacked = {k: jnp.asarray(np.stack([r[k] for r in rows], axis=2)) for k in rows[0]}
        return stacked, jnp.asarray(np.stack(valid, axis=2))

    def evaluate_agents(self, agents, buffer, keys, chunk: int, phase: Phase | None = None):
        rows, valid = self._host_rollout(agents, seed=self.config.seed + 7919 * (chunk + 1))
        return self.eval_metrics(agents, rows, valid, buffer, keys)

    def run(self, resume: bool = False) -> dict:
        if resume:
            raise ConfigError("host-backend runs cannot be resumed: Python simulators are not checkpointed")
        try:
            return super().run(resume=False)
        finally:
            self.host_env.close()
            self.eval_host_env.close()
