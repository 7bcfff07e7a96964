"""`offon-jit` command line of the library. One small function per subcommand:

    offon-jit run [--task ... --agents active,passive,tandem ...]   (no arguments: the main job)
    offon-jit plot RUN_DIR
    offon-jit eval RUN_DIR --agent NAME [--seed N] [--episodes K] [--video FILE.mp4|.gif]
    offon-jit dataset export RUN_DIR --agent active --seed N --id NAME
    offon-jit model-summary --preset s --task dmc/cheetah_run-vision

The installed `offon-jit` script is `experiments.cli:main`, the layer above, which adds
`offon-jit experiment NAME|all|list` through `build_parser(extra_commands=...)`; this
module never imports `experiments` (`python -m offon_jit.cli` has no experiment command).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

from offon_jit.dataset_command import add_dataset_parser
from offon_jit.eval_command import add_eval_parser
from offon_jit.run_command import add_plot_parser, add_run_parser


class OneLineErrorParser(argparse.ArgumentParser):
    """A usage error is one line ("offon-jit run: error: ...") and exit code 2, not the whole usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the options)\n")


def build_parser(extra_commands: Iterable[Callable] = ()) -> argparse.ArgumentParser:
    """The library's subcommands, then each `extra_commands(subcommands)` of a layer above.

    A command adder takes argparse's subparsers object, adds its parser and sets
    `handler=` (a function `args -> exit code`) as its default, as the adders here do.
    """
    parser = OneLineErrorParser(prog="offon-jit", description="Active, Passive and Tandem DreamerV3 in JAX.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_parser(subcommands)
    add_plot_parser(subcommands)
    add_dataset_parser(subcommands)
    add_eval_parser(subcommands)
    add_model_summary_command(subcommands)
    for add_command in extra_commands:
        add_command(subcommands)
    return parser


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
    from offon_jit.dreamer.world_model import is_image_shape

    try:
        spec = envs.get_task(args.task).spec
    except KeyError as error:
        print(f"offon-jit model-summary: {error.args[0]}", file=sys.stderr)
        return 2
    config = DreamerConfig.from_preset(args.preset)
    counts = parameter_counts(spec, config)
    obs = "x".join(map(str, spec.obs_shape))
    if not is_image_shape(spec.obs_shape):
        obs += f", vector encoder/decoder {config.vector_layers}x{config.vector_units}"
    act = f"{spec.action.num_actions} discrete" if spec.action.is_discrete else f"{spec.action.dim}-d continuous"
    print(format_parameter_table(counts, f"DreamerV3 size {args.preset!r} on {spec.name} (obs {obs}, actions {act})"))
    return 0


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv` with `parser` and run the chosen subcommand's handler (help and 2 if none)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2, already reported)
        return done.code
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return args.handler(args)


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
