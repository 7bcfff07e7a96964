"""`python -m envs list [--json]`: the task table with specs and backends (registered tasks included)."""

from __future__ import annotations

import argparse
import json
import sys

from envs.registry import DMC_VISION_RENDERERS, get_task, paper_task_names, task_names


def _action_text(action: dict) -> str:
    if action["kind"] == "discrete":
        return f"discrete({action['num_actions']})"
    return f"box{tuple(action['shape'])}[{action['low']:g},{action['high']:g}]"


def renderers(entry) -> dict[str, str]:
    """Backend -> what draws its image observations (tasks whose observations are drawn)."""
    if entry.suite != "dmc" or entry.obs_kind != "vision":
        return {}
    return {backend: DMC_VISION_RENDERERS[backend] for backend in entry.backends if backend in DMC_VISION_RENDERERS}


def list_tasks(as_json: bool) -> str:
    rows = []
    for name in task_names():
        entry = get_task(name)
        rows.append({"task": name, **entry.spec.describe(), "backends": list(entry.backends), "renderers": renderers(entry)})
    if as_json:
        return json.dumps(rows, indent=2)
    header = f"{'task':34} {'obs':18} {'action':20} {'ep.len':>6} {'repeat':>6}  backends"
    lines = [header, "-" * len(header)]
    for r in rows:
        obs = f"{tuple(r['obs_shape'])} {r['obs_dtype']}"
        lines.append(
            f"{r['task']:34} {obs:18} {_action_text(r['action']):20} {r['episode_length']:>6} {r['action_repeat']:>6}  "
            + ",".join(r["backends"])
        )
    drawn = sorted({f"{backend}: {text}" for r in rows for backend, text in r["renderers"].items()})
    if drawn:
        lines.append("DMC vision frames are drawn by " + "; ".join(drawn) + ". `auto` picks jax.")
    paper, registered = len(paper_task_names()), sum(get_task(r["task"]).registered for r in rows)
    own = f", {registered} registered with envs.register" if registered else ""
    lines.append(f"{len(rows)} tasks ({paper} from the paper, debug/ ones for smoke runs{own}). "
                 "Episode length counts agent steps (after action repeat).")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lister = sub.add_parser("list", help="print the registered tasks")
    lister.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(list_tasks(args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
