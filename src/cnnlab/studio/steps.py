"""``GET /api/arith/steps``: the grids to step a kernel over, one output position at a time.

The numbers come from :mod:`cnnlab.explain` on the course notes' kind of example (as
``cnnlab explain``): one channel of small integers 0..9 (seed 0) and a kernel of -1, 0, 1
(seed 1). The grid is the padded input (conv, pool) or the zero-inserted, framed input
(transposed), with each cell's role: ``input``, ``pad`` (padding), ``zero`` (inserted between
pixels) or ``frame`` (the transposed recipe's border).

The answer grows with the grid, the output and the kernel, not with any one option (a 32 x 32
input, kernel 32 and stride 32 transposed is a grid of a million cells), so the sizes are
computed first by :mod:`cnnlab.arith` and a request over :data:`MAX_CELLS` grid cells,
:data:`MAX_WINDOWS` output positions (each one a window to step through) or
:data:`MAX_WINDOW_CELLS` window cells (positions x kernel cells) is refused before any grid is
built.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from cnnlab import arith as A
from cnnlab import explain as E
from cnnlab.reference.padding import border, window
from cnnlab.shapes import parse_dims, parse_pair
from cnnlab.studio.arithmetic import check_kind, padding_text, text
from cnnlab.studio.errors import StudioError

MAX_SIDE = 32
MAX_CELLS = 10_000
MAX_WINDOWS = 5_000
MAX_WINDOW_CELLS = 250_000


def _values(grid: np.ndarray) -> list[list[float | None]]:
    """Grid values for JSON, with the -inf padding of max pooling as ``None``."""
    return [[float(v) if np.isfinite(v) else None for v in row] for row in grid]


def _small(pair: tuple[int, int], name: str) -> tuple[int, int]:
    """Step grids stay small: every size at most :data:`MAX_SIDE`."""
    if max(pair) > MAX_SIDE:
        raise StudioError(f"the step view takes {name} up to {MAX_SIDE}. Received: {pair}", 422)
    return pair


def _padding(value: str) -> str | tuple[int, int]:
    mode = value.strip().lower()
    if mode in ("same", "valid"):
        return mode
    return _small(parse_pair(value, "padding", minimum=0), "padding")


def _check_size(kind: str, hw, k, stride, padding: str, dilation, output_padding: str) -> None:
    """Refuse, before any work, a grid or a set of windows over the step view's limits."""
    shape, kernel = (*hw, 1), "x".join(map(str, k))
    strides, dilations = "x".join(map(str, stride)), "x".join(map(str, dilation))
    if kind == "transposed":  # the grid is the stride-1 convolution's input
        out = A.conv_transpose2d(shape, kernel, 1, strides, padding, output_padding).output_shape
        grid = (out[0] + k[0] - 1, out[1] + k[1] - 1)
    else:
        build = A.pool2d if kind == "pool" else partial(A.conv2d, filters=1)
        layer = build(shape, kernel, stride=strides, padding=padding, dilation=dilations)
        out, (top, bottom, left, right) = layer.output_shape, layer.padding
        grid = (hw[0] + top + bottom, hw[1] + left + right)
    if grid[0] * grid[1] > MAX_CELLS:
        raise StudioError(
            f"the step view shows grids up to {MAX_CELLS:,} cells; this one is "
            f"{grid[0]} x {grid[1]} = {grid[0] * grid[1]:,}",
            422,
        )
    if out[0] * out[1] > MAX_WINDOWS:
        raise StudioError(
            f"the step view steps through up to {MAX_WINDOWS:,} output positions; this one "
            f"has {out[0]} x {out[1]} = {out[0] * out[1]:,}",
            422,
        )
    work = out[0] * out[1] * k[0] * k[1]
    if work > MAX_WINDOW_CELLS:
        raise StudioError(
            f"the step view shows up to {MAX_WINDOW_CELLS:,} window cells (output positions x "
            f"kernel cells); this one has {out[0]} x {out[1]} x {k[0]} x {k[1]} = {work:,}",
            422,
        )


