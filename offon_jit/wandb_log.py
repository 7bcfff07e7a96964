"""Optional Weights & Biases logging: one W&B run per curve label and seed, grouped by study.

Used only when asked (MetricsWriter(wandb={...})); `wandb` is imported here, lazily, and is
never a dependency of offon_jit. Each (label, seed) is its own W&B run, named `<label>/seed<N>`
and grouped under the study (the run directory's name unless `group` is given), with the same
hyperparameters as TensorBoard's as its config, and `step=env_steps` for every row, so W&B's
charts overlay the agents and seeds like TensorBoard's run selector does.

W&B is a mirror: if it fails (no login, no network), a one-line warning says so and the study
goes on without it. metrics.jsonl stays the source of truth: a resumed study re-creates its W&B
runs from it (all rows so far, then the new ones). The interrupted process's W&B runs stay
behind in the group, marked crashed by W&B; the new ones hold every row exactly once.
"""

from __future__ import annotations

import re
import sys

SETTINGS = ("project", "entity", "mode", "group", "tags", "notes", "dir")
MODES = ("online", "offline", "disabled")
MIN_VERSION = (0, 19, 10)  # wandb.init(reinit="create_new"): several live runs in one process
DEFAULT_PROJECT = "offon-jit"


def check_settings(settings: dict) -> dict:
    """The settings, checked: unknown keys or a bad mode raise a one-line ValueError."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"W&B settings: unknown {', '.join(unknown)} (known: {', '.join(SETTINGS)})")
    if settings.get("mode") not in (None, *MODES):
        raise ValueError(f"W&B settings: mode {settings['mode']!r} is not one of {', '.join(MODES)}")
    return dict(settings)


def import_wandb():
    """wandb, or a one-line ValueError saying how to install it."""
    try:
        import wandb
    except ImportError:
        raise ValueError("W&B logging was asked for, but wandb is not installed: pip install wandb") from None
    version = _version_tuple(getattr(wandb, "__version__", "0"))
    if version < MIN_VERSION:
        raise ValueError(f"W&B logging needs wandb >= {'.'.join(map(str, MIN_VERSION))} (installed: "
                         f"{wandb.__version__}): pip install -U wandb")
    return wandb


class WandbLog:
    def __init__(self, settings: dict, default_group: str):
        self._settings = check_settings(settings)
        self._wandb = import_wandb()
        self._settings.setdefault("project", DEFAULT_PROJECT)
        self._settings.setdefault("group", default_group)
        self._runs: dict[tuple[str, int], object] = {}
        self._failed = False

    def add(self, label: str, seed: int, step: int, scalars: dict[str, float], hparams: dict) -> None:
        if self._failed:
            return
        try:
            run = self._runs.get((label, seed))
            if run is None:
                run = self._wandb.init(**self._settings, name=f"{label}/seed{seed}", config=dict(hparams),
                                       reinit="create_new")
                self._runs[(label, seed)] = run
            run.log(dict(scalars), step=step)
        except Exception as err:  # a W&B outage must not end a study whose metrics are safe on disk
            self._failed = True
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"warning: W&B logging stopped ({message}); the run and its metrics files go on without it",
                  file=sys.stderr)

    def flush(self) -> None:
        """W&B sends in the background; metrics.jsonl, not W&B, is what a resume trusts."""

    def close(self) -> None:
        for (label, seed), run in self._runs.items():
            try:
                run.finish()
            except Exception as err:  # as in add: W&B never takes the study down
                print(f"warning: W&B run {label}/seed{seed} did not finish cleanly ({type(err).__name__})",
                      file=sys.stderr)
        self._runs.clear()


def _version_tuple(version: str) -> tuple[int, ...]:
    """(major, minor, patch) of a version string such as 0.21.0 or 0.21.0rc1."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])
