"""`offon-jit run` and `offon-jit plot`: flags are generated from RunConfig's fields."""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

from offon_jit.config import RunConfig

_HELP = {
    "task": "paper task name (python -m envs list)",
    "agents": "comma-separated agents: active, passive, tandem or a variant of engine/variants.py",
    "expl_weights": "the Active's exploration weights w_expl (several: a vmapped hyperparameter axis)",
    "ood_thresholds": "passive_auto OOD-ratio thresholds (several: a vmapped hyperparameter axis)",
    "offline_thresholds": "passive_offline_auto thresholds on --offline-signal (several: a vmapped axis)",
    "offline_signal": "the offline OOD signal that arms passive_offline_auto (engine/offline_signals.py)",
    "signal_ensemble": "give agents that do not explore a Plan2Explore ensemble too, for offline_disag_ratio",
    "expl_decay": "adaptive w_expl: an exploring Active's weight falls by this share as its disagreement falls",
    "fixed_intervals": "passive_fixed burst intervals N in env steps (several: a vmapped axis)",
    "tandem_alphas": "tandem_alpha weight-mix alphas (several: a vmapped axis)",
    "num_seeds": "seeds run side by side in one vmapped program",
    "env_steps": "env steps per agent (agent steps summed over parallel envs)",
    "preset": "model size: tiny, xs, s (the paper's), m, l",
    "backend": "auto (JAX-native where it exists), jax or host",
    "eval_interval": "env steps between evaluations (paper: 5000)",
    "eval_policy": "eval actions: sample (the actor's samples, DreamerV3 v1's eval mode) or mode (its mode/mean)",
    "active_run": "directory of an earlier Active run, for Passive/Tandem-only runs",
    "model_overrides": "DreamerConfig field overrides as KEY=VALUE (repeatable)",
}


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
    parser = subparsers.add_parser("run", help="train Active/Passive/Tandem agents (no arguments: the README's main job)")
    for field in dataclasses.fields(RunConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if field.name == "agents":
            parser.add_argument(flag, default=",".join(default), help=_HELP[field.name])
        elif field.name == "model_overrides":
            parser.add_argument("--model", dest="model_overrides", action="append", type=parse_model_override,
                                default=[], metavar="KEY=VALUE", help=_HELP[field.name])
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=_HELP.get(field.name))
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=_list_of(type(default[0])), default=default,
                                help=(_HELP.get(field.name) or "comma-separated values") + f" (default: {default})")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=_HELP.get(field.name))
    parser.add_argument("--resume", action="store_true", help="continue the run in --out-dir from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_placement_arguments(parser)
    parser.set_defaults(handler=run_main)


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


def config_from_args(args) -> RunConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)}
    values["agents"] = tuple(a.strip() for a in values["agents"].split(",") if a.strip())
    values["model_overrides"] = tuple(values["model_overrides"])
    return RunConfig(**values)


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
    host = uses_host_simulator(config)
    print(f"offon-jit run: {config.task}, agents {','.join(config.agents)}, {config.num_seeds} seeds, "
          f"{config.env_steps} env steps, preset {config.preset}, {'host' if host else 'jax'} backend -> {config.out_dir}",
          file=sys.stderr)
    start = time.perf_counter()
    try:
        study = Study(config, progress=not args.no_progress, devices=args.devices)
        print(f"offon-jit run: {study.placement.describe()}", file=sys.stderr)
        summary = study.run(resume=args.resume)
    except (ConfigError, CheckpointError, ReplayFileError, ShardError, FileNotFoundError) as err:
        print(f"offon-jit run: {err}", file=sys.stderr)  # bad input: one line, and nothing saved is touched
        return 2
    except TrainingDivergedError as err:
        print(f"error: training diverged: {err}", file=sys.stderr)
        return 3
    print(json.dumps({"run_dir": str(pathlib.Path(config.out_dir).resolve()), "wall_time_s": time.perf_counter() - start,
                      **summary}, indent=2))
    return 0


def add_plot_parser(subparsers) -> None:
    parser = subparsers.add_parser("plot", help="regenerate a run's plots from its saved metrics")
    parser.add_argument("run_dir", type=pathlib.Path)
    parser.set_defaults(handler=plot_main)


def plot_main(args) -> int:
    from offon_jit.plots import plot_run

    for path in plot_run(args.run_dir):
        print(path)
    return 0
