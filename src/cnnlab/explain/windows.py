"""Step-by-step views of the sliding-window ops: convolution, transposed convolution, pooling.

Each ``explain_*`` function computes a dataclass from the reference ops (the data); each
``render_*`` turns it into lines of text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cnnlab import reference as R
from cnnlab.arith import conv_macs, transposed_macs
from cnnlab.explain.grids import check_at, format_grid, number, side_by_side
from cnnlab.reference.padding import Padding2d, border, pair, window, window_geometry


@dataclass(frozen=True)
class WindowSteps:
    """One sliding-window op on one ``C x H x W`` input, seen from output pixel ``at``."""

    padded: np.ndarray  # C x H_p x W_p
    pads: tuple[int, int, int, int]
    rows: slice
    cols: slice
    at: tuple[int, int]
    output: np.ndarray  # C_out x H_out x W_out

    @property
    def window(self) -> np.ndarray:
        return self.padded[:, self.rows, self.cols]

    @property
    def marked(self) -> np.ndarray:
        mask = np.zeros(self.padded.shape[1:], dtype=bool)
        mask[self.rows, self.cols] = True
        return mask


def _steps(x, kernel, stride, padding, dilation, at, output, fill=0.0) -> WindowSteps:
    k, s, d = pair(kernel, "kernel"), pair(stride, "stride"), pair(dilation, "dilation")
    pads, out_hw = window_geometry(x.shape[-2:], k, s, padding, d)
    check_at(at, out_hw)
    padded = border(x, *pads, value=fill)
    rows, cols = window(padded, *at, k, s, d)
    return WindowSteps(padded, pads, rows, cols, at, output)


@dataclass(frozen=True)
class ConvSteps:
    """A one-filter convolution: the window, its products with the kernel, their sum, + bias."""

    steps: WindowSteps
    kernel: np.ndarray  # C x k_h x k_w
    bias: float

    @property
    def products(self) -> np.ndarray:
        return self.steps.window * self.kernel

    @property
    def total(self) -> float:
        return float(self.products.sum())


def explain_conv(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: float = 0.0,
    stride=1,
    padding: Padding2d = 0,
    dilation=1,
    at: tuple[int, int] = (0, 0),
) -> ConvSteps:
    """Convolve ``x`` (``C x H x W``) with one filter (``C x k_h x k_w``) and keep the steps."""
    output = R.conv2d(x[None], kernel[None], np.array([bias]), stride, padding, dilation)[0]
    steps = _steps(x, kernel.shape[-2:], stride, padding, dilation, at, output)
    return ConvSteps(steps, kernel, bias)


def _pads_text(pads: tuple[int, int, int, int]) -> str:
    top, bottom, left, right = pads
    if len(set(pads)) == 1:
        return f"padding {top}"
    return f"padding top {top}, bottom {bottom}, left {left}, right {right}"


def _channel_label(c: int, channels: int) -> str:
    return f" (channel {c})" if channels > 1 else ""


def render_conv(conv: ConvSteps, show_input: bool = True) -> list[str]:
    s = conv.steps
    channels, (h, w) = s.padded.shape[0], s.padded.shape[1:]
    i, j = s.at
    lines = []
    if show_input:
        lines.append(
            f"input, {_pads_text(s.pads)} -> {h}x{w}; [ ] marks the window of output ({i},{j})"
        )
        for c in range(channels):
            lines += [f"input{_channel_label(c, channels)}:", *format_grid(s.padded[c], s.marked)]
    lines.append(f"output ({i},{j}): window x kernel, elementwise, then summed")
    for c in range(channels):
        blocks = [
            ["window", *format_grid(s.window[c])],
            ["kernel", *format_grid(conv.kernel[c])],
            ["products", *format_grid(conv.products[c])],
        ]
        lines += [f"channel {c}:"] if channels > 1 else []
        lines += side_by_side(blocks)
    per_channel = " + ".join(number(conv.products[c].sum()) for c in range(channels))
    summed = f"{per_channel} = {number(conv.total)}" if channels > 1 else number(conv.total)
    value = conv.total + conv.bias
    lines.append(f"sum of products = {summed}; + bias {number(conv.bias)} = {number(value)}")
    out_h, out_w = s.output.shape[-2:]
    lines += [f"output {out_h}x{out_w}:", *format_grid(s.output[0])]
    return lines


@dataclass(frozen=True)
class TransposedSteps:
    """The course notes' recipe ("Downsampling e Upsampling"): zero-inserted framed grid,
    stride-1 conv with the flipped kernel."""

    input: np.ndarray  # H x W
    kernel: np.ndarray  # k_h x k_w
    stride: tuple[int, int]
    frame: tuple[int, int, int, int]
    pattern: np.ndarray  # bool, where the input pixels land in the grid
    conv: ConvSteps
    recipe_products: int
    nonzero_products: int
    direct_products: int


def explain_transposed(
    x: np.ndarray,
    kernel: np.ndarray,
    stride=1,
    padding: int = 0,
    output_padding=0,
    bias: float = 0.0,
    at: tuple[int, int] = (0, 0),
) -> TransposedSteps:
    """Transposed convolution of ``x`` (``H x W``) by the recipe, keeping each stage."""
    grid = R.transposed_grid(x[None], kernel.shape, stride, padding, output_padding)
    pattern = R.transposed_grid(
        np.ones((1, *x.shape)), kernel.shape, stride, padding, output_padding
    )
    conv = explain_conv(grid, kernel[::-1, ::-1][None], bias, at=at)
    out_hw = conv.steps.output.shape[-2:]
    hits = R.conv2d(pattern[None], np.ones((1, 1, *kernel.shape)))
    return TransposedSteps(
        input=x,
        kernel=kernel,
        stride=pair(stride, "stride"),
        frame=R.transposed_frame(x.shape, kernel.shape, stride, padding, output_padding),
        pattern=pattern[0] > 0,
        conv=conv,
        recipe_products=conv_macs(out_hw, kernel.shape, 1, 1),
        nonzero_products=int(hits.sum()),
        direct_products=transposed_macs(x.shape, kernel.shape, 1, 1),
    )


def _same_or_both(a: int, b: int) -> str:
    return str(a) if a == b else f"{a} (rows), {b} (columns)"


def _frame_text(frame: tuple[int, int, int, int]) -> str:
    if len(set(frame)) == 1:
        return str(frame[0])
    return "top {}, bottom {}, left {}, right {}".format(*frame)


def render_transposed(t: TransposedSteps, symbolic: bool = False) -> list[str]:
    grid = t.conv.steps.padded[0]
    shown = np.where(t.pattern, "x", "0") if symbolic else None
    (h, w), (gh, gw) = t.input.shape, grid.shape
    s = t.stride
    lines = [
        f"input {h}x{w}:",
        *format_grid(t.input, symbols=np.full(t.input.shape, "x") if symbolic else None),
        f"step 1: s - 1 = {_same_or_both(s[0] - 1, s[1] - 1)} zeros between neighbouring pixels",
        f"step 2: a frame of d(f - 1) - p zeros: {_frame_text(t.frame)} -> {gh}x{gw}"
        + ("" if symbolic else "; [ ] marks the window of output ({},{})".format(*t.conv.steps.at))
        + ":",
        *format_grid(grid, marked=None if symbolic else t.conv.steps.marked, symbols=shown),
        "step 3: stride-1 convolution with the kernel flipped (rows and columns reversed):",
        *side_by_side(
            [["kernel", *format_grid(t.kernel)], ["flipped", *format_grid(t.conv.kernel[0])]]
        ),
    ]
    lines += render_conv(t.conv, show_input=False)
    lines.append(
        f"multiplications: the recipe performs {t.recipe_products:,}, of which "
        f"{t.nonzero_products:,} are by a real input pixel (the rest are by inserted zeros); "
        f"a direct transposed conv does {t.direct_products:,} (every pixel x every weight, "
        "before cropping the padding)"
    )
    return lines


@dataclass(frozen=True)
class PoolSteps:
    """Max or average pooling of a ``C x H x W`` input seen from one output pixel."""

    steps: WindowSteps
    mode: Literal["max", "avg"]


def explain_pool(
    x: np.ndarray,
    kernel=2,
    stride=None,
    padding: Padding2d = 0,
    mode: Literal["max", "avg"] = "max",
    at: tuple[int, int] = (0, 0),
) -> PoolSteps:
    """Pool ``x`` (``C x H x W``), keeping the window of output pixel ``at``."""
    op = R.max_pool2d if mode == "max" else R.avg_pool2d
    output = op(x[None], kernel, stride, padding)[0]
    s = pair(kernel, "kernel") if stride is None else stride
    fill = -np.inf if mode == "max" else 0.0
    return PoolSteps(_steps(x, kernel, s, padding, 1, at, output, fill), mode)


def render_pool(p: PoolSteps) -> list[str]:
    s = p.steps
    channels, (h, w) = s.padded.shape[0], s.padded.shape[1:]
    i, j = s.at
    lines = [f"input, {_pads_text(s.pads)} -> {h}x{w}; [ ] marks the window of output ({i},{j})"]
    for c in range(channels):
        window = s.window[c]
        value = window.max() if p.mode == "max" else window.mean()
        how = "max" if p.mode == "max" else f"mean = {number(window.sum())} / {window.size}"
        lines += [
            f"input{_channel_label(c, channels)}:",
            *format_grid(s.padded[c], s.marked),
            f"output ({i},{j}) = {how} of the window = {number(value)}",
        ]
    out_h, out_w = s.output.shape[-2:]
    for c in range(channels):
        lines += [
            f"output {out_h}x{out_w}{_channel_label(c, channels)}:",
            *format_grid(s.output[c]),
        ]
    return lines
