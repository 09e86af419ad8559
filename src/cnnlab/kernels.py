"""Classic image kernels (blur, sharpen, edges) applied by the reference convolution.

As in every CNN library, "convolution" here is cross-correlation: the kernel is not flipped
(which matters only for the asymmetric kernels, sobel and emboss). An RGB image is filtered
channel by channel with the same kernel, keeping its channels, or, with ``sum_channels``,
by one filter over the whole volume: the three per-channel results are added into one map
(course notes, "Convoluzione volumetrica").

Results leave ``0..255`` (the -45 and 460 of the course notes' "Esempio di convoluzione"):
``range_mode`` decides what to show.

- ``clip``: cut to ``0..255`` (negative edges become black);
- ``rescale``: map the result's own minimum..maximum linearly onto ``0..255``;
- ``abs``: take ``|value|`` and cut at 255 (both edge directions light up).
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnlab import reference as R
from cnnlab.errors import CnnlabError
from cnnlab.explain.grids import parse_grid

RangeMode = Literal["clip", "rescale", "abs"]
RANGE_MODES: tuple[str, ...] = ("clip", "rescale", "abs")


def _binomial(n: int) -> np.ndarray:
    """Row ``n - 1`` of Pascal's triangle, normalized: a discrete Gaussian of ``n`` taps."""
    row = np.array([comb(n - 1, k) for k in range(n)], dtype=float)
    return row / row.sum()


def _identity(n: int = 3) -> np.ndarray:
    k = np.zeros((n, n))
    k[n // 2, n // 2] = 1
    return k


# Sobel = smoothing [1, 2, 1] across the edge x central difference [-1, 0, 1] along it.
_SMOOTH, _DIFF = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
_LAPLACE = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])

KERNELS: dict[str, Callable[[], np.ndarray]] = {
    "identity": _identity,
    "box-blur": lambda: np.full((3, 3), 1 / 9),
    "gaussian-blur": lambda: np.outer(_binomial(3), _binomial(3)),
    "gaussian-blur-5x5": lambda: np.outer(_binomial(5), _binomial(5)),
    "sharpen": lambda: _identity() - _LAPLACE,
    "outline": lambda: 9 * _identity() - np.ones((3, 3)),
    "sobel-x": lambda: np.outer(_SMOOTH, _DIFF),
    "sobel-y": lambda: np.outer(_DIFF, _SMOOTH),
    # setosa.io's emboss: a diagonal difference (top-left dark, bottom-right light) + identity
    "emboss": lambda: np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]),
}


def kernel(spec: str) -> tuple[str, np.ndarray]:
    """A kernel by name (see :data:`KERNELS`) or from a grid string ``"0,-1,0;-1,5,-1;0,-1,0"``.

    Returns:
        ``(label, k_h x k_w array)``.

    Raises:
        CnnlabError: an unknown name or a malformed grid.
    """
    name = spec.strip().lower()
    if name in KERNELS:
        return name, KERNELS[name]()
    if any(ch.isdigit() for ch in spec):
        return spec.strip(), parse_grid(spec, "kernel")
    raise CnnlabError(
        f"kernel must be one of {', '.join(KERNELS)} or a grid like '0,-1,0;-1,5,-1;0,-1,0'. "
        f"Received: {spec!r}"
    )


def load_image(path: str | Path) -> np.ndarray:
    """Read an image as ``H x W x C`` floats in ``0..255`` (C = 1 for grey, 3 for colour).

    Grey modes (1, L, LA, I, I;16, F) become one channel; 16-bit values are scaled by
    255/65535; anything else is converted to RGB (alpha is dropped, palettes resolved).

    Raises:
        CnnlabError: the file is missing or not an image Pillow can read.
    """
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("1", "L", "LA"):
                data = np.asarray(image.convert("L"), dtype=float)
            elif mode.startswith("I"):
                data = np.asarray(image, dtype=float) * 255 / 65535
            elif mode == "F":
                data = np.clip(np.asarray(image, dtype=float), 0, 255)
            else:
                data = np.asarray(image.convert("RGB"), dtype=float)
    except (OSError, UnidentifiedImageError) as error:
        raise CnnlabError(f"cannot read the image {str(path)!r}: {error}") from None
    return data[..., None] if data.ndim == 2 else data


def apply_kernel(image: np.ndarray, k: np.ndarray, sum_channels: bool = False) -> np.ndarray:
    """Filter ``H x W x C`` with ``k`` (``"same"`` padding, stride 1) by the reference conv.

    Per channel (default): the channels become the batch of a one-channel convolution and the
    output keeps ``C`` channels. ``sum_channels``: one filter holding ``k`` for every channel,
    so the output is one map, ``sum_c (x_c * k)``.

    Raises:
        CnnlabError: a kernel larger than the image.
    """
    h, w, c = image.shape
    if k.shape[0] > h or k.shape[1] > w:
        raise CnnlabError(
            f"the kernel ({k.shape[0]}x{k.shape[1]}) is larger than the image ({h}x{w}); "
            "use a smaller kernel"
        )
    x = image.transpose(2, 0, 1)  # C x H x W
    if sum_channels:
        out = R.conv2d(x[None], np.broadcast_to(k, (1, c, *k.shape)), padding="same")[0]
    else:
        out = R.conv2d(x[:, None], k[None, None], padding="same")[:, 0]  # C x H x W
    return out.transpose(1, 2, 0)  # H x W x C_out


def _check_range(range_mode: str) -> None:
    if range_mode not in RANGE_MODES:
        raise CnnlabError(
            f"range must be one of {', '.join(RANGE_MODES)}. Received: range={range_mode!r}"
        )


def to_display(values: np.ndarray, range_mode: RangeMode = "clip") -> np.ndarray:
    """Bring filter results back to ``0..255`` as ``uint8`` by the chosen rule (module doc)."""
    _check_range(range_mode)
    if range_mode == "clip":
        shown = values
    elif range_mode == "abs":
        shown = np.abs(values)
    else:
        low, high = values.min(), values.max()
        shown = (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(shown), 0, 255).astype(np.uint8)


def filter_image(
    image: np.ndarray,
    specs: list[str],
    range_mode: RangeMode = "clip",
    sum_channels: bool = False,
) -> list[tuple[str, np.ndarray]]:
    """The original and each kernel's result, ready to show: ``[(title, uint8 H x W x C)]``."""
    _check_range(range_mode)
    panels = [("original", to_display(image, "clip"))]
    for spec in specs:
        label, k = kernel(spec)
        result = apply_kernel(image, k, sum_channels)
        low, high = result.min(), result.max()
        title = f"{label}\n{range_mode}, raw {low:.0f}..{high:.0f}"
        panels.append((title, to_display(result, range_mode)))
    return panels


def save_figure(panels: list[tuple[str, np.ndarray]], out: str | Path, columns: int = 3) -> Path:
    """A titled grid of panels (matplotlib, Agg backend) saved as an image file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // columns)
    cols = min(columns, len(panels))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4 * cols, 4.5 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, data) in zip(axes.flat, panels, strict=False):
        grey = data.shape[2] == 1
        ax.imshow(data[..., 0] if grey else data, cmap="gray" if grey else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
    path = Path(out)
    try:
        fig.savefig(path, dpi=100)
    except OSError as error:
        raise CnnlabError(f"cannot write the figure {str(path)!r}: {error}") from None
    finally:
        plt.close(fig)
    return path
