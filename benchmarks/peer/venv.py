"""The peer's benchmark-only virtual environment: where it lives, how it is built, whether it works.

It is never a dependency of offon_jit: the benchmark creates it on demand with
`python3.11 -m venv` and installs the exact versions pinned in `requirements.txt`
with `--no-deps` (dreamerv3 1.1.0 declares gym==0.19.0, crafter and tensorflow-cpu,
needed only for other suites and TensorBoard; gym 0.19 no longer builds at all).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
RUNNER = HERE / "run_peer.py"
DEFAULT_VENV = pathlib.Path(os.environ.get("OFFON_JIT_PEER_VENV",
                                           pathlib.Path.home() / ".cache" / "offon_jit" / "peer-dreamerv3-venv"))
DEFAULT_PYTHON = "python3.11"


def venv_python(venv: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(venv) / "bin" / "python"


def check_venv(venv: pathlib.Path) -> str | None:
    """None if the venv can import the peer, else the reason it cannot."""
    python = venv_python(venv)
    if not python.exists():
        return f"no peer venv at {venv} (no {python})"
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('dreamerv3'))"],
                           capture_output=True, text=True, timeout=120, check=False)
    if probe.returncode != 0:
        return f"the venv at {venv} has no usable dreamerv3: {probe.stderr.strip()[-500:]}"
    return None


def create_venv(venv: pathlib.Path, python: str = DEFAULT_PYTHON, log=print) -> dict:
    """Create the venv and install the pinned requirements. Returns a record of what was run."""
    interpreter = shutil.which(python) or python
    venv = pathlib.Path(venv)
    commands = [
        [interpreter, "-m", "venv", str(venv)],
        [str(venv_python(venv)), "-m", "pip", "install", "--no-deps", "-r", str(REQUIREMENTS)],
    ]
    record = {"venv": str(venv), "python": interpreter, "commands": [" ".join(c) for c in commands]}
    venv.parent.mkdir(parents=True, exist_ok=True)
    for command in commands:
        log(f"peer venv: {' '.join(command)}")
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as err:  # e.g. no such interpreter
            record["error"] = f"`{' '.join(command)}` could not start: {err}"
            return record
        if done.returncode != 0:
            record["error"] = f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
            return record
    return record
