"""A run's model diagram: its ``figures/diagram.svg``, or one drawn by :mod:`cnnlab.diagram`
(kept in memory; the run folder is not written to)."""

from __future__ import annotations

from pathlib import Path

from cnnlab.diagram import diagram
from cnnlab.studio.cache import KeyedLocks, ModelCache
from cnnlab.studio.catalog import RunEntry, inside
from cnnlab.studio.errors import StudioError

MAX_SVG_BYTES = 32 * 1024 * 1024


def saved(entry: RunEntry) -> Path | None:
    """The run's own diagram file, when it is a regular file inside the run."""
    file = entry.layout.diagram_figure
    if file.is_file() and inside(file, entry.path) and file.stat().st_size <= MAX_SVG_BYTES:
        return file
    return None


class DiagramCache:
    """SVG text of each run's diagram, drawn once per process (one run at a time per run: a
    slow drawing holds back no other run)."""

    def __init__(self, models: ModelCache) -> None:
        self.models = models
        self._drawn: dict[Path, str] = {}
        self._drawing = KeyedLocks()

    def svg(self, entry: RunEntry) -> str:
        """The diagram drawn from the run's model.

        Raises:
            StudioError: 422 when the model cannot be loaded or traced.
        """
        with self._drawing(entry.path):
            if entry.path not in self._drawn:
                self._drawn[entry.path] = self._draw(entry)
            return self._drawn[entry.path]

    def _draw(self, entry: RunEntry) -> str:
        run, _ = self.models.get(entry)
        spec = run.input_spec
        size = (spec.channels, *spec.size) if spec.kind == "image" and spec.size else None
        try:
            return diagram(run.model, size).svg
        except Exception as error:  # the tracer may not follow every custom model
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise StudioError(f"cannot draw this run's model: {reason[:200]}", 422) from None
