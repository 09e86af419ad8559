"""The run directory: what a fit leaves behind and where each piece lives.

RUN/config.json            how to reproduce the run (model, data, training settings)
RUN/history.csv            one row per epoch
RUN/metrics.json           final validation metrics, best epoch, timing
RUN/checkpoints/last.safetensors   everything needed to resume
RUN/checkpoints/best.safetensors   weights of the best epoch
RUN/figures/*.png          curves, confusion matrix, predictions or overlays
RUN/report.md, report.html the report gathering them (the HTML is self-contained)
"""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import torch

from cnnlab import __version__
from cnnlab.errors import CnnlabError
from cnnlab.files import write_json

CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
LAST = Path("checkpoints") / "last.safetensors"
BEST = Path("checkpoints") / "best.safetensors"
FIGURES = "figures"


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


def write_config(run_dir: Path, **sections) -> Path:
    """``config.json``: the given sections plus versions, machine and creation time."""
    run_dir.mkdir(parents=True, exist_ok=True)
    data = dict(sections)
    data["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    data["versions"] = {
        "cnnlab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    data["machine"] = {"platform": platform.platform(), "threads": torch.get_num_threads()}
    return write_json(run_dir / CONFIG, data)


def check_run_dir(run_dir: str | os.PathLike) -> Path:
    """``run_dir`` as a Path, or a clear error when it is not a cnnlab run."""
    path = Path(run_dir)
    if not (path / CONFIG).is_file():
        raise CnnlabError(
            f"{path} is not a cnnlab run directory (no {CONFIG}); pass the folder that "
            "`cnnlab train` printed"
        )
    return path
