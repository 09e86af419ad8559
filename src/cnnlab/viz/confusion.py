"""Confusion matrix: rows are the true class, columns the predicted one."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from cnnlab.errors import CnnlabError
from cnnlab.viz._figure import as_array, finish, new_figure

MAX_ANNOTATED = 20
MAX_TICKS = 60
CMAP = "Blues"


def check_matrix(matrix: Any) -> np.ndarray:
    """A non-empty ``K x K`` array of finite, non-negative counts.

    Raises:
        CnnlabError: another shape, negative or non-finite entries.
    """
    array = as_array(matrix)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.size == 0:
        raise CnnlabError(
            f"confusion matrix must be K x K with K >= 1. Received shape {tuple(array.shape)}"
        )
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or (array < 0).any():
        raise CnnlabError(
            f"confusion matrix must hold finite counts >= 0. Received min {array.min():g}"
        )
    return array


def row_fractions(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (a class never seen stays all zeros)."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def count_text(count: float) -> str:
    """``1,073`` for whole counts, ``12.5`` otherwise."""
    return f"{count:,.0f}" if float(count).is_integer() else f"{count:.3g}"


def percent_text(fraction: float) -> str:
    """``42%``; a fraction that rounds to 0% but is not zero reads ``<1%``."""
    return "<1%" if 0 < fraction < 0.005 else f"{fraction:.0%}"


def plot_confusion(
    matrix: Any,
    classes: Sequence[str] | None,
    path: str | os.PathLike[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Path | bytes:
    """A ``K x K`` confusion matrix as a heat map, saved to ``path``.

    Args:
        matrix: counts, rows = true class, columns = predicted class (numpy or torch).
        classes: ``K`` class names (``None``: 0, 1, 2, ...).
        path: ``.png`` (default) or ``.svg`` file, written atomically; None: the PNG bytes
            are returned instead (a notebook shows them).
        normalize: colour by row fraction (recall per class) and print the percentage too.
        title: first title line; the second line gives the accuracy.

    Cells are annotated for up to 20 classes; beyond that the ticks shrink instead.

    Raises:
        CnnlabError: a matrix that is not K x K counts, or ``K`` names that do not match.
    """
    counts = check_matrix(matrix)
    k = counts.shape[0]
    names = [str(i) for i in range(k)] if classes is None else [str(c) for c in classes]
    if len(names) != k:
        raise CnnlabError(f"need one class name per matrix row ({k}). Received {len(names)} names")
    shown = row_fractions(counts) if normalize else counts
    side = min(max(4.8, 0.42 * k + 2.6 if k <= MAX_ANNOTATED else 0.22 * k + 3.0), 12.0)
    figure = new_figure(side + 1.0, side)
    ax = figure.subplots()
    norm = Normalize(0.0, 1.0 if normalize else max(shown.max(), 1.0))
    image = ax.imshow(shown, cmap=CMAP, norm=norm, interpolation="nearest")
    colorbar = figure.colorbar(image, ax=ax, shrink=0.8)
    colorbar.set_label("fraction of the true class" if normalize else "count")
    if k <= MAX_ANNOTATED:
        annotate(ax, counts, shown, normalize, norm)
    step = math.ceil(k / MAX_TICKS)
    ticks = np.arange(0, k, step)
    tick_size = 10 if k <= 10 else 8 if k <= MAX_ANNOTATED else 7
    rotate = k > 10 or max(len(n) for n in names) > 4
    ax.set_xticks(
        ticks,
        [names[i] for i in ticks],
        fontsize=tick_size,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
    )
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=tick_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else 0.0
    ax.set_title(f"{title or 'confusion matrix'}\naccuracy {accuracy:.1%} of {total:,.0f}")
    return finish(figure, path)


def annotate(
    ax: Axes, counts: np.ndarray, shown: np.ndarray, normalize: bool, norm: Normalize
) -> None:
    """Write each cell's count (and row percentage) in black or white, whichever reads better."""
    k = counts.shape[0]
    cmap = ax.images[0].get_cmap()
    size = 10 if k <= 6 else 8 if k <= 12 else 6.5
    for (row, col), count in np.ndenumerate(counts):
        red, green, blue, _ = cmap(norm(shown[row, col]))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        text = count_text(count)
        if normalize and count:
            text += f"\n{percent_text(shown[row, col])}"
        ax.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color="white" if dark else "black",
        )
