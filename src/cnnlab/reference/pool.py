"""Max, average and global pooling with their gradients, in plain NumPy (NCHW).

Each output pixel summarizes one ``k_h x k_w`` window of its own channel; the window moves by
the stride (default: the kernel, so windows do not overlap). Sizes come from
:func:`cnnlab.arith.conv_output_length`.
"""

from __future__ import annotations

import numpy as np

from cnnlab.reference.padding import (
    Padding2d,
    Pair,
    border,
    padding_pair,
    pair,
    window,
    window_geometry,
)


def _geometry(x: np.ndarray, kernel: Pair, stride: Pair | None, padding: Padding2d):
    k = pair(kernel, "kernel")
    s = k if stride is None else pair(stride, "stride")
    pads, out = window_geometry(x.shape[-2:], k, s, padding, (1, 1))
    return k, s, pads, out


def _pool(x, kernel, stride, padding, reduce, fill) -> np.ndarray:
    k, s, pads, (h_out, w_out) = _geometry(x, kernel, stride, padding)
    xp = border(x, *pads, value=fill)
    out = np.zeros((*x.shape[:2], h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = window(xp, i, j, k, s, (1, 1))
            out[:, :, i, j] = reduce(xp[:, :, rows, cols], axis=(2, 3))
    return out


def max_pool2d(
    x: np.ndarray, kernel: Pair, stride: Pair | None = None, padding: Padding2d = 0
) -> np.ndarray:
    """Largest value of each window; padding counts as ``-inf`` (never chosen), as in PyTorch.

    Args:
        x: ``N x C x H x W``.
        kernel, stride: int or (height, width); stride defaults to the kernel.
        padding: int, ``"same"``, ``"valid"`` or one per axis.

    Returns:
        ``N x C x H_out x W_out``.
    """
    return _pool(x, kernel, stride, padding, np.max, -np.inf)


def window_counts(
    shape: tuple[int, int], kernel: Pair, stride: Pair | None = None, padding: Padding2d = 0
) -> np.ndarray:
    """How many cells each average-pooling window divides by (``H_out x W_out``).

    With ``"same"`` padding, only the real pixels: Keras and TensorFlow, whose 'same' the
    option promises, average what is inside the input. Integer padding counts the padded
    zeros too, PyTorch's default ``count_include_pad=True``: ``k_h * k_w`` everywhere.
    """
    ones = np.ones((1, 1, *shape))
    k = pair(kernel, "kernel")
    if "same" not in [str(p).lower() for p in padding_pair(padding)]:
        _, _, _, out = _geometry(ones, kernel, stride, padding)
        return np.full(out, float(k[0] * k[1]))
    return _pool(ones, kernel, stride, padding, np.sum, 0.0)[0, 0]


def avg_pool2d(
    x: np.ndarray, kernel: Pair, stride: Pair | None = None, padding: Padding2d = 0
) -> np.ndarray:
    """Mean of each window, divided by :func:`window_counts` (``"same"``: the real pixels, as
    Keras; integer padding: the padded zeros count, as PyTorch)."""
    total = _pool(x, kernel, stride, padding, np.sum, 0.0)
    return (total / window_counts(x.shape[-2:], kernel, stride, padding)).astype(x.dtype)


def max_pool2d_backward(
    dout: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair | None = None, padding=0
) -> np.ndarray:
    """Gradient of :func:`max_pool2d`: each ``dout`` goes to the (first) maximum of its window."""
    k, s, pads, (h_out, w_out) = _geometry(x, kernel, stride, padding)
    xp = border(x, *pads, value=-np.inf)
    dxp = np.zeros_like(xp)
    n, c = np.indices(x.shape[:2])
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = window(xp, i, j, k, s, (1, 1))
            flat = xp[:, :, rows, cols].reshape(*x.shape[:2], -1).argmax(axis=2)  # N x C
            u, v = np.unravel_index(flat, k)
            dxp[n, c, rows.start + u, cols.start + v] += dout[:, :, i, j]
    return border(dxp, *(-p for p in pads))


def avg_pool2d_backward(
    dout: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair | None = None, padding=0
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d`: each ``dout`` is shared equally by the cells it
    averaged (:func:`window_counts`; padded cells receive a share that is then cut away)."""
    k, s, pads, (h_out, w_out) = _geometry(x, kernel, stride, padding)
    counts = window_counts(x.shape[-2:], kernel, stride, padding)
    dxp = np.zeros_like(border(x, *pads))
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = window(dxp, i, j, k, s, (1, 1))
            dxp[:, :, rows, cols] += dout[:, :, i, j, None, None] / counts[i, j]
    return border(dxp, *(-p for p in pads))


def global_max_pool(x: np.ndarray) -> np.ndarray:
    """One number per feature map, its maximum: ``N x C x H x W -> N x C``."""
    return x.max(axis=(2, 3))


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """One number per feature map, its mean: ``N x C x H x W -> N x C``."""
    return x.mean(axis=(2, 3))
