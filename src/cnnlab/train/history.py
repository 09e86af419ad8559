"""Per-epoch record of a fit, as Keras' ``History``: a callback that keeps one row per epoch,
one column per value.

Columns: ``epoch``, train values (``loss``, ``accuracy``, ...), validation values with a
``val_`` prefix, ``lr`` (learning rate at the end of the epoch) and ``time`` (seconds).
In a notebook it shows its curves and its table (``_repr_html_``).
"""

from __future__ import annotations

import csv
import math
import os
from contextlib import suppress
from pathlib import Path

from cnnlab.display import block, figure, heading, table
from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path
from cnnlab.train.callbacks import Callback
from cnnlab.train.metrics import higher_is_better
from cnnlab.train.results import metric_text


def _cell(value: float) -> str:
    """Integers as written; floats by ``repr`` (the shortest text that reads back exactly)."""
    return str(value) if isinstance(value, int) else repr(float(value))


def _short(name: str, value: float | None) -> str:
    """A value for a one-line summary: rates as percentages, other numbers to 3 digits."""
    if isinstance(value, float) and math.isfinite(value) and not higher_is_better(name):
        return f"{value:.3g}"
    return metric_text(name, value)


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

    def _headline(self) -> list[str]:
        """The columns a one-line summary follows: the loss and the first validation rate
        (else the validation loss, else the first training rate)."""
        columns = self.columns
        rates = [c for c in columns if higher_is_better(c) and "macro_" not in c and "top" not in c]
        second = next((c for c in rates if c.startswith("val_")), None)
        second = second or ("val_loss" if "val_loss" in columns else next(iter(rates), None))
        return [c for c in ("loss", second) if c in columns]

    def __repr__(self) -> str:
        n = len(self.rows)
        changes = ", ".join(
            f"{c} {_short(c, self.rows[0].get(c))} -> {_short(c, self.rows[-1].get(c))}"
            for c in self._headline()
        )
        return f"History({n} epoch{'s' * (n != 1)}{': ' * bool(changes)}{changes})"

    def _repr_html_(self) -> str:
        """The figure of :meth:`plot` and the per-epoch table, rates as percentages."""
        from cnnlab.viz import plot_history  # matplotlib is loaded only to be shown

        parts = [heading(repr(self))]
        if not self.rows:
            return block(*parts)
        with suppress(CnnlabError):  # rows without any metric: the table alone
            caption = "loss and metrics per epoch (train and validation)"
            parts.append(figure(plot_history(self.rows), caption))
        columns = [c for c in self.columns if not c.startswith(("macro_", "val_macro_"))]
        parts.append(
            table(columns, [[metric_text(c, r.get(c)) for c in columns] for r in self.rows])
        )
        return block(*parts)
