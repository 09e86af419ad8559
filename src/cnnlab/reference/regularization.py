"""Dropout (Srivastava et al., JMLR 2014) in its two conventions, in plain NumPy.

``p`` is the probability of DROPPING a unit, as in PyTorch and Keras; a unit is kept with
probability ``1 - p``. (The course notes' "Dropout" uses ``p`` for both the drop and the keep
probability.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from cnnlab.errors import CnnlabError

Mode = Literal["inverted", "classic"]


def _check_p(p: float) -> None:
    if not 0 <= p < 1:
        raise CnnlabError(f"dropout p must be in [0, 1) (the drop probability). Received: p={p}")


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli keep mask: 1 with probability ``1 - p``, 0 with probability ``p``."""
    _check_p(p)
    return (rng.random(shape) >= p).astype(float)


def dropout(
    x: np.ndarray,
    p: float,
    rng: np.random.Generator,
    training: bool = True,
    mode: Mode = "inverted",
) -> np.ndarray:
    """Drop each unit with probability ``p``.

    - ``inverted`` (PyTorch, Keras): training ``x * mask / (1 - p)``; test ``x``.
    - ``classic`` (the paper): training ``x * mask``; test ``x * (1 - p)``, the keep probability.

    Either way the expected output in training equals the test output.

    Args:
        x: any shape.
        p: drop probability in ``[0, 1)``.
        rng: the generator that draws the mask (only used in training).
        training: draw a mask (True) or apply the test-time rule (False).
        mode: ``"inverted"`` or ``"classic"``.

    Raises:
        CnnlabError: ``p`` outside ``[0, 1)`` or an unknown mode.
    """
    if mode not in ("inverted", "classic"):
        raise CnnlabError(f"dropout mode must be 'inverted' or 'classic'. Received: mode={mode!r}")
    if not training:
        _check_p(p)
        return x if mode == "inverted" else x * (1 - p)
    kept = x * dropout_mask(x.shape, p, rng).astype(x.dtype)
    return kept / (1 - p) if mode == "inverted" else kept
