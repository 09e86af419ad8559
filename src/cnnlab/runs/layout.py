"""The run directory: what a fit leaves behind and where each piece lives. This module is the
only one that knows the file names; everything else asks a :class:`RunLayout`.

RUN/config.json            how to reproduce the run (model, data, training settings)
RUN/history.csv            one row per epoch
RUN/metrics.json           final validation metrics, best epoch, timing
RUN/checkpoints/last.safetensors   everything needed to resume
RUN/checkpoints/best.safetensors   weights of the best epoch
RUN/figures/*.png          curves, confusion matrix, predictions or overlays; diagram.svg
RUN/report.md, report.html the report gathering them (the HTML is self-contained)
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from cnnlab import __version__
from cnnlab.errors import CnnlabError
from cnnlab.files import write_json

CHECKPOINTS = ("best", "last")


@dataclass(frozen=True)
class ReportFolder:
    """A folder holding a report and its figures (a run, or an experiment's folder)."""

    root: Path

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def figure(self, name: str) -> Path:
        """``figures/NAME.png`` (NAME may carry its own suffix, e.g. ``diagram.svg``)."""
        return self.figures / (name if "." in name else f"{name}.png")


@dataclass(frozen=True)
class RunLayout(ReportFolder):
    """The files of one run directory."""

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, which: str) -> Path:
        """``checkpoints/best.safetensors`` or ``checkpoints/last.safetensors``."""
        if which not in CHECKPOINTS:
            raise CnnlabError(f"checkpoint must be 'best' or 'last'. Received: {which!r}")
        return self.checkpoints / f"{which}.safetensors"

    @property
    def last(self) -> Path:
        return self.checkpoint("last")

    @property
    def best(self) -> Path:
        return self.checkpoint("best")

    @property
    def history_figure(self) -> Path:
        return self.figure("history")

    @property
    def confusion_figure(self) -> Path:
        return self.figure("confusion")

    @property
    def predictions_figure(self) -> Path:
        return self.figure("predictions")

    @property
    def overlays_figure(self) -> Path:
        return self.figure("overlays")

    @property
    def diagram_figure(self) -> Path:
        return self.figure("diagram.svg")

    @property
    def lock(self) -> Path:
        """Held by the process writing the run (:class:`cnnlab.runs.guard.RunLock`)."""
        return self.root / ".lock"

    @property
    def predictions(self) -> Path:
        """Where ``cnnlab predict`` writes masks predicted for image files."""
        return self.root / "predictions"

    @property
    def tensorboard(self) -> Path:
        """TensorBoard's event files (``tensorboard --logdir RUN/tensorboard``)."""
        return self.root / "tensorboard"


@dataclass(frozen=True)
class ExperimentLayout(ReportFolder):
    """An experiment's folder: its report and figures, ``results.json``, and one run
    directory per trained variant under ``runs/``."""

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    def run(self, variant: str) -> RunLayout:
        return RunLayout(self.root / "runs" / variant)


def new_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """A fresh folder ``runs_dir/name-YYYYmmdd-HHMMSS`` (suffixed -2, -3 ... if taken)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{stamp}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def write_config(layout: RunLayout, **sections) -> Path:
    """``config.json``: the given sections plus versions, machine and creation time."""
    layout.root.mkdir(parents=True, exist_ok=True)
    data = dict(sections)
    data["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    data["versions"] = {
        "cnnlab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    data["machine"] = {"platform": platform.platform(), "threads": torch.get_num_threads()}
    return write_json(layout.config, data)


def check_run_dir(run_dir: str | os.PathLike) -> RunLayout:
    """The layout of ``run_dir``, or a clear error when it is not a cnnlab run."""
    layout = RunLayout(Path(run_dir))
    if not layout.config.is_file():
        raise CnnlabError(
            f"{layout.root} is not a cnnlab run directory (no {layout.config.name}); pass the "
            "folder that `cnnlab train` printed"
        )
    return layout