def _windows(grid: np.ndarray, output: np.ndarray, kernel, stride, dilation) -> list[dict]:
    steps = []
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            rows, cols = window(grid, i, j, kernel, stride, dilation)
            steps.append(
                {
                    "at": [i, j],
                    "rows": list(range(rows.start, rows.stop, rows.step)),
                    "cols": list(range(cols.start, cols.stop, cols.step)),
                    "value": float(output[i, j]),
                }
            )
    return steps


def _inside_border(shape: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
    """Where a ``shape`` block lies in its grid once framed (or cropped) by ``pads``."""
    return border(np.ones(shape), *pads) > 0


def steps_json(query: Mapping[str, str]) -> dict:
    """Grids, kernel, output and every window position for the options in ``query``."""
    kind = check_kind(text(query, "kind", "conv"))
    dims = parse_dims(text(query, "input"), name="input")
    if len(dims) not in (2, 3):
        raise StudioError(f"input must be H x W or H x W x C, like 7x7x1. Received: {dims}")
    h, w = _small((dims[0], dims[1]), "inputs")
    k = _small(parse_pair(text(query, "kernel"), "kernel"), "kernels")
    given = text(query, "stride", "")
    stride = parse_pair(given, "stride") if given else (k if kind == "pool" else (1, 1))
    stride = _small(stride, "strides")
    dilation = _small(parse_pair(text(query, "dilation", "1"), "dilation"), "dilations")
    pads = padding_text(query)
    padding = _padding(pads)
    if kind != "conv" and dilation != (1, 1):
        raise StudioError(f"the step view takes dilation 1 for {kind}. Received: {dilation}")
    output_padding = text(query, "output_padding", "0")
    _check_size(kind, (h, w), k, stride, pads, dilation, output_padding)
    x = E.default_volume((1, h, w), seed=0)  # 1 x H x W
    if kind == "pool":
        return _pool(x, k, stride, padding, text(query, "mode", "max"))
    weights = E.default_volume((1, *k), seed=1, low=-1, high=1)  # 1 x k_h x k_w
    if kind == "transposed":
        return _transposed(x[0], weights[0], stride, padding, output_padding)
    conv = E.explain_conv(x, weights, 0.0, stride, padding, dilation)
    grid, output = conv.steps.padded[0], conv.steps.output[0]
    return {
        "kind": kind,
        "input": _values(x[0]),
        "grid": _values(grid),
        "roles": np.where(_inside_border((h, w), conv.steps.pads), "input", "pad").tolist(),
        "kernel": _values(weights[0]),
        "kernel_note": "kernel",
        "output": _values(output),
        "windows": _windows(grid, output, k, stride, dilation),
    }


def _transposed(x, weights, stride, padding, output_padding: str) -> dict:
    extra = parse_pair(output_padding, "output_padding", minimum=0)
    t = E.explain_transposed(x, weights, stride, padding, extra)
    grid, output = t.conv.steps.padded[0], t.conv.steps.output[0]
    block = ((x.shape[0] - 1) * t.stride[0] + 1, (x.shape[1] - 1) * t.stride[1] + 1)
    roles = np.where(_inside_border(block, t.frame), "zero", "frame")
    return {
        "kind": "transposed",
        "input": _values(x),
        "grid": _values(grid),
        "roles": np.where(t.pattern, "input", roles).tolist(),
        "kernel": _values(t.conv.kernel[0]),
        "kernel_note": "kernel flipped (rows and columns reversed)",
        "output": _values(output),
        "windows": _windows(grid, output, weights.shape, (1, 1), (1, 1)),
    }


def _pool(x, k, stride, padding, mode: str) -> dict:
    if mode not in ("max", "avg"):
        raise StudioError(f"mode must be max or avg. Received: mode={mode[:20]!r}")
    pool = E.explain_pool(x, k, stride, padding, mode)
    grid, output = pool.steps.padded[0], pool.steps.output[0]
    return {
        "kind": "pool",
        "mode": mode,
        "input": _values(x[0]),
        "grid": _values(grid),
        "roles": np.where(_inside_border(x.shape[1:], pool.steps.pads), "input", "pad").tolist(),
        "kernel": None,
        "kernel_note": f"{mode} of the window",
        "output": _values(output),
        "windows": _windows(grid, output, k, stride, (1, 1)),
    }
