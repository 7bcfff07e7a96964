"""`offon-jit run` and `offon-jit plot`: flags are generated from RunConfig's fields."""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

from offon_jit import compile_cache
from offon_jit.config import ConfigError, RunConfig
from offon_jit.layout import RunLayout

# One line of help per RunConfig field (tests/experiments/test_cli_errors.py checks every field has one).
_HELP = {
    "task": "paper task name (python -m envs list), or one registered with envs.register",
    "algo": "agent family: dreamerv3 (the paper's), dqn (Double DQN, discrete actions) or sac (continuous); "
            "dqn and sac take their own defaults for the replay and schedule flags not given",
    "agents": "comma-separated agents: active, passive, tandem or a variant of engine/variants.py",
    "num_seeds": "seeds run side by side in one vmapped program",
    "seed": "the first seed (runs use seed, seed+1, ...)",
    "env_steps": "env steps per agent (agent steps summed over parallel envs)",
    "preset": "model size (DreamerV3: s is the paper's; dqn and sac: tiny)",
    "backend": "auto: JAX-native where it exists; jax; host",
    "num_envs": "parallel environments per run",
    "train_every": "one update per this many env steps (the paper: 2)",
    "batch_size": "sequences per update (the paper: 16)",
    "seq_len": "steps per sequence (the paper: 64)",
    "replay_capacity": "replay rows per run; 0: env_steps + prefill (Passive and Tandem need the whole buffer)",
    "prefill": "random-policy env steps before training starts",
    "eval_interval": "env steps between evaluations (the paper: 5000)",
    "eval_episodes": "test episodes per evaluation and run",
    "eval_policy": "eval actions: the actor's samples (DreamerV3 v1's eval mode) or its mode/mean",
    "episode_length": "agent steps per episode; 0: the suite's (shorter: smoke runs)",
    "checkpoint_every": "eval intervals between checkpoints; 0: none (a resume then restarts the unfinished phase)",
    "active_run": "directory of an earlier Active run, for Passive/Tandem-only runs",
    "dataset": "a Minari dataset id or directory: the Passive agents' data instead of an Active's buffer",
    "out_dir": "the run directory (must be empty or absent; --resume continues the run in it)",
    "sticky_prob": "MinAtar sticky-action probability; < 0: the suite's (0.1)",
    "frame_size": "side of MinAtar's square frames; 0: the suite's (32); 10 stores the games' own grid (DQN's input)",
    "model_overrides": "model config field overrides as KEY=VALUE (repeatable; DreamerConfig: model-summary lists "
                       "the fields; dqn and sac: their config classes in offon_jit/agents/)",
    "expl_weights": "the Active's exploration weights w_expl (several: a vmapped hyperparameter axis)",
    "disag_models": "Plan2Explore ensemble heads (used when an exploration weight is > 0)",
    "ood_thresholds": "passive_auto OOD-ratio thresholds (several: a vmapped hyperparameter axis)",
    "offline_signal": "the offline OOD signal that arms passive_offline_auto (engine/offline_signals.py)",
    "offline_thresholds": "passive_offline_auto thresholds on --offline-signal (several: a vmapped axis)",
    "signal_ensemble": "give agents that do not explore a Plan2Explore ensemble too, for offline_disag_ratio",
    "expl_decay": "adaptive w_expl: an exploring Active's weight falls by this share as its disagreement falls",
    "fixed_intervals": "passive_fixed burst intervals N in env steps (several: a vmapped axis)",
    "burst_steps": "self-generated env steps per burst of passive_fixed / passive_auto (the paper: 2000)",
    "tandem_alphas": "tandem_alpha weight-mix alphas (several: a vmapped axis)",
    "split_chunk_len": "passive_mixed keeps random chunks of this many steps per env; 0: 4 x seq_len",
    "record_traces": "save one final test episode per run (Figs. S3/S4)",
}


def field_choices() -> dict[str, tuple]:
    """The RunConfig fields with a closed set of values, from the modules that define them."""
    from offon_jit.agents.family import ALGOS, family_named
    from offon_jit.engine.evaluate import POLICY_MODES
    from offon_jit.engine.offline_signals import SIGNALS

    presets = tuple(dict.fromkeys(name for algo in ALGOS for name in family_named(algo).preset_names()))
    return {"algo": ALGOS, "preset": presets, "backend": ("auto", "jax", "host"), "eval_policy": tuple(POLICY_MODES),
            "offline_signal": tuple(SIGNALS)}


