"""A grid of classified images: prediction and confidence on each, mistakes framed in red."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.viz._figure import (
    WRONG,
    as_array,
    check_images,
    display_image,
    finish,
    new_figure,
    show_image,
)

MAX_NAME = 14


def check_vector(values: Any, name: str, n: int) -> np.ndarray:
    """A 1-D array of length ``n``.

    Raises:
        CnnlabError: another shape.
    """
    array = as_array(values)
    if array.ndim != 1 or array.shape[0] != n:
        raise CnnlabError(
            f"{name} must be a 1-D array with one entry per image ({n}). "
            f"Received shape {tuple(array.shape)}"
        )
    return array


def check_labels(values: Any, name: str, n: int, k: int) -> np.ndarray:
    """Integer class ids in ``0..k-1``, one per image.

    Raises:
        CnnlabError: another shape, non-integers or ids out of range.
    """
    array = check_vector(values, name, n)
    if not np.issubdtype(array.dtype, np.integer):
        raise CnnlabError(f"{name} must hold integer class ids. Received dtype {array.dtype}")
    if array.min() < 0 or array.max() >= k:
        raise CnnlabError(
            f"{name} must be class ids in 0..{k - 1}. Received values {array.min()}..{array.max()}"
        )
    return array


def short(name: str) -> str:
    """A class name cut to fit a thumbnail title."""
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def pick_order(wrong: np.ndarray, max_items: int, wrong_first: bool) -> np.ndarray:
    """Indices to show: mistakes first (each group in its original order) when asked."""
    order = np.argsort(~wrong, kind="stable") if wrong_first else np.arange(wrong.size)
    return order[:max_items]


def plot_predictions(
    images: Any,
    true: Any,
    pred: Any,
    prob: Any,
    classes: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    max_items: int = 36,
    wrong_first: bool = True,
) -> Path | bytes:
    """Thumbnails titled ``pred (prob%)``; mistakes also show ``true X`` in a red frame.

    Args:
        images: ``N x C x H x W``, ``C`` 1 or 3; integers are 0..255, floats are min-max
            rescaled per image.
        true: ``N`` true class ids.
        pred: ``N`` predicted class ids.
        prob: ``N`` probabilities of the predicted class, in ``[0, 1]``.
        classes: the class names, indexed by id.
        path: ``.png`` (default) or ``.svg`` file, written atomically; None: the PNG bytes
            are returned instead (a notebook shows them).
        max_items: at most this many thumbnails.
        wrong_first: show the misclassified images before the correct ones.

    Raises:
        CnnlabError: shapes that disagree, ids outside ``classes``, or ``max_items < 1``.
    """
    array = check_images(images)
    n = array.shape[0]
    names = [str(c) for c in classes]
    if not names:
        raise CnnlabError(f"classes must name at least one class. Received {classes!r}")
    if max_items < 1:
        raise CnnlabError(f"max_items must be >= 1. Received: max_items={max_items}")
    true = check_labels(true, "true", n, len(names))
    pred = check_labels(pred, "pred", n, len(names))
    prob = check_vector(prob, "prob", n).astype(np.float64)
    if not ((prob >= 0) & (prob <= 1)).all():
        raise CnnlabError(
            f"prob must be probabilities in [0, 1]. Received values {prob.min():g}..{prob.max():g}"
        )
    wrong = true != pred
    shown = pick_order(wrong, max_items, wrong_first)
    cols = min(8, math.ceil(math.sqrt(shown.size)))
    rows = math.ceil(shown.size / cols)
    figure = new_figure(max(1.55 * cols, 3.6), 1.75 * rows + 0.5)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax, index in zip(axes, shown, strict=False):
        show_image(ax, display_image(array[index]))
        title = f"{short(names[pred[index]])} ({prob[index]:.0%})"
        if wrong[index]:
            title += f"\ntrue {short(names[true[index]])}"
        ax.set_title(title, fontsize=8, color=WRONG if wrong[index] else "black")
        for spine in ax.spines.values():
            spine.set_visible(bool(wrong[index]))
            spine.set_color(WRONG)
            spine.set_linewidth(3)
    for ax in axes[shown.size :]:
        ax.set_axis_off()
    title = f"predictions: {int(wrong[shown].sum())} wrong of {shown.size} shown"
    if shown.size < n:
        title += f" ({int(wrong.sum())} wrong of {n} in all)"
    figure.suptitle(title, fontsize=11)
    return finish(figure, path)
