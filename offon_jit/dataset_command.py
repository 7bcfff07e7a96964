"""`offon-jit dataset export RUN_DIR --agent active --seed N --id NAME [--force]`: a replay buffer as a Minari dataset.

The run's config.json gives the task (and its time limit); the buffer is the Active's final
replay buffer, buffers/active_TAG.npz (RunLayout), the only agent whose buffer a run keeps.
A Passive/Tandem-only run directory points to its Active run (`active_run`), whose buffer is
used. Datasets go to the local Minari root ($MINARI_DATASETS_PATH, else ~/.minari/datasets).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

EXPORTABLE_AGENTS = ("active",)


class _InputError(Exception):
    """Bad user input: the CLI prints the message on one line and exits 2."""


def add_dataset_parser(subcommands) -> None:
    parser = subcommands.add_parser("dataset", help="replay buffers as Minari datasets (export)")
    parser.set_defaults(handler=lambda args: _usage(parser))
    actions = parser.add_subparsers(dest="dataset_action", metavar="ACTION")
    export = actions.add_parser(
        "export", help="write an agent's final replay buffer as a Minari dataset",
        description="Write a run's final replay buffer as a Minari dataset in the local Minari root "
                    "($MINARI_DATASETS_PATH, else ~/.minari/datasets). Train offline agents on it with "
                    "`offon-jit run --agents passive --dataset ID_OR_PATH`.")
    export.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (holds config.json)")
    export.add_argument("--agent", default="active",
                        help="whose final buffer: active (the only agent whose buffer a run saves; default)")
    export.add_argument("--seed", type=int, default=None, help="which seed of the run (default: its first seed)")
    export.add_argument("--expl-weight", type=float, default=None,
                        help="which exploration weight, when the run swept several (expl_weights)")
    export.add_argument("--id", dest="dataset_id", required=True, metavar="NAME",
                        help="Minari dataset id, [namespace/]name-vN, e.g. point_reach/active-seed0-v0")
    export.add_argument("--force", action="store_true", help="replace an existing dataset of that id")
    export.set_defaults(handler=export_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _load_config(run_dir: pathlib.Path):
    from offon_jit.config import ConfigError, RunConfig
    from offon_jit.layout import RunLayout

    if not run_dir.is_dir():
        raise _InputError(f"run directory {run_dir} does not exist")
    path = RunLayout(run_dir).config
    if not path.is_file():
        raise _InputError(f"{run_dir} is not a run directory (no {path.name})")
    try:
        return RunConfig.from_json(path.read_text())
    except (ConfigError, ValueError, TypeError, KeyError) as error:  # ValueError covers JSONDecodeError
        raise _InputError(f"{path} is not a readable run config: {error}") from None


def _run_tag(config, seed: int | None, expl_weight: float | None) -> tuple[str, int, float]:
    from offon_jit.engine.runs import base_tag

    seeds = range(config.seed, config.seed + config.num_seeds)
    seed = config.seed if seed is None else seed
    if seed not in seeds:
        raise _InputError(f"--seed {seed} is not in this run (its seeds are {seeds.start}..{seeds.stop - 1})")
    weights = config.expl_weights
    if expl_weight is None:
        if len(weights) > 1:
            raise _InputError(f"this run swept exploration weights {list(weights)}: choose one with --expl-weight")
        expl_weight = weights[0]
    elif expl_weight not in weights:
        raise _InputError(f"--expl-weight {expl_weight:g} is not in this run (its weights are {list(weights)})")
    return base_tag(config, seed, expl_weight), seed, expl_weight


def _task_spec(config):
    spec = config.task_spec()
    return spec.replace(episode_length=config.episode_length) if config.episode_length else spec


def _export(args: argparse.Namespace) -> str:
    from offon_jit.datasets import minari_io
    from offon_jit.engine.transitions import replay_schema
    from offon_jit.engine.variants import VARIANTS
    from offon_jit.layout import RunLayout
    from offon_jit.replay import storage

    if args.agent not in EXPORTABLE_AGENTS:
        known = "" if args.agent in VARIANTS else f" (and {args.agent!r} is not an agent)"
        raise _InputError(f"--agent {args.agent}: only the active agent's final replay buffer is saved "
                          f"(buffers/active_TAG.npz); offline agents train on it and keep none{known}")
    minari_io.check_dataset_id(args.dataset_id)
    run_dir = pathlib.Path(args.run_dir)
    config = _load_config(run_dir)
    tag, seed, expl_weight = _run_tag(config, args.seed, args.expl_weight)
    if "active" not in config.agents and config.dataset:
        raise _InputError(f"{run_dir} trained on the Minari dataset {config.dataset}; it has no Active buffer of its own")
    source = run_dir if "active" in config.agents else pathlib.Path(config.active_run)
    path = RunLayout(source).active_buffer(tag)
    if not path.is_file():
        raise _InputError(f"no Active buffer for {tag}: expected {path} (the Active phase saves it when it finishes)")
    target = minari_io.dataset_dir(args.dataset_id)
    if target.exists() and not args.force:
        raise _InputError(f"Minari dataset {args.dataset_id} already exists at {target} (pass --force to replace it)")
    spec = _task_spec(config)
    buffer = storage.load_buffer(path, expected_schema=replay_schema(spec))
    source_info = {"agent": args.agent, "seed": seed, "expl_weight": expl_weight, "run_dir": str(run_dir.resolve()),
                   "buffer_file": str(path.resolve()), "run_config": json.loads(config.to_json())}
    dataset = minari_io.export_buffer(buffer, spec, config.task, args.dataset_id, description_extra=source_info,
                                      overwrite=args.force)
    return (f"wrote Minari dataset {args.dataset_id}: {dataset.total_episodes} episodes, {dataset.total_steps} steps "
            f"of {config.task} ({tag}) -> {dataset.spec.data_path}")


def export_command(args: argparse.Namespace) -> int:
    try:
        print(_export(args))
    except (_InputError, ValueError, FileExistsError) as error:  # ValueError: DatasetError, ReplayFileError
        print(f"offon-jit dataset export: {error}", file=sys.stderr)
        return 2
    return 0
