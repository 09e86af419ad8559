"""Max, average and global pooling with their gradients, in plain NumPy (NCHW).

Each output pixel summarizes one ``k_h x k_w`` window of its own channel; the window moves by
the stride (default: the kernel, so windows do not overlap). Sizes come from
:func:`cnnlab.arith.conv_output_length`.
"""

from __future__ import annotations

import numpy as np

from cnnlab.reference.padding import Padding2d, Pair, border, pair, window, window_geometry


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


def avg_pool2d(
    x: np.ndarray, kernel: Pair, stride: Pair | None = None, padding: Padding2d = 0
) -> np.ndarray:
    """Mean of each window; padded zeros are counted (PyTorch's ``count_include_pad=True``)."""
    return _pool(x, kernel, stride, padding, np.mean, 0.0)


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
    """Gradient of :func:`avg_pool2d`: each ``dout`` is shared equally by its ``k_h k_w`` cells."""
    k, s, pads, (h_out, w_out) = _geometry(x, kernel, stride, padding)
    dxp = np.zeros_like(border(x, *pads))
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = window(dxp, i, j, k, s, (1, 1))
            dxp[:, :, rows, cols] += dout[:, :, i, j, None, None] / (k[0] * k[1])
    return border(dxp, *(-p for p in pads))


def global_max_pool(x: np.ndarray) -> np.ndarray:
    """One number per feature map, its maximum: ``N x C x H x W -> N x C``."""
    return x.max(axis=(2, 3))


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """One number per feature map, its mean: ``N x C x H x W -> N x C``."""
    return x.mean(axis=(2, 3))
