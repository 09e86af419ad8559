"""Trained models kept in memory between requests, reloaded when a checkpoint changes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from cnnlab.runs import LoadedRun, load_run
from cnnlab.runs.layout import RunLayout


def _stamp(run_dir: Path) -> tuple[int, ...]:
    """Modification times of the checkpoints: a new value means new weights."""
    layout = RunLayout(run_dir)
    files = (layout.best, layout.last)
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in files)


class ModelCache:
    """The last ``size`` runs loaded with :func:`cnnlab.runs.load_run` (best checkpoint), each
    with a lock for whoever hooks into its model."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._items: OrderedDict[Path, tuple[tuple, LoadedRun, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_dir: Path) -> tuple[LoadedRun, threading.Lock]:
        """The loaded run of ``run_dir`` and its model's lock."""
        stamp = _stamp(run_dir)
        with self._lock:
            item = self._items.get(run_dir)
            if item is None or item[0] != stamp:
                item = (stamp, load_run(run_dir, "best"), threading.Lock())
                self._items[run_dir] = item
            self._items.move_to_end(run_dir)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return item[1], item[2]
