"""Step-by-step views of the sliding-window ops: convolution and pooling (the transposed
convolution, built on the convolution's steps, is :mod:`cnnlab.explain.transposed`).

Each ``explain_*`` function computes a dataclass from the reference ops (the data); each
``render_*`` turns it into lines of text, and the dataclass shows itself in a notebook with
its grids as HTML tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cnnlab import display
from cnnlab import reference as R
from cnnlab.explain.grids import (
    check_at,
    format_grid,
    labelled,
    number,
    shape_text,
    side_by_side,
    spot,
)
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

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``C x H x W`` before padding."""
        c, h, w = self.padded.shape
        top, bottom, left, right = self.pads
        return c, h - top - bottom, w - left - right

    @property
    def where(self) -> str:
        """The output pixel explained, as the text names it: ``(0,1)``."""
        return f"({self.at[0]},{self.at[1]})"


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

    def __repr__(self) -> str:
        s = self.steps
        return (
            f"ConvSteps(input {shape_text(s.input_shape)}, kernel {shape_text(self.kernel.shape)}"
            f" -> output {shape_text(s.output.shape)}; output {s.where} = "
            f"{number(s.output[(0, *s.at)])})"
        )

    def _repr_html_(self) -> str:
        return display.block(*conv_html(self))


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


def _input_title(s: WindowSteps) -> str:
    h, w = s.padded.shape[1:]
    return f"input, {_pads_text(s.pads)} -> {h}x{w}"


def _sum_line(conv: ConvSteps) -> str:
    channels = conv.kernel.shape[0]
    per_channel = " + ".join(number(conv.products[c].sum()) for c in range(channels))
    summed = f"{per_channel} = {number(conv.total)}" if channels > 1 else number(conv.total)
    value = conv.total + conv.bias
    return f"sum of products = {summed}; + bias {number(conv.bias)} = {number(value)}"


def render_conv(conv: ConvSteps, show_input: bool = True) -> list[str]:
    s = conv.steps
    channels = s.padded.shape[0]
    lines = []
    if show_input:
        lines.append(f"{_input_title(s)}; [ ] marks the window of output {s.where}")
        for c in range(channels):
            lines += [f"input{_channel_label(c, channels)}:", *format_grid(s.padded[c], s.marked)]
    lines.append(f"output {s.where}: window x kernel, elementwise, then summed")
    for c in range(channels):
        blocks = [
            ["window", *format_grid(s.window[c])],
            ["kernel", *format_grid(conv.kernel[c])],
            ["products", *format_grid(conv.products[c])],
        ]
        lines += [f"channel {c}:"] if channels > 1 else []
        lines += side_by_side(blocks)
    lines.append(_sum_line(conv))
    out_h, out_w = s.output.shape[-2:]
    lines += [f"output {out_h}x{out_w}:", *format_grid(s.output[0])]
    return lines


def conv_html(conv: ConvSteps, show_input: bool = True) -> list[str]:
    """The steps of :func:`render_conv` as HTML parts, the window and the output highlighted."""
    s = conv.steps
    channels = s.padded.shape[0]
    parts = []
    if show_input:
        inputs = (
            labelled(f"input{_channel_label(c, channels)}", s.padded[c], s.marked)
            for c in range(channels)
        )
        parts += [
            display.text(f"{_input_title(s)}; the window of output {s.where} is highlighted"),
            display.row(*inputs),
        ]
    parts.append(display.text(f"output {s.where}: window x kernel, elementwise, then summed"))
    for c in range(channels):
        parts += [display.heading(f"channel {c}")] if channels > 1 else []
        parts.append(
            display.row(
                labelled("window", s.window[c]),
                labelled("kernel", conv.kernel[c]),
                labelled("products", conv.products[c]),
            )
        )
    out = s.output[0]
    title = f"output {out.shape[0]}x{out.shape[1]}"
    return [*parts, display.text(_sum_line(conv)), labelled(title, out, spot(out.shape, s.at))]


@dataclass(frozen=True)
class PoolSteps:
    """Max or average pooling of a ``C x H x W`` input seen from one output pixel."""

    steps: WindowSteps
    mode: Literal["max", "avg"]
    divisor: int = 0  # cells the mean of the shown window divides by (avg)

    def __repr__(self) -> str:
        s = self.steps
        return (
            f"PoolSteps({self.mode} over {shape_text(s.window.shape[1:])} windows, input "
            f"{shape_text(s.input_shape)} -> output {shape_text(s.output.shape)})"
        )

    def _repr_html_(self) -> str:
        return pool_html(self)


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
    divisor = int(R.window_counts(x.shape[-2:], kernel, stride, padding)[at])
    return PoolSteps(_steps(x, kernel, s, padding, 1, at, output, fill), mode, divisor)


def _pool_line(p: PoolSteps, c: int) -> str:
    window = p.steps.window[c]
    if p.mode == "max":
        return f"output {p.steps.where} = max of the window = {number(window.max())}"
    value = p.steps.output[(c, *p.steps.at)]
    pixels = "pixel" if p.divisor == 1 else "pixels"
    real = "" if p.divisor == window.size else f" (its {p.divisor} real {pixels}: 'same' as Keras)"
    how = f"mean = {number(window.sum())} / {p.divisor}{real}"
    return f"output {p.steps.where} = {how} of the window = {number(value)}"


def render_pool(p: PoolSteps) -> list[str]:
    s = p.steps
    channels = s.padded.shape[0]
    lines = [f"{_input_title(s)}; [ ] marks the window of output {s.where}"]
    for c in range(channels):
        lines += [
            f"input{_channel_label(c, channels)}:",
            *format_grid(s.padded[c], s.marked),
            _pool_line(p, c),
        ]
    out_h, out_w = s.output.shape[-2:]
    for c in range(channels):
        lines += [
            f"output {out_h}x{out_w}{_channel_label(c, channels)}:",
            *format_grid(s.output[c]),
        ]
    return lines


def pool_html(p: PoolSteps) -> str:
    """Each channel's input with the window highlighted, its value, then the outputs."""
    s = p.steps
    channels, (out_h, out_w) = s.padded.shape[0], s.output.shape[-2:]
    parts = [display.text(f"{_input_title(s)}; the window of output {s.where} is highlighted")]
    for c in range(channels):
        grid = labelled(f"input{_channel_label(c, channels)}", s.padded[c], s.marked)
        parts += [grid, display.text(_pool_line(p, c))]
    outputs = (
        labelled(
            f"output {out_h}x{out_w}{_channel_label(c, channels)}",
            s.output[c],
            spot((out_h, out_w), s.at),
        )
        for c in range(channels)
    )
    return display.block(*parts, display.row(*outputs))
