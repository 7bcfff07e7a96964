"""Dependencies point one way: experiments/benchmarks -> offon_jit -> envs (README, "Design in brief")."""

import json
import pathlib
import re
import subprocess
import sys

import offon_jit

ROOT = pathlib.Path(__file__).resolve().parents[1]
UPPER_LAYERS = ("experiments", "benchmarks")

# Imports every module of the offon_jit package, then reports the upper-layer modules loaded.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import offon_jit
names = [m.name for m in pkgutil.walk_packages(offon_jit.__path__, "offon_jit.")]
for name in names:
    importlib.import_module(name)
upper = sorted(m for m in sys.modules if m.split(".")[0] in {upper})
print(json.dumps({{"modules": names, "upper": upper}}))
"""


def test_importing_every_offon_jit_module_loads_no_upper_layer():
    script = IMPORT_ALL.format(upper=repr(set(UPPER_LAYERS)))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "offon_jit.cli" in report["modules"] and "offon_jit.engine.study" in report["modules"]
    assert report["upper"] == [], f"offon_jit imports the layer above it: {report['upper']}"


UPPER_IMPORT = re.compile(rf"^[ \t]*(import|from)[ \t]+({'|'.join(UPPER_LAYERS)})\b", re.MULTILINE)


def test_no_offon_jit_source_imports_an_upper_layer():
    package = pathlib.Path(offon_jit.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 20
    offenders = [f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}: {match.group(0).strip()}"
                 for path in sources for text in [path.read_text()] for match in UPPER_IMPORT.finditer(text)]
    assert offenders == []


def test_upper_import_pattern_catches_both_forms():
    assert UPPER_IMPORT.search("    from experiments.catalog import EXPERIMENTS\n")
    assert UPPER_IMPORT.search("import benchmarks.harness\n")
    assert not UPPER_IMPORT.search("from offon_jit.experimental import x\n")
