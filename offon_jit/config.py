"""Typed, validated run configuration (the CLI's flags map one-to-one onto it).

Step counting: `env_steps` counts agent steps summed over the parallel envs (the
DreamerV3 v1 convention; see envs/spec.py). With `num_envs=4` one loop iteration
is 4 env steps, and with `train_every=2` it performs 2 training updates, which
with batch 16 x 64 gives the paper's train ratio of 512 replayed steps per env step.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from offon_jit.engine.variants import BASE_AGENTS, VARIANTS


# Tuple-valued fields: hyperparameter axes (several values run side by side) and the agent list.
AXIS_FIELDS = ("expl_weights", "ood_thresholds", "offline_thresholds", "fixed_intervals", "tandem_alphas")


class ConfigError(ValueError):
    """A run configuration that cannot work; the message names the offending field."""


# DreamerConfig fields that RunConfig sets (or that the engine derives from RunConfig), so a
# `--model KEY=VALUE` override of them would be ignored or disagree: key -> why and which flag.
RUN_OWNED_MODEL_FIELDS = {
    "preset": "preset is set by --preset, not --model",
    "disag_models": "disag_models is set by --disag-models, not --model",
    "disag_reward": "disag_reward is set by the study: exploring Actives learn the disagreement reward, "
                    "--signal-ensemble gives other agents an ensemble without it",
    "expl_rule": "expl_rule is set by --expl-decay (> 0: the decay rule)",
    "batch_size": "batch_size is set by --batch-size, not --model",
    "batch_length": "batch_length is set by --seq-len, not --model",
    "train_ratio": "train_ratio is set by --train-every, not --model: the train ratio (replayed steps "
                   "per env step) is batch_size * seq_len / train_every",
}


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclasses.dataclass(frozen=True)
class RunConfig:
    # Defaults are the README's main job: a CPU-sized study on the quick debug task.
    task: str = "debug/point_reach"
    algo: str = "dreamerv3"  # the agent family (offon_jit/agents/family.py): dreamerv3, dqn or sac
    agents: tuple[str, ...] = BASE_AGENTS  # any of engine/variants.py's VARIANTS
    num_seeds: int = 2
    seed: int = 0
    env_steps: int = 2_000
    preset: str = "tiny"
    backend: str = "auto"
    num_envs: int = 4
    train_every: int = 2  # one update per `train_every` env steps (the paper: every 2nd step)
    batch_size: int = 8  # paper: 16 (CPU main job: 8)
    seq_len: int = 32  # paper: 64 (CPU main job: 32)
    replay_capacity: int = 0  # 0: env_steps + prefill (never overwrite: Passive/Tandem need it all)
    prefill: int = 512  # random-policy env steps before training starts
    eval_interval: int = 500  # env steps between evaluations (paper: 5000)
    eval_episodes: int = 4
    eval_policy: str = "sample"  # eval actions: "sample" the actor (DreamerV3 v1's eval mode) or its "mode"/mean
    episode_length: int = 0  # 0: the suite's default; >0 shortens episodes (smoke runs)
    checkpoint_every: int = 1  # in eval intervals; 0 disables checkpoints
    active_run: str = ""  # an earlier Active run dir: buffers for Passive, batch-index log for Tandem
    dataset: str = ""  # a Minari dataset id or path: the offline agents' data instead of an Active's buffer
    out_dir: str = "runs/default"
    sticky_prob: float = -1.0  # <0: the suite default (MinAtar 0.1)
    frame_size: int = 0  # MinAtar frames' side; 0: the suite's 32 (10 stores the games' own grid, 1/10 the memory)
    model_overrides: tuple[tuple[str, object], ...] = ()
    # -- remedies and controls (paper Sec. 4 and App. A.6-A.7); tuples are hyperparameter axes --
    expl_weights: tuple[float, ...] = (0.0,)  # the Active's w_expl (Eq. 5); 1.0 = the Active-expl agent
    disag_models: int = 8  # Plan2Explore ensemble heads, used when an expl weight is > 0
    ood_thresholds: tuple[float, ...] = (1.35,)  # passive_auto: OOD ratio above which it interacts
    # passive_offline_auto: the offline signal (engine/offline_signals.py) and thresholds above which it interacts
    offline_signal: str = "offline_disag_ratio"  # the winner of the offline_ood validation (README)
    offline_thresholds: tuple[float, ...] = (1.3,)
    signal_ensemble: bool = False  # agents that do not explore get a Plan2Explore ensemble too (signals only)
    expl_decay: float = 0.0  # adaptive w_expl: an exploring Active's w falls by this share as its disagreement falls
    fixed_intervals: tuple[int, ...] = (20_000,)  # passive_fixed: env steps N between bursts
    burst_steps: int = 2_000  # self-generated env steps per burst (paper: 2K)
    tandem_alphas: tuple[float, ...] = (0.1,)  # tandem_alpha: init (1 - a) w_Active + a w_Tandem (Eq. S3)
    split_chunk_len: int = 0  # passive_mixed keeps random chunks of this many steps per env (0: seq_len * 4)
    record_traces: bool = False  # save one final test episode per run (Fig. S3/S4 data; experiments turn it on)

    def __post_init__(self):
        for name in ("agents", *AXIS_FIELDS):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        overrides = self.model_overrides
        if isinstance(overrides, (list, tuple)) and all(isinstance(kv, (list, tuple)) for kv in overrides):
            # list values (JSON, e.g. SAC's hidden widths) as tuples: a config read back equals the one saved
            object.__setattr__(self, "model_overrides", tuple(tuple(_frozen(v) for v in kv) for kv in overrides))
        self.validate()

    # -- validation at the edge ------------------------------------------------
    def validate(self) -> None:
        import envs  # lazy: keeps config importable without env backends

        try:
            entry = envs.get_task(self.task)
        except KeyError as err:
            raise ConfigError(str(err.args[0])) from None
        if not self.agents:
            raise ConfigError("agents is empty: choose any of " + ", ".join(VARIANTS))
        unknown = [a for a in self.agents if a not in VARIANTS]
        if unknown:
            raise ConfigError(f"unknown agents {unknown}; choose from {', '.join(VARIANTS)}")
        if len(set(self.agents)) != len(self.agents):
            raise ConfigError(f"agents listed twice: {list(self.agents)}")
        for name in ("num_seeds", "env_steps", "num_envs", "train_every", "batch_size", "seq_len",
                     "eval_interval", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("prefill", "replay_capacity", "episode_length", "checkpoint_every", "frame_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.num_envs % self.train_every and self.train_every % self.num_envs:
            raise ConfigError(
                f"num_envs ({self.num_envs}) and train_every ({self.train_every}) must divide one another "
                "so every loop iteration performs a fixed number of updates"
            )
        cycle = max(self.num_envs, self.train_every)
        if self.eval_interval % cycle:
            raise ConfigError(
                f"eval_interval ({self.eval_interval}) must be a multiple of max(num_envs, train_every) ({cycle})"
            )
        if self.env_steps % self.eval_interval:
            raise ConfigError(f"env_steps ({self.env_steps}) must be a multiple of eval_interval ({self.eval_interval})")
        if self.prefill % self.num_envs:
            raise ConfigError(f"prefill ({self.prefill}) must be a multiple of num_envs ({self.num_envs})")
        if self.prefill // self.num_envs < self.seq_len:
            raise ConfigError(
                f"prefill ({self.prefill}) gives {self.prefill // self.num_envs} steps per env, fewer than "
                f"seq_len ({self.seq_len}): the first update could not sample a full sequence"
            )
        if self.replay_capacity and self.replay_capacity < self.total_steps_stored:
            raise ConfigError(
                f"replay_capacity ({self.replay_capacity}) < env_steps + prefill ({self.total_steps_stored}): "
                "the Passive and Tandem agents need the Active agent's complete buffer"
            )
        from offon_jit.engine.evaluate import POLICY_MODES  # lazy: imports JAX

        if self.eval_policy not in POLICY_MODES:
            raise ConfigError(f"eval_policy must be one of {', '.join(POLICY_MODES)}, got {self.eval_policy!r}")
        if self.backend not in ("auto", "jax", "host"):
            raise ConfigError(f"backend must be auto, jax or host, got {self.backend!r}")
        if self.backend != "auto" and self.backend not in entry.backends:
            raise ConfigError(f"task {self.task} has no {self.backend!r} backend (available: {', '.join(entry.backends)})")
        self._validate_data_source()
        if self.sticky_prob >= 0 and entry.suite != "minatar":
            raise ConfigError("sticky_prob only applies to MinAtar tasks")
        if self.frame_size and entry.suite != "minatar":
            raise ConfigError("frame_size only applies to MinAtar tasks")
        self._validate_remedies()
        self._validate_algo()
        self._validate_model()

    def _validate_data_source(self) -> None:
        """Offline agents train on an Active in this study, an earlier Active run, or a Minari dataset."""
        if self.active_run and self.dataset:
            raise ConfigError("give active_run or dataset, not both: they are two sources of the offline agents' data")
        if "active" in self.agents and (self.active_run or self.dataset):
            source = "active_run" if self.active_run else "dataset"
            raise ConfigError(f"{source} is only for runs without an Active agent (the Active provides the data)")
        if "active" not in self.agents and not (self.active_run or self.dataset):
            raise ConfigError(
                f"{' and '.join(self.agents)} without an Active agent need active_run (the directory of an "
                "earlier Active run: its final buffers feed a Passive agent, its batch-index log a Tandem agent) "
                "or dataset (a Minari dataset for Passive agents)"
            )
        if self.dataset:
            for name in self.agents:
                variant = VARIANTS[name]
                if variant.batches == "replay":
                    raise ConfigError(f"dataset: {name} replays the Active's batch-index log, which a dataset does "
                                      "not have; train it with active_run")
                if variant.world_model != "own":
                    raise ConfigError(f"dataset: {name} needs the Active's world model, which a dataset does not "
                                      "have; train it with active_run")

    @property
    def family(self):
        """The agent family of `algo` (lazy: imports JAX)."""
        from offon_jit.agents.family import family_named

        return family_named(self.algo)

    def _validate_algo(self) -> None:
        """A model-free family runs every variant that needs no world model or Plan2Explore ensemble."""
        from offon_jit.agents.family import ALGOS, DEFAULT_ALGO

        if self.algo not in ALGOS:
            raise ConfigError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.algo == DEFAULT_ALGO:
            return
        for name in self.agents:
            variant = VARIANTS[name]
            if variant.world_model != "own":
                raise ConfigError(f"{name} uses the Active's world model, which {self.algo} does not have")
            if variant.arm_signal == "offline":
                raise ConfigError(f"{name} is armed by a world-model signal (offline_signal), which {self.algo} "
                                  "does not have; passive_auto arms on its TD-error OOD ratio instead")
        if any(w > 0 for w in self.expl_weights) or self.signal_ensemble or self.expl_decay:
            raise ConfigError(f"expl_weights, expl_decay and signal_ensemble need DreamerV3's Plan2Explore "
                              f"ensemble; {self.algo} has none")

    def _validate_model(self) -> None:
        """The preset and every --model override build a valid config of the family (see `model_config`)."""
        family = self.family
        presets = family.preset_names()
        if self.preset not in presets:
            kind = "size" if family.has_world_model else self.algo
            raise ConfigError(f"unknown {kind} preset {self.preset!r}; valid presets: {', '.join(presets)}")
        overrides = self.model_overrides
        if not isinstance(overrides, tuple) or not all(
                isinstance(kv, tuple) and len(kv) == 2 and isinstance(kv[0], str) for kv in overrides):
            raise ConfigError(f"model_overrides must be (KEY, VALUE) pairs, got {overrides!r}")
        keys = [key for key, _ in overrides]
        owned = RUN_OWNED_MODEL_FIELDS if family.has_world_model else {"preset": RUN_OWNED_MODEL_FIELDS["preset"]}
        fields = family.config_type.field_names()
        for key in keys:
            if key in owned:
                raise ConfigError(owned[key])
            if key not in fields:
                raise ConfigError(f"--model {key}: unknown {family.config_type.__name__} field {key!r}; valid fields: "
                                  + ", ".join(f for f in fields if f not in owned))
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ConfigError(f"--model {twice[0]} is given twice")
        try:
            model_config = self._family_config()  # DreamerV3: the backend's default precision is valid either way
        except (TypeError, ValueError) as err:
            raise ConfigError(f"--model {', '.join(keys)}: {err}" if keys else str(err)) from None
        if not family.has_world_model:
            if self.seq_len < model_config.n_step + 1:
                raise ConfigError(f"seq_len ({self.seq_len}) < n_step + 1 ({model_config.n_step + 1}): {self.algo}'s "
                                  "windows would hold no complete n-step target")
            self._check_family_spec(family, model_config)

    def _check_family_spec(self, family, model_config) -> None:
        """The family's own spec check (e.g. DQN needs discrete actions), without building parameters."""
        import jax  # lazy: imports JAX

        spec = self.task_spec()
        try:
            jax.eval_shape(lambda key: family.module.init_agent(key, spec, model_config), jax.random.PRNGKey(0))
        except ValueError as err:
            raise ConfigError(f"algo {self.algo} on {self.task}: {err}") from None

    def model_config(self):
        """The agents' model config: the family's preset plus --model overrides.

        DreamerV3: the DreamerConfig of every agent but an exploring Active (which adds a Plan2Explore
        ensemble of `disag_models` heads to it). Without a `precision` override the backend picks it:
        bf16 on GPU/TPU, f32 on CPU.
        """
        if not self.family.has_world_model:
            return self._family_config()
        import jax  # lazy: imports JAX

        from offon_jit.dreamer.config import default_precision

        return self._family_config(precision=default_precision(jax.default_backend()))

    def _family_config(self, **defaults):
        """The preset with `defaults`, then the --model overrides on top."""
        return self.family.config_type.from_preset(self.preset, **{**defaults, **dict(self.model_overrides)})

    def _validate_remedies(self) -> None:
        for name in AXIS_FIELDS:
            values = getattr(self, name)
            if not values:
                raise ConfigError(f"{name} is empty: give at least one value")
            if len(set(values)) != len(values):
                raise ConfigError(f"{name} lists a value twice: {list(values)}")
        if not all(0.0 <= w <= 1.0 for w in self.expl_weights):
            raise ConfigError(f"expl_weights must lie in [0, 1] (w_task = 1 - w_expl), got {list(self.expl_weights)}")
        if any(w > 0 for w in self.expl_weights) and self.disag_models < 2:
            raise ConfigError(f"an exploration weight > 0 needs disag_models >= 2 (ensemble disagreement), got {self.disag_models}")
        for name in ("ood_thresholds", "offline_thresholds"):
            if not all(t > 0 for t in getattr(self, name)):
                raise ConfigError(f"{name} must be > 0, got {list(getattr(self, name))}")
        from offon_jit.engine.offline_signals import ENSEMBLE_SIGNAL, SIGNALS  # lazy: imports JAX

        if self.offline_signal not in SIGNALS:
            raise ConfigError(f"offline_signal must be one of {', '.join(SIGNALS)}, got {self.offline_signal!r}")
        ensemble_armed = self.offline_signal == ENSEMBLE_SIGNAL and "passive_offline_auto" in self.agents
        if (self.signal_ensemble or ensemble_armed) and self.disag_models < 2:
            raise ConfigError(f"{'signal_ensemble' if self.signal_ensemble else 'offline_signal ' + ENSEMBLE_SIGNAL} "
                              f"needs an ensemble of disag_models >= 2 heads, got {self.disag_models}")
        if not 0.0 <= self.expl_decay <= 1.0:
            raise ConfigError(f"expl_decay must lie in [0, 1], got {self.expl_decay}")
        if self.expl_decay > 0 and not any(w > 0 for w in self.expl_weights):
            raise ConfigError("expl_decay adapts an exploring Active's w_expl: give an expl_weights value > 0")
        if not all(0.0 <= a <= 1.0 for a in self.tandem_alphas):
            raise ConfigError(f"tandem_alphas must lie in [0, 1], got {list(self.tandem_alphas)}")
        bad = [n for n in self.fixed_intervals if n <= 0 or n % self.train_every]
        if bad:
            raise ConfigError(f"fixed_intervals {bad} must be positive multiples of train_every ({self.train_every})")
        if self.burst_steps <= 0 or self.burst_steps % self.num_envs:
            raise ConfigError(f"burst_steps ({self.burst_steps}) must be a positive multiple of num_envs ({self.num_envs})")
        if self.burst_steps // self.num_envs < self.seq_len and any(VARIANTS[a].interaction for a in self.agents):
            raise ConfigError(f"burst_steps ({self.burst_steps}) gives fewer steps per env than seq_len ({self.seq_len})")
        if self.split_chunk_len < 0:
            raise ConfigError(f"split_chunk_len must be >= 0, got {self.split_chunk_len}")
        lockstep_only = [a for a in self.agents if VARIANTS[a].needs_lockstep and "active" not in self.agents]
        if lockstep_only:
            raise ConfigError(f"{lockstep_only} copy the Active's world model at every step: run them with the active agent")

    # -- derived quantities -------------------------------------------------------
    def task_spec(self):
        """The task's spec as this run's envs produce it (MinAtar frames at `frame_size`)."""
        import envs  # lazy: keeps config importable without env backends

        return envs.task_spec(self.task, frame_size=self.frame_size or None)

    @property
    def capacity(self) -> int:
        return self.replay_capacity or self.total_steps_stored

    @property
    def total_steps_stored(self) -> int:
        return self.env_steps + self.prefill

    @property
    def iterations_per_chunk(self) -> int:
        return self.eval_interval // self.num_envs

    @property
    def num_chunks(self) -> int:
        return self.env_steps // self.eval_interval

    @property
    def updates_per_iteration(self) -> int:
        """Updates per loop iteration when num_envs >= train_every, else 1 every few iterations."""
        return max(1, self.num_envs // self.train_every)

    @property
    def iterations_per_update(self) -> int:
        return max(1, self.train_every // self.num_envs)

    @property
    def updates_per_chunk(self) -> int:
        return self.iterations_per_chunk * self.updates_per_iteration // self.iterations_per_update

    @property
    def mixed_chunk_len(self) -> int:
        return self.split_chunk_len or 4 * self.seq_len

    @property
    def run_dir(self) -> pathlib.Path:
        return pathlib.Path(self.out_dir)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, default=list)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict, base: "RunConfig | None" = None) -> "RunConfig":
        """`base` (default: the defaults) with the fields of `raw`, as a config file or config.json holds them.

        Lists become tuples; `model_overrides` may be KEY-VALUE pairs or a mapping.
        """
        if not isinstance(raw, dict):
            raise ConfigError(f"a config must be a mapping of field names to values, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"unknown config fields {unknown}; valid fields: {', '.join(cls.field_names())}")
        values = dict(raw)
        if isinstance(values.get("agents"), str):
            values["agents"] = [a.strip() for a in values["agents"].split(",") if a.strip()]
        overrides = values.get("model_overrides")
        if isinstance(overrides, dict):
            values["model_overrides"] = list(overrides.items())
        for name in ("agents", *AXIS_FIELDS):
            if isinstance(values.get(name), (list, tuple)):
                values[name] = tuple(values[name])
            elif name in values and name in AXIS_FIELDS and isinstance(values[name], (int, float)):
                values[name] = (values[name],)
        if isinstance(values.get("model_overrides"), (list, tuple)):
            values["model_overrides"] = tuple(tuple(kv) if isinstance(kv, (list, tuple)) else kv
                                              for kv in values["model_overrides"])
        types = {f.name: type(f.default) for f in dataclasses.fields(cls)}
        for name, value in values.items():
            expected = types[name]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                values[name] = float(value)
            elif expected in (int, float, str, bool) and not (isinstance(value, expected)
                                                              and not (expected is int and isinstance(value, bool))):
                raise ConfigError(f"config field {name}: expected {expected.__name__}, got {value!r}")
        if base is None:  # a new config: the family's run defaults under the given fields
            from offon_jit.agents.family import ALGOS, family_named

            algo = values.get("algo", cls.algo)
            if algo in ALGOS:
                values = {**family_named(algo).run_defaults, **values}
        try:
            return dataclasses.replace(base or cls(), **values)
        except TypeError as err:
            raise ConfigError(f"config: {err}") from None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def differences(self, other: "RunConfig", fields=None) -> list[str]:
        """"field: self's value -> other's value" for every field (of `fields`, default all) that differs."""
        names = fields or self.field_names()
        return [f"{name}: {getattr(self, name)!r} -> {getattr(other, name)!r}"
                for name in names if getattr(self, name) != getattr(other, name)]

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)
