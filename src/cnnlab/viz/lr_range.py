"""The learning-rate range test's figure: loss against learning rate on a log axis, the
suggested rate marked (see :mod:`cnnlab.train.lr_range`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.viz._figure import finish, new_figure

SUGGESTION_COLOR = "#d62728"


def plot_lr_find(
    lrs: Sequence[float],
    losses: Sequence[float],
    smoothed: Sequence[float],
    suggestion: float,
    path: str | os.PathLike[str] | None = None,
) -> Path | bytes:
    """The per-step loss (faint) and its smoothed curve against the learning rate, with a
    dot and a dotted line at ``suggestion``.

    Args:
        lrs, losses, smoothed: one value per step of the test, all of the same length.
        suggestion: the learning rate to mark.
        path: ``.png`` (default) or ``.svg`` file, written atomically; None: the PNG bytes.

    Raises:
        CnnlabError: fewer than two steps, or lengths that differ.
    """
    x, raw, smooth = (np.asarray(v, dtype=np.float64) for v in (lrs, losses, smoothed))
    if len(x) < 2 or not len(x) == len(raw) == len(smooth):
        raise CnnlabError(
            "plot_lr_find needs two or more steps, as many losses as learning rates. "
            f"Received: {len(x)} rates, {len(raw)} losses, {len(smooth)} smoothed"
        )
    figure = new_figure(6.0, 3.8)
    ax = figure.subplots()
    ax.plot(x, raw, color="tab:blue", alpha=0.25, linewidth=1, label="loss per step")
    ax.plot(x, smooth, color="tab:blue", linewidth=2, label="smoothed")
    at = np.interp(np.log(suggestion), np.log(x), smooth)
    ax.axvline(suggestion, color=SUGGESTION_COLOR, linestyle=":", linewidth=1.2)
    ax.plot([suggestion], [at], "o", color=SUGGESTION_COLOR, label=f"suggestion {suggestion:.1e}")
    ax.set_xscale("log")
    top = max(smooth[0], np.min(smooth)) * 1.5 if np.isfinite(smooth).all() else None
    ax.set_ylim(min(np.min(smooth), np.min(raw)) * 0.95, top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"learning-rate range test, {len(x)} steps")
    return finish(figure, path)
