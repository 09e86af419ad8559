"""Activations and their derivatives, elementwise, in plain NumPy.

The backward functions take the upstream gradient ``dout`` and the forward input ``x`` and
return ``dL/dx`` by the chain rule: ``dout * f'(x)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnlab.errors import CnnlabError


def relu(x: np.ndarray) -> np.ndarray:
    """``max(0, x)``."""
    return np.maximum(x, 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)``, computed without overflow for large ``|x|``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x: np.ndarray) -> np.ndarray:
    """``(e^x - e^-x) / (e^x + e^-x)``."""
    return np.tanh(x)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``e^x_i / sum_j e^x_j`` along ``axis`` (the maximum is subtracted first for stability)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def relu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``relu'(x)`` is 1 where ``x > 0`` and 0 elsewhere (0 at ``x = 0``, as PyTorch)."""
    return dout * (x > 0)


def sigmoid_derivative(x: np.ndarray) -> np.ndarray:
    """``sigma'(x) = sigma(x)(1 - sigma(x))``; at most 0.25, reached at ``x = 0``."""
    s = sigmoid(x)
    return s * (1 - s)


def sigmoid_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dout * sigma(x)(1 - sigma(x))``."""
    return dout * sigmoid_derivative(x)


def tanh_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dout * (1 - tanh(x)^2)``."""
    return dout * (1 - np.tanh(x) ** 2)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
}


def get_activation(name: str | Callable | None) -> Callable[[np.ndarray], np.ndarray]:
    """An activation by name (``relu``, ``sigmoid``, ``tanh``), a callable, or identity."""
    if name is None:
        return lambda x: x
    if callable(name):
        return name
    if name not in ACTIVATIONS:
        raise CnnlabError(
            f"activation must be one of {', '.join(ACTIVATIONS)}. Received: activation={name!r}"
        )
    return ACTIVATIONS[name]


DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: (x > 0).astype(float),
    "sigmoid": sigmoid_derivative,
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
}


def gradient_norms_through_depth(
    activation: str, depth: int, rng: np.random.Generator, width: int = 64
) -> list[float]:
    """Norm of the gradient reaching each layer of a ``depth``-layer MLP, top layer first.

    A unit gradient enters the top; each layer multiplies it by the activation's derivative and
    ``W^T``. With sigmoid (derivative <= 0.25) the norm shrinks geometrically: the vanishing
    gradient of the course notes' "Residual Networks". Weights are ``N(0, 1/width)`` so that
    mostly the derivative matters.
    """
    forward, derivative = get_activation(activation), DERIVATIVES[activation]
    a = rng.standard_normal(width)
    layers = []
    for _ in range(depth):
        w = rng.standard_normal((width, width)) / np.sqrt(width)
        z = w @ a
        layers.append((w, z))
        a = forward(z)
    grad, norms = np.ones(width), []
    for w, z in reversed(layers):
        grad = w.T @ (grad * derivative(z))
        norms.append(float(np.linalg.norm(grad)))
    return norms
