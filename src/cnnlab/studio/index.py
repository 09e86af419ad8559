"""The runs folder walked once and walked again only when it changed, so a request costs a
dictionary look-up instead of a walk of every run.

The change signal is the modification time of every folder the last walk entered: the runs
folder, the folders holding runs and the runs themselves, each read just before the folder was
listed. Creating, removing or renaming an entry changes its parent's time, so a new, removed or
changed run shows within :data:`INTERVAL` seconds; between two checks requests reuse the index.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cnnlab.studio.catalog import RunEntry, check_run_id, is_run
from cnnlab.studio.errors import StudioError

MAX_DEPTH = 6
INTERVAL = 1.0


def _mtime(folder: Path) -> int | None:
    try:
        return os.stat(folder, follow_symlinks=False).st_mtime_ns
    except OSError:
        return None


def run_id(root: Path, folder: Path) -> str:
    """``folder`` relative to ``root``, ``/``-separated; bytes of a name that are not UTF-8
    become U+FFFD, so the id can travel in JSON and URLs."""
    relative = folder.relative_to(root).as_posix()
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def walk(root: Path) -> tuple[dict[str, RunEntry], dict[Path, int]]:
    """The runs under ``root`` by id, and the modification time of every folder entered.

    Follows no symbolic link, skips hidden folders, stops at :data:`MAX_DEPTH`; a run holds no
    further runs.
    """
    runs: dict[str, RunEntry] = {}
    stamps: dict[Path, int] = {}
    pending = [(root, 0)]
    while pending:
        folder, depth = pending.pop()
        stamp = _mtime(folder)  # before the listing: a later change shows as a new time
        if stamp is None:
            continue
        stamps[folder] = stamp
        if depth > 0 and is_run(folder):
            name = run_id(root, folder)
            runs[name] = RunEntry(name, folder)
            continue
        if depth >= MAX_DEPTH:
            continue
        try:
            with os.scandir(folder) as listing:
                children = [
                    Path(item.path)
                    for item in listing
                    if item.is_dir(follow_symlinks=False) and not item.name.startswith(".")
                ]
        except OSError:
            continue
        pending += [(child, depth + 1) for child in children]
    return dict(sorted(runs.items())), stamps


class RunIndex:
    """The runs of one runs folder, refreshed when :func:`walk`'s folder times change."""

    def __init__(self, root: Path, interval: float = INTERVAL) -> None:
        self.root, self.interval = root, interval
        self._runs: dict[str, RunEntry] = {}
        self._stamps: dict[Path, int] = {}
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def _changed(self) -> bool:
        if not self._stamps:
            return True
        return any(_mtime(folder) != stamp for folder, stamp in self._stamps.items())

    def _refresh(self) -> dict[str, RunEntry]:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.interval:
                self._checked = now
                if self._changed():
                    self._runs, self._stamps = walk(self.root)
            return self._runs

    def entries(self) -> list[RunEntry]:
        """Every run, sorted by id."""
        return list(self._refresh().values())

    def find(self, run_id: str) -> RunEntry:
        """The run named ``run_id``; 400 for a malformed id, 404 for an unknown one."""
        check_run_id(run_id)
        entry = self._refresh().get(run_id)
        if entry is None:
            raise StudioError(f"no run {run_id[:80]!r} in the runs folder", 404)
        return entry
