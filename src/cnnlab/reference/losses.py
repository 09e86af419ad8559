"""Softmax cross-entropy on integer labels, mean over the batch, and its gradient."""

from __future__ import annotations

import numpy as np

from cnnlab.reference.activations import softmax


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """``mean_n( log sum_j e^{z_nj} - z_{n, y_n} )``, the negative log-likelihood of the labels.

    Args:
        logits: ``N x K`` raw scores.
        labels: ``N`` integers in ``[0, K)``.
    """
    top = logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_sum - logits[np.arange(len(labels)), labels]))


def softmax_cross_entropy_backward(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``dL/dz = (softmax(z) - one_hot(y)) / N``."""
    grad = softmax(logits, axis=1)
    grad[np.arange(len(labels)), labels] -= 1
    return grad / len(labels)
