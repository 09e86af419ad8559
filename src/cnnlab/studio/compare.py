"""Runs side by side: their curves, final metrics and the settings that differ, and whether
each is still training.

A run is training while a process holds the lock on its ``RUN/.lock``
(:class:`cnnlab.runs.guard.RunLock`, a ``flock`` the kernel drops when that process ends).
Each answer is bounded before it is read: at most :data:`MAX_RUNS` runs, ``history.csv`` files
of at most :data:`MAX_HISTORY_BYTES` and :data:`MAX_COLUMNS` columns, thinned to
:data:`MAX_POINTS` epochs, and at most :data:`MAX_SETTINGS` settings per ``config.json``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import stat
from collections.abc import Iterator, Sequence

from cnnlab.errors import CnnlabError
from cnnlab.studio.catalog import RunEntry, describe, read_text
from cnnlab.studio.errors import StudioError
from cnnlab.studio.index import RunIndex
from cnnlab.train.metrics import higher_is_better

try:
    import fcntl
except ImportError:  # Windows: runs are written unlocked, so none shows as training
    fcntl = None

MAX_RUNS = 12
MAX_HISTORY_BYTES = 2 * 1024 * 1024
MAX_COLUMNS = 32
MAX_POINTS = 500
MAX_SETTINGS = 5000
MAX_VALUE_CHARS = 200
IGNORED_SETTINGS = ("created",)  # differs between any two runs and says nothing about them


def training(entry: RunEntry) -> bool:
    """Whether a process holds the run's lock, probed with a shared lock dropped at once.

    The lock file is opened read-only and never created; a link or anything but a regular
    file counts as not held.
    """
    if fcntl is None:
        return False
    try:
        descriptor = os.open(entry.layout.lock, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False  # closing the descriptor below drops the probe's lock
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)


def _stamp(entry: RunEntry) -> str | None:
    """Time and size of ``history.csv``: the page reads the history again when it changes."""
    try:
        status = entry.layout.history.stat()
    except OSError:
        return None
    return f"{status.st_mtime_ns}:{status.st_size}"


def _number(cell: str, column: str, line: int) -> float | None:
    if cell == "":
        return None
    try:
        return float(cell)
    except ValueError:
        raise CnnlabError(
            f"history.csv line {line}, column {column[:40]!r} is not a number: {cell[:20]!r}"
        ) from None


def _thinned(count: int) -> list[int]:
    """At most :data:`MAX_POINTS` row indices spread evenly over ``count`` rows, first and
    last included."""
    if count <= MAX_POINTS:
        return list(range(count))
    return sorted({round(i * (count - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})


def read_history(entry: RunEntry) -> dict:
    """``{"rows", "columns": {name: [value per epoch shown]}}`` from the run's ``history.csv``
    (no rows before the first epoch ends); empty cells are null.

    Raises:
        CnnlabError: the file is too large, has too many columns or holds a non-number.
    """
    file = entry.layout.history
    if not file.exists() and not file.is_symlink():
        return {"rows": 0, "columns": {}}
    text = read_text(file, entry.path, MAX_HISTORY_BYTES)
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise CnnlabError(f"{file.name} is not valid CSV ({error})") from None
    header, rows = (table[0], table[1:]) if table else ([], [])
    if len(header) > MAX_COLUMNS:
        raise CnnlabError(
            f"{file.name} has {len(header)} columns; the studio reads at most {MAX_COLUMNS}"
        )
    columns: dict[str, list[float | None]] = {name: [] for name in header}
    for index in _thinned(len(rows)):
        cells = rows[index]
        if len(cells) > len(header):
            raise CnnlabError(f"{file.name} line {index + 2} has more cells than its header")
        for position, name in enumerate(header):
            cell = cells[position] if position < len(cells) else ""
            columns[name].append(_number(cell, name, index + 2))
    return {"rows": len(rows), "columns": columns}


def history_json(entry: RunEntry) -> dict:
    """What the page polls while a run trains: its history, its stamp and whether it still
    trains."""
    stamp = _stamp(entry)  # before reading: a change after it shows at the next poll
    try:
        history = read_history(entry)
    except CnnlabError as error:
        raise StudioError(f"run {entry.id[:80]!r}: {error}", 422) from None
    return {"id": entry.id, "running": training(entry), "stamp": stamp, "history": history}


def flatten(value: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """``(dotted key, leaf)`` pairs of a JSON object: ``{"train": {"lr": 0.1}}`` gives
    ``("train.lr", 0.1)``; lists and empty objects are leaves."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}.")
    elif prefix:
        yield prefix[:-1], value


