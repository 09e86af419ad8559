"""Flatten and fully connected (linear) layers with their gradients, in plain NumPy."""

from __future__ import annotations

import numpy as np


def flatten(x: np.ndarray) -> np.ndarray:
    """Keep the batch axis, lay out everything else in one row: ``N x C x H x W -> N x CHW``.

    The order is C, then H, then W (row-major), as ``torch.flatten(x, 1)``.
    """
    return x.reshape(x.shape[0], -1)


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Fully connected layer ``y = x W^T + b``.

    Args:
        x: ``N x in_features``.
        w: ``out_features x in_features`` (PyTorch's layout).
        b: ``out_features`` or None.

    Returns:
        ``N x out_features``.
    """
    y = x @ w.T
    return y if b is None else y + b


def linear_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear`: ``dx = dout W``, ``dW = dout^T x``, ``db = sum_n dout``."""
    return dout @ w, dout.T @ x, dout.sum(axis=0)
