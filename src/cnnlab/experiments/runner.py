"""Running an experiment by name: its folder, its context, its report."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from cnnlab.errors import CnnlabError
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.registry import experiment_name, get_experiment

DEFAULT_OUT = Path("runs") / "experiments"


def experiment_folder(out: str | os.PathLike, name: str, quick: bool) -> Path:
    """``out/NAME`` for the full variant, ``out/NAME-quick`` for the quick one."""
    return Path(out) / (f"{name}-quick" if quick else name)


@contextmanager
def torch_threads(threads: int | None):
    """Use ``threads`` intra-op threads inside the block (None: leave torch's setting)."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise CnnlabError(f"threads must be >= 1. Received: threads={threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_experiment(
    name: str,
    quick: bool = False,
    out: str | os.PathLike = DEFAULT_OUT,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verbose: int = 2,
    threads: int | None = None,
) -> tuple[Report, float]:
    """Run experiment ``name`` and write its folder; returns the report and the seconds taken.

    Args:
        name: a registered experiment (``cnnlab run --list``).
        quick: the CI-sized variant: small data, few epochs (run times in
            docs/experiments.md).
        out: the parent folder; the experiment writes ``out/NAME`` or ``out/NAME-quick``.
        data_dir: the data directory (None: ``$CNNLAB_DATA_DIR``, else the cache).
        download: fetch missing data files.
        verbose: trainer verbosity (0 silent, 2 one line per epoch).
        threads: torch intra-op threads while it runs (1 avoids oversubscribing cores that
            other jobs share).

    Raises:
        CnnlabError: unknown experiment, missing data, or bad settings.
    """
    function = get_experiment(name)
    key = experiment_name(function)
    folder = experiment_folder(out, key, quick)
    ctx = Context(key, folder, quick, Path(data_dir) if data_dir else None, download, verbose)
    started = time.perf_counter()
    with torch_threads(threads):
        report = function(ctx)
        seconds = time.perf_counter() - started
        report.write(seconds)
    return report, seconds
