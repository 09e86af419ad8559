"""The transposed convolution by the course notes' recipe ("Downsampling e Upsampling"): insert
zeros, frame the grid, then a stride-1 convolution with the flipped kernel, whose steps are
:mod:`cnnlab.explain.windows`'. Text for a terminal, HTML tables for a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab import display
from cnnlab import reference as R
from cnnlab.arith import conv_macs, transposed_macs
from cnnlab.explain.grids import format_grid, html_grid, labelled, number, shape_text, side_by_side
from cnnlab.explain.windows import ConvSteps, conv_html, explain_conv, render_conv
from cnnlab.reference.padding import pair


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

    def __repr__(self) -> str:
        s = self.conv.steps
        return (
            f"TransposedSteps(input {shape_text(self.input.shape)}, kernel "
            f"{shape_text(self.kernel.shape)}, stride {shape_text(self.stride)} -> output "
            f"{shape_text(s.output.shape[-2:])}; output {s.where} = {number(s.output[(0, *s.at)])})"
        )

    def _repr_html_(self) -> str:
        return transposed_html(self)


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


def _steps_text(t: TransposedSteps) -> tuple[str, str, str]:
    """The three steps of the recipe, as one line each."""
    s, (gh, gw) = t.stride, t.conv.steps.padded.shape[1:]
    return (
        f"step 1: s - 1 = {_same_or_both(s[0] - 1, s[1] - 1)} zeros between neighbouring pixels",
        f"step 2: a frame of d(f - 1) - p zeros: {_frame_text(t.frame)} -> {gh}x{gw}",
        "step 3: stride-1 convolution with the kernel flipped (rows and columns reversed):",
    )


def _products_text(t: TransposedSteps) -> str:
    return (
        f"multiplications: the recipe performs {t.recipe_products:,}, of which "
        f"{t.nonzero_products:,} are by a real input pixel (the rest are by inserted zeros); "
        f"a direct transposed conv does {t.direct_products:,} (every pixel x every weight, "
        "before cropping the padding)"
    )


def render_transposed(t: TransposedSteps, symbolic: bool = False) -> list[str]:
    grid = t.conv.steps.padded[0]
    shown = np.where(t.pattern, "x", "0") if symbolic else None
    h, w = t.input.shape
    step1, step2, step3 = _steps_text(t)
    lines = [
        f"input {h}x{w}:",
        *format_grid(t.input, symbols=np.full(t.input.shape, "x") if symbolic else None),
        step1,
        step2
        + ("" if symbolic else f"; [ ] marks the window of output {t.conv.steps.where}")
        + ":",
        *format_grid(grid, marked=None if symbolic else t.conv.steps.marked, symbols=shown),
        step3,
        *side_by_side(
            [["kernel", *format_grid(t.kernel)], ["flipped", *format_grid(t.conv.kernel[0])]]
        ),
    ]
    lines += render_conv(t.conv, show_input=False)
    lines.append(_products_text(t))
    return lines


def transposed_html(t: TransposedSteps) -> str:
    """The recipe's grids as tables: the input, the framed grid with the window highlighted,
    the kernel and its flip, then the convolution's steps."""
    steps = t.conv.steps
    step1, step2, step3 = _steps_text(t)
    return display.block(
        labelled(f"input {shape_text(t.input.shape)}", t.input),
        display.text(step1),
        display.text(f"{step2}; the window of output {steps.where} is highlighted:"),
        html_grid(steps.padded[0], steps.marked),
        display.text(step3),
        display.row(labelled("kernel", t.kernel), labelled("flipped", t.conv.kernel[0])),
        *conv_html(t.conv, show_input=False),
        display.text(_products_text(t)),
    )
