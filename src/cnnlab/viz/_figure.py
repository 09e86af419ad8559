"""Shared plumbing for the figures: a private matplotlib figure, atomic saving (or PNG bytes
for a notebook), image display.

Figures are built from :class:`matplotlib.figure.Figure` with an Agg canvas, never through
``pyplot``: no global state is touched, no window opens and threads can draw at the same time.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path

DPI = 120
FORMATS = {".png": "png", ".svg": "svg"}
WRONG = "#d62728"


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` x ``height`` inches on its own Agg canvas."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def output_path(path: str | os.PathLike[str]) -> Path:
    """The file to write: ``.png`` is added when there is no suffix; only PNG and SVG are made.

    Raises:
        CnnlabError: a suffix other than ``.png`` or ``.svg``.
    """
    path = Path(path)
    if not path.suffix:
        return path.with_suffix(".png")
    if path.suffix.lower() not in FORMATS:
        raise CnnlabError(f"figures are saved as .png or .svg. Received: {str(path)!r}")
    return path


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` atomically (:func:`cnnlab.files.atomic_path`).

    Returns:
        The path written; a file already there is replaced, a half-written one never appears.
    """
    path = output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "xb") as handle:
        figure.savefig(handle, format=FORMATS[path.suffix.lower()], dpi=DPI)
    return path


def figure_png(figure: Figure) -> bytes:
    """``figure`` as PNG bytes, as :func:`save_figure` would write it, with no file: what a
    notebook embeds."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def finish(figure: Figure, path: str | os.PathLike[str] | None) -> Path | bytes:
    """``figure`` saved to ``path`` (its path returned), or its PNG bytes when ``path`` is None."""
    return figure_png(figure) if path is None else save_figure(figure, path)


def as_array(value: Any) -> np.ndarray:
    """A numpy array from a numpy array, a list or a (CPU or GPU, grad or not) torch tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value)


def check_images(images: Any, name: str = "images") -> np.ndarray:
    """``N x C x H x W`` with ``C`` 1 or 3 and ``N >= 1``, as a numpy array.

    Raises:
        CnnlabError: another shape, or no images.
    """
    array = as_array(images)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or 0 in array.shape:
        raise CnnlabError(
            f"{name} must be N x C x H x W with N >= 1 and C = 1 or 3. "
            f"Received shape {tuple(array.shape)}"
        )
    return array


def display_image(image: np.ndarray) -> np.ndarray:
    """One ``C x H x W`` image as ``H x W`` (gray) or ``H x W x 3`` floats in ``[0, 1]``.

    Integer images are read as 0..255; float images are min-max rescaled (a flat one is gray).
    """
    if np.issubdtype(image.dtype, np.integer):
        scaled = np.clip(image.astype(np.float64) / 255.0, 0.0, 1.0)
    else:
        image = np.nan_to_num(image.astype(np.float64))
        low, high = image.min(), image.max()
        scaled = (image - low) / (high - low) if high > low else np.full_like(image, 0.5)
    return scaled[0] if scaled.shape[0] == 1 else scaled.transpose(1, 2, 0)


def show_image(axes: Any, image: np.ndarray) -> None:
    """Draw a :func:`display_image` result without ticks; large images are smoothed, not aliased."""
    axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
    axes.set_xticks([])
    axes.set_yticks([])
