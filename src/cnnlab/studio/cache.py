"""Trained models kept in memory between requests, reloaded when a checkpoint changes.

Each run has its own lock: loading a slow or large run holds back the requests for that run
only, never those for the others.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from cnnlab.runs import LoadedRun
from cnnlab.studio.catalog import RunEntry
from cnnlab.studio.errors import StudioError
from cnnlab.studio.loading import load


def _stamp(entry: RunEntry) -> tuple[int, ...]:
    """Modification times of the config and the checkpoints: a new value means a new model."""
    layout = entry.layout
    stamps = []
    for file in (layout.config, layout.best, layout.last):
        try:
            stamps.append(file.stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return tuple(stamps)


class KeyedLocks:
    """One lock per key, made on first use."""

    def __init__(self) -> None:
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class ModelCache:
    """The last ``size`` runs loaded (:func:`cnnlab.studio.loading.load`), each with a lock
    for whoever hooks into its model. A run that fails to load keeps its error until its files
    change, so repeating a request on a damaged run does not read its checkpoint again."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._items: OrderedDict[Path, tuple[tuple, LoadedRun | str, threading.Lock]]
        self._items = OrderedDict()
        self._guard = threading.Lock()  # held for dictionary updates only, never for a load
        self._loading = KeyedLocks()

    def _cached(self, path: Path, stamp: tuple) -> tuple[LoadedRun, threading.Lock] | None:
        with self._guard:
            item = self._items.get(path)
            if item is None or item[0] != stamp:
                return None
            self._items.move_to_end(path)
        if isinstance(item[1], str):
            raise StudioError(item[1], 422)
        return item[1], item[2]

    def get(self, entry: RunEntry) -> tuple[LoadedRun, threading.Lock]:
        """The loaded run of ``entry`` and its model's lock.

        Raises:
            StudioError: 422 when the run cannot be loaded.
        """
        stamp = _stamp(entry)
        found = self._cached(entry.path, stamp)
        if found is not None:
            return found
        with self._loading(entry.path):
            found = self._cached(entry.path, stamp)  # loaded while this request waited
            if found is not None:
                return found
            try:
                run: LoadedRun | str = load(entry)
            except StudioError as error:
                if error.status != 422:
                    raise
                run = str(error)
            lock = threading.Lock()
            with self._guard:
                self._items[entry.path] = (stamp, run, lock)
                self._items.move_to_end(entry.path)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        if isinstance(run, str):
            raise StudioError(run, 422)
        return run, lock
