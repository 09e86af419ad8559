"""The package's shape, as docs/architecture.md states it: the training loop never imports
the run directory's code, run-directory file names live in one module, atomic writes in
one function, and no source file grows past 400 lines."""

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cnnlab"
SOURCES = sorted(SRC.rglob("*.py"))
RUN_FILES = (
    "config.json",
    "history.csv",
    "metrics.json",
    "results.json",
    "report.md",
    "report.html",
    "last.safetensors",
    "best.safetensors",
)


def imported_modules(path: Path) -> list[str]:
    """Every module an ``import`` or ``from ... import`` of ``path`` names, at any depth."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def code_strings(path: Path) -> list[str]:
    """String constants of ``path`` that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_sources_are_found():
    assert len(SOURCES) > 100 and (SRC / "train" / "trainer.py") in SOURCES


@pytest.mark.parametrize("path", sorted((SRC / "train").glob("*.py")), ids=lambda p: p.name)
def test_the_training_loop_does_not_import_runs(path):
    runs = [m for m in imported_modules(path) if m == "cnnlab.runs" or m.startswith("cnnlab.runs.")]
    assert not runs, f"{path.name} imports {runs}: the loop must not know run directories"


def test_run_directory_file_names_are_spelled_once():
    """A string that is a run file's name or a path ending in one (messages and help text,
    which have spaces, may mention a file)."""
    names = "|".join(re.escape(name) for name in RUN_FILES)
    pattern = re.compile(rf"^[^\s]*\b({names})$")
    spelled = {
        path.relative_to(SRC).as_posix()
        for path in SOURCES
        if any(pattern.match(text) for text in code_strings(path))
    }
    assert spelled == {"runs/layout.py"}


def test_atomic_writes_have_one_implementation():
    callers = {
        path.relative_to(SRC).as_posix()
        for path in SOURCES
        if re.search(r"\bos\.(replace|rename)\(", path.read_text(encoding="utf-8"))
    }
    assert callers == {"files.py"}


def test_no_source_file_is_over_400_lines():
    long = {
        path.relative_to(SRC).as_posix(): n
        for path in SOURCES
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long
