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

:func:`apply_kernels` keeps every result as data (:class:`FilteredImage`), which a notebook
shows as the images before and after, side by side, each under its kernel's matrix.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnnlab import display
from cnnlab import reference as R
from cnnlab.errors import CnnlabError
from cnnlab.explain.grids import html_grid, parse_grid

RangeMode = Literal["clip", "rescale", "abs"]
RANGE_MODES: tuple[str, ...] = ("clip", "rescale", "abs")
SHOWN_PIXELS = (160, 320)  # a notebook shows images between these sizes (longest side)


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


@dataclass(frozen=True)
class KernelResult:
    """One kernel applied: its name and matrix, the raw result and what is shown of it."""

    label: str
    kernel: np.ndarray  # k_h x k_w
    raw: np.ndarray  # H x W x C_out, floats outside 0..255 too
    shown: np.ndarray  # uint8, after the range rule

    def __repr__(self) -> str:
        (k_h, k_w), low, high = self.kernel.shape, self.raw.min(), self.raw.max()
        return f"KernelResult({self.label} {k_h}x{k_w}, raw {low:.0f}..{high:.0f})"


@dataclass(frozen=True)
class FilteredImage:
    """An image and each kernel's result on it, as data (what ``cnnlab kernels`` draws)."""

    original: np.ndarray  # uint8 H x W x C
    results: tuple[KernelResult, ...]
    range_mode: RangeMode

    def _caption(self, result: KernelResult) -> str:
        """The range rule and the raw result's extent, which the rule brought to 0..255."""
        return f"{self.range_mode}, raw {result.raw.min():.0f}..{result.raw.max():.0f}"

    @property
    def panels(self) -> list[tuple[str, np.ndarray]]:
        """``[(title, uint8 H x W x C)]``, the original first: what :func:`save_figure` draws."""
        titled = [(f"{r.label}\n{self._caption(r)}", r.shown) for r in self.results]
        return [("original", self.original), *titled]

    def __repr__(self) -> str:
        h, w, c = self.original.shape
        labels = ", ".join(r.label for r in self.results[:4])
        more = f" and {len(self.results) - 4} more" if len(self.results) > 4 else ""
        return f"FilteredImage({h}x{w}x{c}, range {self.range_mode}: {labels}{more})"

    def _repr_html_(self) -> str:
        """Before and after side by side, each result under its kernel's name and matrix."""
        shape = "x".join(map(str, self.original.shape))
        panels = [
            display.heading("original")
            + display.text(f"{shape} (H x W x C)")
            + _png_tag(self.original, "original")
        ]
        for r in self.results:
            panels.append(
                display.heading(r.label)
                + display.text(self._caption(r))
                + _png_tag(r.shown, r.label)
                + html_grid(r.kernel)
            )
        return display.block(display.row(*panels))


def _png_tag(data: np.ndarray, alt: str) -> str:
    """``data`` as an embedded PNG: large images shrunk, small ones enlarged pixel by pixel
    (no smoothing, so a blur is the kernel's, not the browser's)."""
    image = Image.fromarray(data[..., 0] if data.shape[2] == 1 else data)
    small, large = SHOWN_PIXELS
    side = max(image.size)
    if side > large:
        image.thumbnail((large, large))
    elif side < small:
        factor = -(-small // side)
        image = image.resize(
            (image.width * factor, image.height * factor), Image.Resampling.NEAREST
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return display.image(buffer.getvalue(), alt=alt)


def apply_kernels(
    image: np.ndarray | str | Path,
    specs: Sequence[str],
    range_mode: RangeMode = "clip",
    sum_channels: bool = False,
) -> FilteredImage:
    """Filter ``image`` (``H x W x C`` in ``0..255``, or a file) with each kernel of ``specs``
    (names or grids, see :func:`kernel`), keeping the kernels and the raw results."""
    _check_range(range_mode)
    if isinstance(image, str | Path):
        image = load_image(image)
    results = []
    for spec in specs:
        label, k = kernel(spec)
        result = apply_kernel(image, k, sum_channels)
        results.append(KernelResult(label, k, result, to_display(result, range_mode)))
    return FilteredImage(to_display(image, "clip"), tuple(results), range_mode)


def filter_image(
    image: np.ndarray,
    specs: list[str],
    range_mode: RangeMode = "clip",
    sum_channels: bool = False,
) -> list[tuple[str, np.ndarray]]:
    """The original and each kernel's result, ready to show: ``[(title, uint8 H x W x C)]``."""
    return apply_kernels(image, specs, range_mode, sum_channels).panels


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
