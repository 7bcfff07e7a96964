"""Package and documentation invariants: one version, docs that work in a fresh clone, the README's
first commands."""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import re
import tomllib

import offon_jit

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Ignored outputs and environments, not part of a clone (.gitignore).
SKIPPED_DIRS = {"runs", "outputs", "build", "dist", "profiles", "device", "__pycache__"}
SETUP_COMMANDS = (
    "```bash\n"
    "bash scripts/setup.sh && .venv/bin/offon-jit run --out-dir runs/main\n"
    'bash scripts/setup.sh && .venv/bin/python -m pytest -q -m "not slow" -n 2 --dist loadfile\n'
    "```\n"
)

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.MULTILINE)
PARENT_PATH_SPAN = re.compile(r"`(\.\./[^`\s]*)`")  # a path written as code, e.g. `../shared/DESIGN.md`
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Every markdown file a clone holds: hidden folders, virtual environments and outputs left out."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders
                         if not (d.startswith(".") or d in SKIPPED_DIRS or d.endswith(".egg-info"))]
        found += [pathlib.Path(folder) / n for n in names if n.endswith(".md")]
    return sorted(found)


def path_references(text: str) -> list[str]:
    """Local targets of a markdown text's links and `../` code spans (web links, anchors and
    fenced code blocks left out), without their #fragment or ?query."""
    prose = FENCE.sub("", text)
    found = INLINE_LINK.findall(prose) + REFERENCE_DEFINITION.findall(prose) + PARENT_PATH_SPAN.findall(prose)
    targets = (re.split(r"[#?]", t, maxsplit=1)[0] for t in found if not SCHEME.match(t) and not t.startswith("#"))
    return [t for t in targets if t]


def broken_references(md: pathlib.Path, root: pathlib.Path) -> list[str]:
    """The references of one file that leave the repository or name nothing in it."""
    broken = []
    for target in path_references(md.read_text(encoding="utf-8")):
        base = root if target.startswith("/") else md.parent
        resolved = (base / target.lstrip("/")).resolve()
        if not resolved.is_relative_to(root):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{target} (does not exist)")
    return broken


def test_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "offon_jit.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", offon_jit.__version__)
    # The installed metadata is built from the same attribute (setup.sh reinstalls the package).
    assert importlib.metadata.version("offon-jit") == offon_jit.__version__


def test_reference_finder_catches_paths_outside_a_clone(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("x")
    md = tmp_path / "docs" / "guide.md"
    md.write_text(
        "Design: `../../shared/DESIGN.md`, [paper](../../paper/x.pdf), [a](a.md#part), [web](https://x.org/y),\n"
        "[missing](gone.md), [top](/docs/a.md), [here](#section), ![img](<../docs/a.md>)\n"
        "[ref]: ../../outside.md\n"
        "```bash\ncd ../elsewhere && ls [z](../../fenced.md)\n```\n"
    )
    assert path_references(md.read_text()) == [
        "../../paper/x.pdf", "a.md", "gone.md", "/docs/a.md", "../docs/a.md", "../../outside.md", "../../shared/DESIGN.md"]
    assert broken_references(md, tmp_path.resolve()) == [
        "../../paper/x.pdf (outside the repository)", "gone.md (does not exist)",
        "../../outside.md (outside the repository)", "../../shared/DESIGN.md (outside the repository)"]


def test_markdown_references_stay_inside_the_repository():
    files = markdown_files(ROOT)
    assert ROOT / "README.md" in files and ROOT / "CHANGELOG.md" in files
    broken = {str(md.relative_to(ROOT)): refs for md in files if (refs := broken_references(md, ROOT))}
    assert not broken, f"markdown references that do not work in a clone: {broken}"


def test_readme_starts_with_the_two_setup_commands():
    assert (ROOT / "README.md").read_text(encoding="utf-8").startswith(SETUP_COMMANDS)
    # CI runs the second one verbatim.
    assert SETUP_COMMANDS.splitlines()[2] in (ROOT / ".ci" / "run").read_text().splitlines()
