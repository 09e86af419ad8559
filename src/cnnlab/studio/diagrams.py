"""A run's model diagram: its ``figures/diagram.svg``, or one drawn by :mod:`cnnlab.diagram`
(kept in memory; the run folder is not written to)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from cnnlab.diagram import diagram
from cnnlab.runs.layout import RunLayout
from cnnlab.studio.cache import ModelCache
from cnnlab.studio.catalog import inside
from cnnlab.studio.errors import StudioError


class DiagramCache:
    """SVG text of each run's diagram, drawn once per process when the run has none."""

    def __init__(self, models: ModelCache) -> None:
        self.models = models
        self._drawn: dict[Path, str] = {}
        self._lock = threading.Lock()

    def svg(self, run_dir: Path) -> str:
        """The diagram of ``run_dir`` as SVG text.

        Raises:
            StudioError: 422 when the model cannot be rebuilt or traced.
        """
        saved = RunLayout(run_dir).diagram_figure
        if saved.is_file() and inside(saved, run_dir):
            return saved.read_text(encoding="utf-8", errors="replace")
        with self._lock:
            if run_dir not in self._drawn:
                self._drawn[run_dir] = self._draw(run_dir)
            return self._drawn[run_dir]

    def _draw(self, run_dir: Path) -> str:
        run, _ = self.models.get(run_dir)
        spec = run.input_spec
        size = (spec.channels, *spec.size) if spec.kind == "image" and spec.size else None
        with tempfile.TemporaryDirectory(prefix="cnnlab-studio-") as folder:
            out = Path(folder) / "diagram.svg"
            try:
                diagram(run.model, size, out)
            except Exception as error:  # the tracer may not follow every custom model
                raise StudioError(f"cannot draw this run's model: {error}", 422) from None
            return out.read_text(encoding="utf-8")
