"""The runs the studio shows: what makes a folder a run, its safe id, and what the list and
the run page say about it.

A run id is the run's folder relative to the runs folder, ``/``-separated
(``demo/lenet5-digits-20250101-120000``). Ids are never joined onto the file system: they are
looked up among the folders the walk found (:mod:`cnnlab.studio.index`). A folder is a run
only when its ``config.json`` and ``checkpoints`` resolve inside it, and a run's files are read
only when they are regular files inside it, so nothing outside the runs folder is named, and
a FIFO or a huge file cannot hold a request.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.runs.layout import RunLayout
from cnnlab.studio.errors import StudioError
from cnnlab.studio.schema import config_problem

MAX_ID_LENGTH = 1024
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64


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


def regular_file(file: Path, folder: Path, limit: int) -> os.stat_result:
    """The status of ``file``, a regular file inside ``folder`` of at most ``limit`` bytes.

    Raises:
        StudioError: 422 naming what ``file`` is instead.
    """
    if not inside(file, folder):
        raise StudioError(f"{file.name} leads outside the run folder", 422)
    try:
        status = file.stat()
    except OSError as error:
        raise StudioError(f"cannot read {file.name}: {error.strerror}", 422) from None
    if not stat.S_ISREG(status.st_mode):
        raise StudioError(f"{file.name} is not a regular file", 422)
    if status.st_size > limit:
        raise StudioError(
            f"{file.name} is {status.st_size:,} bytes; the studio reads at most {limit:,}", 422
        )
    return status


def _deeper_than(data: object, limit: int) -> bool:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict | list):
            items = value.values() if isinstance(value, dict) else value
            stack += [(item, depth + 1) for item in items if isinstance(item, dict | list)]
    return False


def read_text(file: Path, folder: Path, limit: int) -> str:
    """The UTF-8 text of ``file``, a regular file inside ``folder`` of at most ``limit`` bytes;
    anything else raises one line naming what is wrong with it."""
    regular_file(file, folder, limit)
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO swapped in: no wait
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise StudioError(f"{file.name} is not a regular file", 422)
            payload = handle.read(limit + 1)
        return payload.decode("utf-8")
    except OSError as error:
        raise CnnlabError(f"cannot read {file.name}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise CnnlabError(f"{file.name} is not UTF-8 text ({error.reason})") from None


def read_object(file: Path, folder: Path) -> dict:
    """The JSON object in a file of the run (``{}`` when absent); a damaged file raises one
    line naming what is wrong with it."""
    if not file.exists() and not file.is_symlink():
        return {}
    text = read_text(file, folder, MAX_JSON_BYTES)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CnnlabError(f"{file.name} is not valid JSON ({str(error)[:80]})") from None
    if not isinstance(data, dict):
        raise CnnlabError(f"{file.name} must hold a JSON object. Received: {type(data).__name__}")
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise CnnlabError(f"{file.name} nests deeper than {MAX_JSON_DEPTH} levels")
    return data


def _text(section: dict, key: str) -> str | None:
    value = section.get(key)
    return value if isinstance(value, str) else None


def _whole(section: dict, key: str) -> int | None:
    value = section.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _section(data: dict, key: str) -> dict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _numbers(values: dict) -> dict[str, float]:
    return {
        k: v
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "epoch"
    }


def summarize(entry: RunEntry) -> dict:
    """What the runs list shows: model, dataset, task, date and best metrics; a run whose
    files cannot be read stays listed, with the reason as ``error``."""
    summary: dict = {"id": entry.id, "name": entry.path.name}
    try:
        config = read_object(entry.layout.config, entry.path)
        metrics = read_object(entry.layout.metrics, entry.path)
    except CnnlabError as error:
        return {**summary, "error": str(error)}
    run, spec = _section(config, "run"), _section(config, "input_spec")
    summary.update(
        model=_text(run, "model"),
        dataset=_text(run, "dataset"),
        task=_text(config, "task"),
        created=_text(config, "created"),
        epochs=_whole(metrics, "epochs_run"),
        best_epoch=_whole(metrics, "best_epoch"),
        monitor=_text(metrics, "monitor"),
        metrics=_numbers(_section(metrics, "validation")) or _numbers(_section(metrics, "best")),
        predictable=config.get("task") == "classification"
        and spec.get("kind") == "image"
        and config_problem(config) is None,  # e.g. a model from a script cannot be rebuilt
        has_report=entry.layout.report_html.is_file()
        and inside(entry.layout.report_html, entry.path),
    )
    return summary


def _files_stamp(entry: RunEntry) -> tuple:
    """Inode, size and time of the files a summary reads: equal stamps, equal summaries."""
    stamps = []
    for file in (entry.layout.config, entry.layout.metrics, entry.layout.report_html):
        try:
            status = file.stat()
            stamps.append((status.st_ino, status.st_size, status.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


class Summaries:
    """Each run's summary, kept while its files are unchanged: listing a thousand runs then
    costs a few ``stat`` calls per run instead of reading two JSON files each."""

    def __init__(self) -> None:
        self._kept: dict[Path, tuple[tuple, dict]] = {}

    def of(self, entries: Iterable[RunEntry]) -> list[dict]:
        """The summaries of ``entries``; those of runs no longer listed are dropped."""
        kept, summaries = {}, []
        for entry in entries:
            stamp, known = _files_stamp(entry), self._kept.get(entry.path)
            summary = known[1] if known is not None and known[0] == stamp else summarize(entry)
            kept[entry.path] = (stamp, summary)
            summaries.append(summary)
        self._kept = kept
        return summaries


def describe(entry: RunEntry) -> dict:
    """The run page's data: the summary, ``config.json`` and ``metrics.json``."""
    summary = summarize(entry)
    if "error" in summary:
        return summary
    return {
        **summary,
        "config": read_object(entry.layout.config, entry.path),
        "results": read_object(entry.layout.metrics, entry.path),
    }
