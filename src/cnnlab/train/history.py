"""Per-epoch record of a fit, as Keras' ``History``: a callback that keeps one row per epoch,
one column per value.

Columns: ``epoch``, train values (``loss``, ``accuracy``, ...), validation values with a
``val_`` prefix, ``lr`` (learning rate at the end of the epoch) and ``time`` (seconds).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path
from cnnlab.train.callbacks import Callback


def _cell(value: float) -> str:
    """Integers as written; floats by ``repr`` (the shortest text that reads back exactly)."""
    return str(value) if isinstance(value, int) else repr(float(value))


class History(Callback):
    """Rows of per-epoch values that round-trip through ``history.csv`` and plot themselves.

    Every trainer has one (``trainer.history``, returned by ``fit``); it records each epoch's
    row at ``on_epoch_end`` and is saved with the trainer's state.
    """

    def __init__(self, rows: list[dict[str, float]] | None = None) -> None:
        self.rows: list[dict[str, float]] = [dict(r) for r in rows or []]

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(dict(row))

    def on_epoch_end(self, trainer, row: dict[str, float]) -> None:
        self.append(row)

    def state_dict(self) -> dict:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    @property
    def history(self) -> dict[str, list[float]]:
        """Keras' layout: column -> list of per-epoch values (NaN where a row lacks it)."""
        return {c: [row.get(c, math.nan) for row in self.rows] for c in self.columns}

    def best(self, monitor: str, mode: str = "min") -> dict[str, float]:
        """The row with the best finite ``monitor`` value."""
        candidates = [r for r in self.rows if math.isfinite(r.get(monitor, math.nan))]
        if not candidates:
            raise CnnlabError(f"no epoch has a value for {monitor!r}. Received: {self.columns}")
        pick = min if mode == "min" else max
        return pick(candidates, key=lambda r: r[monitor])

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write ``path`` atomically (:func:`cnnlab.files.atomic_path`)."""
        path = Path(path)
        with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, restval="")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _cell(v) for k, v in row.items()})
        return path

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> History:
        path = Path(path)
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                table = list(csv.DictReader(handle))
        except OSError as error:
            raise CnnlabError(f"cannot read history {path}: {error.strerror}") from error
        try:
            rows = [{k: float(v) for k, v in row.items() if v != ""} for row in table]
        except (TypeError, ValueError) as error:
            raise CnnlabError(f"{path} is not a cnnlab history.csv: {error}") from error
        for row in rows:
            if "epoch" in row:
                row["epoch"] = int(row["epoch"])
        return cls(rows)

    def plot(self, path: str | os.PathLike) -> Path:
        """Loss, metric and learning-rate curves per epoch (see :func:`cnnlab.viz.plot_history`)."""
        from cnnlab.viz import plot_history

        return plot_history(self.rows, path)