def _settings(entry: RunEntry, config: dict) -> dict[str, str]:
    """The run's settings as dotted keys and canonical JSON text."""
    pairs = list(itertools.islice(flatten(config), MAX_SETTINGS + 1))
    if len(pairs) > MAX_SETTINGS:
        raise StudioError(
            f"run {entry.id[:80]!r}: config.json holds over {MAX_SETTINGS:,} settings; "
            "the studio compares at most that many",
            422,
        )
    return {
        key: json.dumps(value, sort_keys=True, ensure_ascii=False)
        for key, value in pairs
        if key not in IGNORED_SETTINGS
    }


def config_diff(settings: Sequence[dict[str, str]]) -> dict:
    """The settings whose values differ between runs (an absent one is null), in first-seen
    order, and how many are the same in every run."""
    keys = list(dict.fromkeys(key for run in settings for key in run))
    differ = []
    for key in keys:
        values = [run.get(key) for run in settings]
        if len(set(values)) > 1:
            shown = [None if v is None else v[:MAX_VALUE_CHARS] for v in values]
            differ.append({"key": key, "values": shown})
    return {"differ": differ, "same": len(keys) - len(differ)}


def _best(values: list, higher: bool) -> list[int]:
    """Indices of the best values, when at least two runs have one and they are not all
    equal."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if len(finite) < 2 or len(set(finite)) == 1:
        return []
    target = max(finite) if higher else min(finite)
    return [i for i, v in enumerate(values) if v == target]


def metrics_table(summaries: Sequence[dict], results: Sequence[dict]) -> list[dict]:
    """One row per final validation metric (best values marked), then epochs and time."""
    names = list(dict.fromkeys(name for s in summaries for name in s.get("metrics", {})))
    rows = []
    for name in names:
        values = [s.get("metrics", {}).get(name) for s in summaries]
        higher = higher_is_better(name)
        rows.append(
            {
                "name": name,
                "better": "higher" if higher else "lower",
                "values": values,
                "best": _best(values, higher),
            }
        )
    times = [r.get("time_seconds") for r in results]
    times = [t if isinstance(t, int | float) and not isinstance(t, bool) else None for t in times]
    for name, values in (("epochs", [s.get("epochs") for s in summaries]), ("seconds", times)):
        rows.append({"name": name, "better": None, "values": values, "best": []})
    return rows


def compare_json(index: RunIndex, ids: Sequence[str]) -> dict:
    """The compare view of the runs named ``ids`` (repeats ignored).

    Raises:
        StudioError: 400 without ids or for a malformed one, 404 naming an unknown run, 422
            over :data:`MAX_RUNS` runs or naming a run whose files cannot be read.
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise StudioError("name the runs to compare: /api/compare?runs=ID&runs=ID")
    if len(ids) > MAX_RUNS:
        raise StudioError(
            f"the studio compares at most {MAX_RUNS} runs at once. Received: {len(ids)}", 422
        )
    entries = [index.find(run_id) for run_id in ids]
    runs, details = [], []
    for entry in entries:
        detail = describe(entry)
        if "error" in detail:
            raise StudioError(f"run {entry.id[:80]!r}: {detail['error']}", 422)
        details.append(detail)
        live = history_json(entry)
        runs.append(
            {
                **{k: detail.get(k) for k in ("id", "name", "model", "dataset", "created")},
                **{k: live[k] for k in ("running", "stamp", "history")},
            }
        )
    settings = [_settings(e, d["config"]) for e, d in zip(entries, details, strict=True)]
    return {
        "runs": runs,
        "metrics": metrics_table(details, [d["results"] for d in details]),
        "config": config_diff(settings),
    }
