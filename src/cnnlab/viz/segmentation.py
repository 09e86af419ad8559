"""Segmentation samples: image, ground truth, prediction and where the two disagree."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.patches import Patch

from cnnlab.errors import CnnlabError
from cnnlab.viz._figure import (
    as_array,
    check_images,
    display_image,
    finish,
    new_figure,
    show_image,
)

CLASS_COLORS = ("#ffd400", "#00c8ff", "#ff4fd8", "#7cfc00", "#ff8c00", "#9370db", "#00fa9a")
ERROR_COLORS = ("#e8112d", "#1f5bff", "#ffb000")  # false positive, false negative, wrong class
COLUMNS = ("image", "ground truth", "prediction", "errors")
ERROR_CMAP = ListedColormap([(0, 0, 0, 0), *ERROR_COLORS])
SMOOTH = {"interpolation": "antialiased", "interpolation_stage": "rgba"}  # never blends ids


def check_masks(values: Any, name: str, n: int) -> np.ndarray:
    """``N x H x W`` class ids (whole numbers >= 0, any numeric dtype) as int64.

    Raises:
        CnnlabError: another shape, or values that are not class ids.
    """
    array = as_array(values)
    if array.dtype == bool:
        array = array.astype(np.int64)
    if array.ndim != 3 or array.shape[0] != n or 0 in array.shape:
        raise CnnlabError(
            f"{name} must be N x H x W class ids with N = {n} like the images. "
            f"Received shape {tuple(array.shape)}"
        )
    if not np.isfinite(array).all() or (array != np.round(array)).any() or (array < 0).any():
        raise CnnlabError(
            f"{name} must hold class ids (whole numbers >= 0). "
            f"Received values {array.min()}..{array.max()}"
        )
    return array.astype(np.int64)


def center_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """The central ``height x width`` of the last two axes."""
    top = (array.shape[-2] - height) // 2
    left = (array.shape[-1] - width) // 2
    return array[..., top : top + height, left : left + width]


def overlay(ids: np.ndarray, alpha: float) -> np.ndarray:
    """``H x W x 4`` colours: class 0 clear, class ``c`` in ``CLASS_COLORS[c - 1]``."""
    colors = np.zeros((int(ids.max()) + 1, 4))
    for c in range(1, colors.shape[0]):
        colors[c] = to_rgba(CLASS_COLORS[(c - 1) % len(CLASS_COLORS)], alpha)
    return colors[ids]


def error_ids(mask: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """0 right, 1 false positive (foreground on background), 2 false negative, 3 wrong class."""
    errors = np.zeros(mask.shape, dtype=np.int64)
    errors[(pred > 0) & (mask == 0)] = 1
    errors[(pred == 0) & (mask > 0)] = 2
    errors[(pred > 0) & (mask > 0) & (pred != mask)] = 3
    return errors


def legend_handles(classes: Sequence[str], num_classes: int) -> list[Patch]:
    """Class colours, then error colours (wrong class only with more than two classes)."""
    handles = [
        Patch(color=CLASS_COLORS[(c - 1) % len(CLASS_COLORS)], label=classes[c])
        for c in range(1, num_classes)
    ]
    background = classes[0]
    foreground = classes[1] if num_classes == 2 else "foreground"
    handles.append(
        Patch(color=ERROR_COLORS[0], label=f"false positive: {foreground} on true {background}")
    )
    handles.append(
        Patch(color=ERROR_COLORS[1], label=f"false negative: {background} on true {foreground}")
    )
    if num_classes > 2:
        handles.append(Patch(color=ERROR_COLORS[2], label="wrong foreground class"))
    return handles


def check_sizes(height: int, width: int, masks: np.ndarray, preds: np.ndarray) -> None:
    """Masks match the images; predictions are no larger.

    Raises:
        CnnlabError: otherwise.
    """
    if masks.shape[1:] != (height, width):
        raise CnnlabError(
            f"masks must be {height} x {width} like the images. Received {masks.shape[1:]}"
        )
    h, w = preds.shape[1:]
    if h > height or w > width:
        raise CnnlabError(
            f"preds must be at most {height} x {width} (the image size). Received {h} x {w}"
        )


def draw_sample(
    panels: Sequence[Axes], image: np.ndarray, mask: np.ndarray, pred: np.ndarray, alpha: float
) -> None:
    """One row: the image, truth and prediction over it, and the error map over a faded copy."""
    errors = error_ids(mask, pred)
    for ax in panels:
        show_image(ax, image)
    panels[1].imshow(overlay(mask, alpha), **SMOOTH)
    panels[2].imshow(overlay(pred, alpha), **SMOOTH)
    panels[3].images[0].set_alpha(0.4)
    panels[3].imshow(errors, cmap=ERROR_CMAP, vmin=0, vmax=3, **SMOOTH)
    panels[3].set_xlabel(f"{(errors > 0).mean():.1%} of pixels wrong", fontsize=9)


def plot_segmentation(
    images: Any,
    masks: Any,
    preds: Any,
    path: str | os.PathLike[str] | None = None,
    max_items: int = 4,
    alpha: float = 0.45,
    classes: Sequence[str] | None = None,
) -> Path | bytes:
    """One row per sample: image, ground-truth overlay, prediction overlay, error map.

    Args:
        images: ``N x C x H x W``, ``C`` 1 or 3.
        masks: ``N x H x W`` true class ids (0 is background and is left clear).
        preds: ``N x h x w`` predicted class ids, ``h <= H`` and ``w <= W``; a smaller
            prediction (valid-padding U-Net) is compared with the centre crop of image and mask.
        path: ``.png`` (default) or ``.svg`` file, written atomically; None: the PNG bytes
            are returned instead (a notebook shows them).
        max_items: at most this many rows.
        alpha: opacity of the class colours over the image.
        classes: class names for the legend (``None``: class 0, class 1, ...).

    Raises:
        CnnlabError: shapes that disagree, ids that are not whole numbers >= 0, a prediction
            larger than the image, too few class names, ``max_items < 1`` or ``alpha``
            outside ``[0, 1]``.
    """
    array = check_images(images)
    n, _, height, width = array.shape
    masks = check_masks(masks, "masks", n)
    preds = check_masks(preds, "preds", n)
    check_sizes(height, width, masks, preds)
    if max_items < 1:
        raise CnnlabError(f"max_items must be >= 1. Received: max_items={max_items}")
    if not 0.0 <= alpha <= 1.0:
        raise CnnlabError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
    num_classes = max(int(masks.max()), int(preds.max()), 1) + 1
    names = [f"class {c}" for c in range(num_classes)] if classes is None else list(classes)
    if len(names) < num_classes:
        raise CnnlabError(
            f"classes must name every id up to {num_classes - 1}. Received {len(names)} names"
        )
    h, w = preds.shape[1:]
    array, masks = center_crop(array, h, w), center_crop(masks, h, w)  # N x C x h x w, N x h x w
    rows = min(n, max_items)
    figure = new_figure(4 * 2.6, rows * 2.6 + 0.9)
    axes = figure.subplots(rows, 4, squeeze=False)
    for row in range(rows):
        draw_sample(axes[row], display_image(array[row]), masks[row], preds[row], alpha)
        axes[row][0].set_ylabel(f"sample {row}", fontsize=9)
    for ax, label in zip(axes[0], COLUMNS, strict=True):
        ax.set_title(label, fontsize=10)
    title = f"segmentation: {rows} of {n} sample{'s' * (n != 1)}"
    if (h, w) != (height, width):
        title += (
            f"\nimage and mask center-cropped from {height}x{width} to the prediction's {h}x{w}"
        )
    figure.suptitle(title, fontsize=11)
    handles = legend_handles([str(c) for c in names], num_classes)
    figure.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 3), frameon=False
    )
    return finish(figure, path)
