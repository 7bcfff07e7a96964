"""The installed `offon-jit` command: the library's subcommands plus `experiment`.

    offon-jit experiment NAME|all|list [--scale smoke|cpu|paper]   (one per paper figure / table)

This is the top layer (experiments -> offon_jit -> envs): it builds the library's parser
(`offon_jit.cli.build_parser`) and registers the experiment subcommand on it, so the
library never imports `experiments`.
"""

from __future__ import annotations

import argparse
import json
import sys

from experiments.spec import SCALES
from offon_jit import cli as library_cli
from offon_jit import compile_cache


def add_experiment_command(subcommands) -> None:
    parser = subcommands.add_parser("experiment", help="regenerate a paper figure or table (list: show them all)")
    parser.add_argument("name", help="fig2 ... fig8, figS1 ... figS17, tableS2, 'all', or 'list'")
    parser.add_argument("--scale", default="smoke", choices=SCALES,
                        help="smoke: minutes on a CPU; cpu: long enough to learn on a CPU (tens of minutes); "
                        "evidence: a task where online/offline differences can appear, 3 seeds (42 minutes "
                        "for the `evidence` experiment on a 2-core CPU); evidence_long: 4x its env steps (the `evidence_ab` "
                        "experiment); paper: the paper's protocol (default: smoke)")
    parser.add_argument("--out-root", default="runs/experiments", help="where studies and figures go")
    parser.add_argument("--devices", type=int, default=0, help="devices to shard runs over (0: all that divide them)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    compile_cache.add_arguments(parser)
    parser.set_defaults(handler=experiment_command)


def experiment_command(args: argparse.Namespace) -> int:
    from experiments.catalog import EXPERIMENTS
    from experiments.runner import run_experiment
    from experiments.spec import random_scores_path
    from offon_jit.analysis.random_scores import read_cache

    if args.name == "list":  # titles name every stand-in task at this scale (none at paper scale)
        for name, experiment in EXPERIMENTS.items():
            print(f"{name:8s} {experiment.title_for(args.scale)}")
            print(f"{'':8s}   tasks at {args.scale} scale: {', '.join(experiment.tasks_for(args.scale))}")
        return 0
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        print(f"offon-jit experiment: unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}, "
              "all or list", file=sys.stderr)
        return 2
    # A corrupt random-score cache would only surface after training: check it before any run.
    cache = random_scores_path(args.out_root)
    try:
        read_cache(cache)
    except ValueError as error:
        print(f"offon-jit experiment: {error}", file=sys.stderr)
        return 2
    compile_cache.enable_from_args(args)
    for name in names:
        result = run_experiment(name, args.scale, args.out_root, progress=not args.no_progress, devices=args.devices)
        print(json.dumps({"experiment": name, **result}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    return library_cli.build_parser(extra_commands=(add_experiment_command,))


def main(argv: list[str] | None = None) -> int:
    return library_cli.dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
