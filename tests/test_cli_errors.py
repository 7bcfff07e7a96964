"""Every bad input to `offon-jit` ends in one line on stderr and exit code 2, before anything is written.

Table-driven: each case names its arguments (with {tmp} for a scratch folder prepared by `setup`),
a fragment the message must contain, and the files that must be unchanged or absent afterwards.
None of these cases trains: each is refused before the first program is compiled.
"""

import json
import pathlib

import pytest

from experiments.cli import main
from offon_jit.config import RunConfig

SMALL = ["--env-steps", "64", "--eval-interval", "32", "--prefill", "32", "--batch-size", "2", "--seq-len", "8",
         "--no-progress"]


def finished_run(tmp: pathlib.Path, name: str = "done", **changes) -> pathlib.Path:
    """A run directory as a finished run leaves it, as far as the checks read it: config.json and summary.json."""
    run = tmp / name
    run.mkdir()
    config = RunConfig(env_steps=64, eval_interval=32, prefill=32, batch_size=2, seq_len=8, out_dir=str(run), **changes)
    (run / "config.json").write_text(config.to_json())
    (run / "summary.json").write_text(json.dumps({"final": {}}))
    return run


def finished_active_run(tmp: pathlib.Path) -> pathlib.Path:
    run = finished_run(tmp, "active_done", agents=("active",))
    (run / "buffers").mkdir()
    for seed in (0, 1):
        (run / "buffers" / f"active_seed{seed}.npz").write_bytes(b"")
    return run


def a_file(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "a_file"
    path.write_text("not a directory")
    return path


def bad_yaml(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "bad.yaml"
    path.write_text("task: [unclosed\n")
    return path


def unknown_field_json(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "unknown.json"
    path.write_text(json.dumps({"task": "debug/point_reach", "envsteps": 10}))
    return path


# (id, setup(tmp) -> None, argv with {tmp}, message fragment, paths (relative to tmp) that must not exist after)
CASES = [
    ("unknown preset", None, ["run", "--preset", "huge", "--out-dir", "{tmp}/r"], "invalid choice: 'huge'", ["r"]),
    ("unknown --model field", None, ["run", "--model", "foo=1", "--out-dir", "{tmp}/r"], "unknown DreamerConfig field 'foo'", ["r"]),
    ("bad --model value", None, ["run", "--model", "units=abc", "--out-dir", "{tmp}/r"], "units must be an integer", ["r"]),
    ("unknown task", None, ["run", "--task", "minatar/pong", "--out-dir", "{tmp}/r"], "minatar/pong", ["r"]),
    ("backend the task lacks", None, ["run", "--backend", "host", "--out-dir", "{tmp}/r"], "no 'host' backend", ["r"]),
    ("frame size off MinAtar", None, ["run", "--frame-size", "10", "--out-dir", "{tmp}/r"],
     "frame_size only applies to MinAtar", ["r"]),
    ("seeds not divisible by devices", None, ["run", "--num-seeds", "3", "--devices", "2", "--out-dir", "{tmp}/r"],
     "devices=2", ["r"]),
    ("more devices than visible", None, ["run", "--devices", "5", "--out-dir", "{tmp}/r"], "devices=5", ["r"]),
    ("out dir is a file", a_file, ["run", *SMALL, "--out-dir", "{tmp}/a_file"], "is a file", []),
    ("out dir under a file", a_file, ["run", *SMALL, "--out-dir", "{tmp}/a_file/run"], "cannot be created", []),
    ("out dir not empty", finished_run, ["run", *SMALL, "--seed", "5", "--out-dir", "{tmp}/done"], "--resume", []),
    ("resume with other flags", finished_run, ["run", "--resume", "--batch-size", "4", "--out-dir", "{tmp}/done"],
     "batch_size: 2 -> 4", []),
    ("resume where no run is", None, ["run", "--resume", "--out-dir", "{tmp}/r"], "holds no run", ["r"]),
    ("missing active run", None, ["run", *SMALL, "--agents", "passive", "--active-run", "{tmp}/nowhere",
                                  "--out-dir", "{tmp}/r"], "is not a directory", ["r"]),
    ("active run with other settings", finished_active_run,
     ["run", "--env-steps", "128", "--eval-interval", "32", "--prefill", "32", "--batch-size", "2", "--seq-len", "8",
      "--agents", "passive", "--active-run", "{tmp}/active_done", "--out-dir", "{tmp}/r"], "env_steps: 64 -> 128", ["r"]),
    ("active run and dataset", None, ["run", "--agents", "passive", "--active-run", "{tmp}/a", "--dataset", "d",
                                      "--out-dir", "{tmp}/r"], "not both", ["r"]),
    ("dataset for a tandem", None, ["run", "--agents", "tandem", "--dataset", "d", "--out-dir", "{tmp}/r"],
     "batch-index log", ["r"]),
    ("missing config file", None, ["run", "--config", "{tmp}/none.yaml", "--out-dir", "{tmp}/r"], "cannot read", ["r"]),
    ("config file not YAML", bad_yaml, ["run", "--config", "{tmp}/bad.yaml", "--out-dir", "{tmp}/r"], "not valid YAML", ["r"]),
    ("config file with an unknown field", unknown_field_json, ["run", "--config", "{tmp}/unknown.json",
                                                               "--out-dir", "{tmp}/r"], "envsteps", ["r"]),
    ("plot of a missing run", None, ["plot", "{tmp}/nowhere"], "no metrics.jsonl", ["nowhere"]),
]


def snapshot(root: pathlib.Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name,setup,argv,fragment,absent", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, name, setup, argv, fragment, absent):
    if setup is not None:
        setup(tmp_path)
    before = snapshot(tmp_path)
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2, error
    assert fragment in error[-1], error[-1]
    assert "Traceback" not in "\n".join(error)
    assert snapshot(tmp_path) == before  # nothing written, rewritten or deleted
    for path in absent:
        assert not (tmp_path / path).exists()


def test_resume_of_a_finished_run_changes_nothing(tmp_path, capsys):
    run = finished_run(tmp_path)
    before = snapshot(tmp_path)
    assert main(["run", "--resume", "--out-dir", str(run), "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_every_run_flag_has_help_a_default_and_its_choices():
    """The flags are generated from RunConfig (hand-written argparse, not tyro): every field is a flag whose
    help names its default, and closed sets of values are argparse choices."""
    from experiments.cli import build_parser
    from offon_jit.run_command import field_choices

    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith(" run"))
    by_dest = {action.dest: action for action in run._actions}
    for name in RunConfig.field_names():
        action = by_dest[name]
        assert action.help and "(default: " in action.help, name
    for name, values in field_choices().items():
        assert tuple(by_dest[name].choices) == values, name


def test_wandb_without_wandb_installed_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed: `import wandb` raises ImportError
    assert main(["run", *SMALL, "--wandb", "proj", "--out-dir", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert "pip install wandb" in error[-1] and not (tmp_path / "r").exists()
