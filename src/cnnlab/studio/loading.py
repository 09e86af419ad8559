"""A run's model for the studio: the checks made before :func:`cnnlab.runs.load_run`, and
every failure of the load as one 422 naming the run and the problem.

Before the load, ``config.json`` must describe a model the studio can build and feed
(:mod:`cnnlab.studio.schema`); the checkpoint ``load_run`` will read must be a regular file
inside the run (a FIFO would hold the reading thread for ever, a link could read any file) of at
most :data:`MAX_CHECKPOINT_BYTES`; and the model the config describes, first built on the
``meta`` device (no memory), must not need more weight bytes than the checkpoint holds, so an
absurd argument (``num_classes=10**12``) is refused before anything is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.runs import LoadedRun, load_run
from cnnlab.runs.load import rebuild
from cnnlab.studio.catalog import RunEntry, read_object, regular_file
from cnnlab.studio.errors import StudioError
from cnnlab.studio.schema import config_problem

MAX_CHECKPOINT_BYTES = 1024**3
LOAD_ERRORS = (
    CnnlabError,
    KeyError,
    TypeError,
    ValueError,
    RuntimeError,
    OverflowError,
    AttributeError,
    IndexError,
)


def checkpoint_file(entry: RunEntry) -> Path:
    """The checkpoint ``load_run`` reads (best, else last), checked like every run file."""
    layout = entry.layout
    file = next((c for c in (layout.best, layout.last) if c.exists() or c.is_symlink()), None)
    if file is None:
        raise StudioError(f"run {entry.id!r} has no checkpoint yet", 422)
    regular_file(file, entry.path, MAX_CHECKPOINT_BYTES)
    return file


def _weight_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _check_finite(run: LoadedRun) -> None:
    for name, tensor in run.model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise StudioError(
                f"weight {name} in {run.checkpoint.name} holds NaN or infinity "
                "(did the training diverge?)",
                422,
            )


def _load(entry: RunEntry, config: dict, file: Path) -> LoadedRun:
    with torch.device("meta"):
        skeleton = rebuild(entry.layout, config)
    need, holds = _weight_bytes(skeleton), file.stat().st_size
    if need > holds:
        raise StudioError(
            f"{entry.layout.config.name} describes a model of {need:,} bytes of weights but "
            f"{file.name} holds {holds:,} bytes: they do not belong together",
            422,
        )
    return load_run(entry.path, "best", model=rebuild(entry.layout, config))


def load(entry: RunEntry) -> LoadedRun:
    """The run's model with its best (else last) weights.

    Raises:
        StudioError: 422 naming the run and what keeps its model from loading.
    """
    try:
        config = read_object(entry.layout.config, entry.path)
    except CnnlabError as error:
        raise StudioError(f"run {entry.id!r}: {error}", 422) from None
    problem = config_problem(config)
    if problem is not None:
        raise StudioError(f"run {entry.id!r}: {entry.layout.config.name}: {problem}", 422)
    file = checkpoint_file(entry)
    try:
        run = _load(entry, config, file)
    except StudioError:
        raise
    except LOAD_ERRORS as error:  # what a damaged config or checkpoint raises inside torch
        reason = str(error).splitlines()[0] if str(error) else ""
        reason = reason.replace(f"{entry.path}{os.sep}", "").replace(str(entry.path), "the run")
        if not isinstance(error, CnnlabError):
            reason = f"{type(error).__name__}: {reason}"
        raise StudioError(f"run {entry.id!r} cannot be loaded: {reason[:300]}", 422) from None
    _check_finite(run)
    return run
