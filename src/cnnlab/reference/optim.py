"""The parameter update of gradient descent (the course notes, "Addestramento di una CNN",
step 7), in plain NumPy."""

from __future__ import annotations

import numpy as np

from cnnlab.errors import CnnlabError


def sgd_step(
    param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """One SGD step with momentum, PyTorch's rule: ``v = mu * v + g``, ``w = w - lr * v``.

    With ``momentum = 0`` it is plain gradient descent, ``w = w - lr * g``.

    Args:
        param: the parameter ``w``.
        grad: ``dL/dw``, the shape of ``param``.
        velocity: ``v`` from the previous step (zeros at the first).
        lr: learning rate, > 0.
        momentum: ``mu`` in [0, 1).

    Returns:
        ``(new param, new velocity)``.

    Raises:
        CnnlabError: ``lr <= 0`` or ``momentum`` outside [0, 1).
    """
    if not lr > 0:
        raise CnnlabError(f"lr must be > 0. Received: lr={lr}")
    if not 0 <= momentum < 1:
        raise CnnlabError(f"momentum must be in [0, 1). Received: momentum={momentum}")
    velocity = momentum * velocity + grad
    return param - lr * velocity, velocity