def parse_model_override(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"model override {text!r} must look like KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _list_of(element_type):
    def parse(text: str) -> tuple:
        try:
            return tuple(element_type(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {element_type.__name__}") from None

    return parse


def add_run_parser(subparsers) -> None:
    """Flags generated from RunConfig's fields. Defaults are left unset (SUPPRESS) so that the flags a
    user gives can be told apart: they override --config FILE, and a --resume checks them against the
    run's saved config."""
    parser = subparsers.add_parser("run", help="train Active/Passive/Tandem agents (no arguments: the README's main job)",
                                   description="Every flag is a RunConfig field (offon_jit/config.py).")
    choices = field_choices()
    for field in dataclasses.fields(RunConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        options = dict(default=argparse.SUPPRESS, help=f"{_HELP[field.name]} (default: {shown!s})")
        if field.name == "agents":
            parser.add_argument(flag, **options)
        elif field.name == "model_overrides":
            parser.add_argument("--model", dest="model_overrides", action="append", type=parse_model_override,
                                metavar="KEY=VALUE", **options)
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=_list_of(type(default[0])), metavar="V[,V...]", **options)
        else:
            parser.add_argument(flag, type=type(default), choices=choices.get(field.name), **options)
    parser.add_argument("--config", type=pathlib.Path, default=None, metavar="FILE",
                        help="a YAML or JSON file of RunConfig fields (a run's config.json repeats it); flags override it")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out-dir with its saved config (no other flags needed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    compile_cache.add_arguments(parser)
    add_wandb_arguments(parser)
    add_placement_arguments(parser)
    parser.set_defaults(handler=run_main)


def add_wandb_arguments(parser) -> None:
    """Optional Weights & Biases logging; not part of RunConfig, so a resume may turn it on or off."""
    from offon_jit.wandb_log import MODES

    group = parser.add_argument_group("Weights & Biases (optional: pip install wandb)")
    group.add_argument("--wandb", metavar="PROJECT", default=None,
                       help="also log metrics to this W&B project (one W&B run per curve and seed)")
    group.add_argument("--wandb-entity", default=None, help="W&B entity (user or team)")
    group.add_argument("--wandb-mode", default=None, choices=MODES, help="W&B mode (default: W&B's own)")


def wandb_settings(args, run_dir: pathlib.Path) -> dict | None:
    if not args.wandb:
        return None
    settings = {"project": args.wandb, "entity": args.wandb_entity, "mode": args.wandb_mode,
                "dir": str(RunLayout(run_dir).wandb)}
    return {key: value for key, value in settings.items() if value is not None}


def add_placement_arguments(parser) -> None:
    """Where runs execute; not part of RunConfig, so a study resumes on any layout."""
    group = parser.add_argument_group("devices and hosts (see docs/distributed.md)")
    group.add_argument("--devices", type=int, default=0,
                       help="devices to shard the seeds over (0: as many as divide the seeds evenly)")
    group.add_argument("--coordinator", default=None, help="host:port of process 0 (env OFFON_JIT_COORDINATOR)")
    group.add_argument("--num-processes", type=int, default=None, help="processes in the job (env OFFON_JIT_NUM_PROCESSES)")
    group.add_argument("--process-id", type=int, default=None, help="this process's index (env OFFON_JIT_PROCESS_ID)")
    group.add_argument("--distributed-auto", action="store_true",
                       help="let JAX detect the cluster (SLURM, Open MPI; env OFFON_JIT_DISTRIBUTED=auto)")


def start_distributed(args) -> None:
    from offon_jit.engine import multihost

    multihost.initialize(multihost.DistributedConfig.from_env(
        coordinator=args.coordinator, num_processes=args.num_processes, process_id=args.process_id,
        auto=args.distributed_auto))


def load_config_file(path: pathlib.Path) -> dict:
    """The fields in a YAML or JSON config file (by suffix; JSON is also read as YAML)."""
    import yaml

    try:
        text = pathlib.Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror or error})") from None
    try:
        raw = json.loads(text) if pathlib.Path(path).suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"--config {path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'} "
                          f"({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path}: expected a mapping of RunConfig fields, got {type(raw).__name__}")
    return raw


def config_from_args(args) -> RunConfig:
    """Defaults, then --config FILE, then the flags given. With --resume, the run's saved config.json
    takes the defaults' place, so a resume needs no flags (any given must agree with it: Study checks)."""
    from offon_jit.engine import run_guard

    values = load_config_file(args.config) if getattr(args, "config", None) else {}
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)})
    base = None
    if getattr(args, "resume", False):
        layout = RunLayout(values.get("out_dir", RunConfig.__dataclass_fields__["out_dir"].default))
        if layout.config.exists():
            base = run_guard.saved_config(layout).replace(out_dir=str(layout.root))
    return RunConfig.from_dict(values, base=base)


def run_main(args) -> int:
    from offon_jit.checkpoint import CheckpointError
    from offon_jit.config import ConfigError
    from offon_jit.engine.programs import uses_host_simulator
    from offon_jit.replay.shards import ShardError
    from offon_jit.replay.storage import ReplayFileError
    from offon_jit.engine.study import Study, TrainingDivergedError

    start_distributed(args)  # before any JAX computation
    try:
        config = config_from_args(args)
    except ConfigError as err:
        print(f"offon-jit run: {err}", file=sys.stderr)
        return 2
    compile_cache.enable_from_args(args)
    host = uses_host_simulator(config)
    print(f"offon-jit run: {config.task}, agents {','.join(config.agents)}, {config.num_seeds} seeds, "
          f"{config.env_steps} env steps, preset {config.preset}, {'host' if host else 'jax'} backend -> {config.out_dir}",
          file=sys.stderr)
    start = time.perf_counter()
    try:
        study = Study(config, progress=not args.no_progress, devices=args.devices,
                      wandb=wandb_settings(args, config.run_dir))
        print(f"offon-jit run: {study.placement.describe()}", file=sys.stderr)
        summary = study.run(resume=args.resume)
    except (ConfigError, CheckpointError, ReplayFileError, ShardError, FileNotFoundError) as err:
        print(f"offon-jit run: {err}", file=sys.stderr)  # bad input: one line, and nothing saved is touched
        return 2
    except TrainingDivergedError as err:
        print(f"offon-jit run: training diverged: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"run_dir": str(pathlib.Path(config.out_dir).resolve()), "wall_time_s": time.perf_counter() - start,
                      **summary}, indent=2))
    return 0


def add_plot_parser(subparsers) -> None:
    parser = subparsers.add_parser("plot", help="regenerate a run's plots from its saved metrics")
    parser.add_argument("run_dir", type=pathlib.Path)
    parser.set_defaults(handler=plot_main)


def plot_main(args) -> int:
    from offon_jit.plots import plot_run

    try:
        paths = plot_run(args.run_dir)
    except (FileNotFoundError, ValueError) as err:  # not a run directory, or corrupt metrics
        print(f"offon-jit plot: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0
