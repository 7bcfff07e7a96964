"""`offon-jit` command line. One small function per subcommand:

    offon-jit run [--task ... --agents active,passive,tandem ...]   (no arguments: the main job)
    offon-jit plot RUN_DIR
    offon-jit experiment NAME|all|list [--scale smoke|paper]   (one per paper figure / table)
    offon-jit model-summary --preset s --task dmc/cheetah_run-vision
"""

from __future__ import annotations

import argparse
import sys

from offon_jit.run_command import add_plot_parser, add_run_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="offon-jit", description="Active, Passive and Tandem DreamerV3 in JAX.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_parser(subcommands)
    add_plot_parser(subcommands)
    add_model_summary_command(subcommands)
    add_experiment_command(subcommands)
    return parser


def add_experiment_command(subcommands) -> None:
    parser = subcommands.add_parser("experiment", help="regenerate a paper figure or table (list: show them all)")
    parser.add_argument("name", help="fig2 ... fig8, figS1 ... figS9, tableS2, 'all', or 'list'")
    parser.add_argument("--scale", default="smoke", choices=("smoke", "cpu", "paper"),
                        help="smoke: minutes on a CPU; cpu: long enough to learn on a CPU (tens of minutes); "
                        "paper: the paper's protocol (default: smoke)")
    parser.add_argument("--out-root", default="runs/experiments", help="where studies and figures go")
    parser.add_argument("--devices", type=int, default=0, help="devices to shard runs over (0: all that divide them)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=experiment_command)


def experiment_command(args: argparse.Namespace) -> int:
    import json

    from experiments.catalog import EXPERIMENTS
    from experiments.runner import run_experiment

    if args.name == "list":
        for name, experiment in EXPERIMENTS.items():
            print(f"{name:8s} {experiment.title}")
        return 0
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        print(f"offon-jit experiment: unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}, "
              "all or list", file=sys.stderr)
        return 2
    for name in names:
        result = run_experiment(name, args.scale, args.out_root, progress=not args.no_progress, devices=args.devices)
        print(json.dumps({"experiment": name, **result}, indent=2))
    return 0


def add_model_summary_command(subcommands) -> None:
    from offon_jit.dreamer.config import preset_names

    parser = subcommands.add_parser("model-summary", help="parameter counts per module of a DreamerV3 agent")
    parser.add_argument("--preset", default="s", choices=preset_names(), help="model size preset (default: s)")
    parser.add_argument("--task", default="dmc/cheetah_run-vision", help="registry task name, e.g. dmc/cheetah_run-vision")
    parser.set_defaults(handler=model_summary_command)


def model_summary_command(args: argparse.Namespace) -> int:
    import envs
    from offon_jit.dreamer.config import DreamerConfig
    from offon_jit.dreamer.summary import format_parameter_table, parameter_counts

    try:
        spec = envs.get_task(args.task).spec
    except KeyError as error:
        print(f"offon-jit model-summary: {error.args[0]}", file=sys.stderr)
        return 2
    counts = parameter_counts(spec, DreamerConfig.from_preset(args.preset))
    obs = "x".join(map(str, spec.obs_shape))
    act = f"{spec.action.num_actions} discrete" if spec.action.is_discrete else f"{spec.action.dim}-d continuous"
    print(format_parameter_table(counts, f"DreamerV3 size {args.preset!r} on {spec.name} (obs {obs}, actions {act})"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
