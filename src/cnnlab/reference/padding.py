"""Borders shared by the reference ops: per-axis pairs, padding resolution, zero frames.

Output sizes and padding amounts come from :mod:`cnnlab.arith`; this module only applies them.
"""

from __future__ import annotations

import numpy as np

from cnnlab.arith import PaddingSpec, conv_output_length, resolve_padding
from cnnlab.errors import CnnlabError

Pair = int | tuple[int, int]
Padding2d = PaddingSpec | tuple[PaddingSpec, PaddingSpec]


def pair(value: Pair, name: str) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` stays (height, width)."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    if isinstance(value, tuple | list) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise CnnlabError(f"{name} must be an int or a (height, width) pair. Received: {value!r}")


def padding_pair(padding: Padding2d) -> tuple[PaddingSpec, PaddingSpec]:
    """One padding spec per axis: ``1``, ``"same"``, ``"valid"`` or ``(1, 2)``."""
    if isinstance(padding, tuple | list):
        if len(padding) != 2:
            raise CnnlabError(f"padding must be one spec or two. Received: padding={padding!r}")
        return padding[0], padding[1]
    return padding, padding


def window_geometry(
    hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: Padding2d,
    dilation: tuple[int, int],
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """``(top, bottom, left, right)`` padding and the output ``(H_out, W_out)`` of a window op."""
    specs = padding_pair(padding)
    borders = [resolve_padding(specs[a], hw[a], kernel[a], stride[a], dilation[a]) for a in (0, 1)]
    out = tuple(
        conv_output_length(hw[a], kernel[a], stride[a], specs[a], dilation[a]) for a in (0, 1)
    )
    return (*borders[0], *borders[1]), out


def border(x: np.ndarray, top: int, bottom: int, left: int, right: int, value=0.0) -> np.ndarray:
    """Frame the last two axes of ``x``: positive amounts add ``value``, negative ones crop."""
    pads = [(0, 0)] * (x.ndim - 2) + [(max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))]
    x = np.pad(x, pads, constant_values=value)
    h, w = x.shape[-2:]
    return x[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]


def window(
    xp: np.ndarray, i: int, j: int, kernel: tuple[int, int], stride: tuple[int, int], dilation
) -> tuple[slice, slice]:
    """The rows and columns of the padded input seen by output pixel ``(i, j)``."""
    r0, c0 = i * stride[0], j * stride[1]
    rows = slice(r0, r0 + dilation[0] * (kernel[0] - 1) + 1, dilation[0])
    cols = slice(c0, c0 + dilation[1] * (kernel[1] - 1) + 1, dilation[1])
    return rows, cols
