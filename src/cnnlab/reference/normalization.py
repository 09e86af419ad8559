"""Batch normalization (Ioffe & Szegedy, ICML 2015) and its training-mode gradient, in NumPy.

Statistics are per channel (axis 1) over every other axis: the batch and, for images, the
pixels. Training normalizes with the batch statistics,
``x_hat = (x - mu) / sqrt(sigma^2 + eps)``, ``y = gamma * x_hat + beta``, with the biased
variance ``sigma^2 = mean((x - mu)^2)``; the running statistics move towards the batch ones
with ``momentum``, the variance taken unbiased (``* m / (m - 1)``) as PyTorch does. Evaluation
normalizes with the running statistics.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BatchNormResult(NamedTuple):
    """The output, the new running statistics, and the intermediate values for display."""

    y: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    x_hat: np.ndarray


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast over ``N x C x ...``."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> BatchNormResult:
    """Normalize, scale and shift per channel; never mutates the running statistics.

    Args:
        x: ``N x C`` or ``N x C x H x W``.
        gamma, beta: scale and shift, ``C``.
        running_mean, running_var: ``C``.
        training: batch statistics (True) or running statistics (False).

    Returns:
        :class:`BatchNormResult`; in evaluation the running statistics come back unchanged and
        ``mean``/``var`` are the running ones.
    """
    axes = (0, *range(2, x.ndim))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        m = x.size // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - _channel(mean, x.ndim)) / np.sqrt(_channel(var, x.ndim) + eps)
    y = _channel(gamma, x.ndim) * x_hat + _channel(beta, x.ndim)
    return BatchNormResult(y, running_mean, running_var, mean, var, x_hat)


def batch_norm_backward(
    dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of training-mode :func:`batch_norm`: ``(dx, dgamma, dbeta)``.

    With ``g = dout * gamma`` and ``m`` values per channel, the mean and variance depend on
    every input, which gives ``dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)``.
    """
    axes = (0, *range(2, x.ndim))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    inv_std = 1 / np.sqrt(_channel(var, x.ndim) + eps)
    x_hat = (x - _channel(mean, x.ndim)) * inv_std
    g = dout * _channel(gamma, x.ndim)
    dx = (
        g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
    ) * inv_std
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)
