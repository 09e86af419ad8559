"""The runs the studio shows: found by walking the runs folder, named by a safe id.

A run id is the run's folder relative to the runs folder, ``/``-separated
(``demo/lenet5-digits-20250101-120000``). Ids are never joined onto the file system: they are
looked up among the folders the walk found. The walk follows no symbolic link, stops at
``MAX_DEPTH`` and keeps a folder only when its ``config.json`` and ``checkpoints`` resolve
inside it, so nothing outside the runs folder can be named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.files import read_json
from cnnlab.runs.layout import RunLayout
from cnnlab.studio.errors import StudioError

MAX_DEPTH = 6
MAX_ID_LENGTH = 1024


@dataclass(frozen=True)
class RunEntry:
    """One run folder: its id and its resolved path."""

    id: str
    path: Path

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.path)


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, with symbolic links followed, is ``folder`` or lies below it."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def is_run(folder: Path) -> bool:
    """A run folder holds ``config.json`` and ``checkpoints/``, both really inside it."""
    layout = RunLayout(folder)
    config, checkpoints = layout.config, layout.checkpoints
    return (
        config.is_file()
        and checkpoints.is_dir()
        and inside(config, folder)
        and inside(checkpoints, folder)
    )


def find_runs(root: Path) -> list[RunEntry]:
    """Every run folder under ``root`` (none when ``root`` is missing), sorted by id."""
    root = root.resolve()
    if not root.is_dir():
        return []
    found = []
    for current, dirs, _files in os.walk(root, followlinks=False):
        here = Path(current)
        relative = here.relative_to(root)
        if here != root and is_run(here):
            found.append(RunEntry(relative.as_posix(), here))
            dirs.clear()  # a run holds no further runs
            continue
        keep = len(relative.parts) < MAX_DEPTH
        dirs[:] = sorted(d for d in dirs if keep and not d.startswith("."))
    return sorted(found, key=lambda entry: entry.id)


def check_run_id(run_id: str) -> None:
    """Refuse ids that try to leave the runs folder: ``..``, absolute paths, backslashes."""
    parts = run_id.split("/")
    if (
        not run_id
        or len(run_id) > MAX_ID_LENGTH
        or "\\" in run_id
        or "\x00" in run_id
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise StudioError(
            f"a run id is a folder path relative to the runs folder. Received: {run_id[:80]!r}"
        )


def find_run(root: Path, run_id: str) -> RunEntry:
    """The run named ``run_id``; 400 for a malformed id, 404 for an unknown one."""
    check_run_id(run_id)
    for entry in find_runs(root):
        if entry.id == run_id:
            return entry
    raise StudioError(f"no run {run_id[:80]!r} in the runs folder", 404)


def _section(data: dict, key: str) -> dict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _numbers(values: dict) -> dict[str, float]:
    return {k: v for k, v in values.items() if isinstance(v, int | float) and k != "epoch"}


def _read(file: Path, folder: Path) -> dict:
    """A JSON object from a file of the run (``{}`` when absent or pointing outside)."""
    if not file.is_file() or not inside(file, folder):
        return {}
    data = read_json(file)
    if not isinstance(data, dict):
        raise CnnlabError(f"{file.name} does not hold a JSON object")
    return data


def summarize(entry: RunEntry) -> dict:
    """What the runs list shows: model, dataset, task, date and best metrics."""
    summary: dict = {"id": entry.id, "name": entry.path.name}
    try:
        config = _read(entry.layout.config, entry.path)
        metrics = _read(entry.layout.metrics, entry.path)
    except CnnlabError as error:  # a broken run stays listed, with the reason
        return {**summary, "error": str(error)}
    run, spec = _section(config, "run"), _section(config, "input_spec")
    summary.update(
        model=run.get("model"),
        dataset=run.get("dataset"),
        task=config.get("task"),
        created=config.get("created"),
        epochs=metrics.get("epochs_run"),
        best_epoch=metrics.get("best_epoch"),
        monitor=metrics.get("monitor"),
        metrics=_numbers(_section(metrics, "validation")) or _numbers(_section(metrics, "best")),
        predictable=config.get("task") == "classification"
        and spec.get("kind") == "image"
        and isinstance(run.get("model"), str),  # a model from a script cannot be rebuilt
        has_report=entry.layout.report_html.is_file(),
    )
    return summary


def describe(entry: RunEntry) -> dict:
    """The run page's data: the summary, ``config.json`` and ``metrics.json``."""
    summary = summarize(entry)
    if "error" in summary:
        return summary
    return {
        **summary,
        "config": _read(entry.layout.config, entry.path),
        "results": _read(entry.layout.metrics, entry.path),
    }
