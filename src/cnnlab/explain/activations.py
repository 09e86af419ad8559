"""Sigmoid, tanh and ReLU with their derivatives, and what the derivatives do to the gradient
through depth (the course notes, "Sigmoide e sua derivata", "Residual Networks": the vanishing
gradient, "Funzione di attivazione ReLu").

Backpropagation multiplies the gradient by ``f'(z)`` at every layer. ``sigma'(z) =
sigma(z)(1 - sigma(z)) <= 0.25``, so through ``L`` sigmoid layers (weights aside) the signal is
at most ``0.25^L`` of what it was; ReLU's derivative is exactly 1 for an active unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab import display
from cnnlab import reference as R
from cnnlab.errors import CnnlabError
from cnnlab.explain.grids import format_table, number

NAMES = ("sigmoid", "tanh", "relu")
FORWARD = {"sigmoid": R.sigmoid, "tanh": R.tanh, "relu": R.relu}
BACKWARD = {"sigmoid": R.sigmoid_backward, "tanh": R.tanh_backward, "relu": R.relu_backward}
SEARCH = np.linspace(-10.0, 10.0, 20_001)  # where the derivatives' maxima are looked for


def derivative(name: str, x: np.ndarray) -> np.ndarray:
    """``f'(x)`` from the reference backward op with an upstream gradient of 1."""
    return BACKWARD[name](np.ones_like(x), x)


def chain_gradient(name: str, depth: int, start: float) -> list[float]:
    """``d a_L / d a_0`` for ``a_l = f(a_{l-1})`` (weight 1, bias 0), ``a_0 = start``, for
    ``L = 1 .. depth``: the product of the ``L`` derivatives met on the way back."""
    a, product, products = np.array([start]), 1.0, []
    for _ in range(depth):
        product *= float(derivative(name, a)[0])
        products.append(product)
        a = FORWARD[name](a)
    return products


@dataclass(frozen=True)
class ActivationSteps:
    """Values and derivatives on a grid; the maxima of the derivatives; the depth table."""

    inputs: np.ndarray
    values: dict[str, np.ndarray]
    derivatives: dict[str, np.ndarray]
    maxima: dict[str, tuple[float, float]]
    start: float
    chains: dict[str, list[float]]

    @property
    def depth(self) -> int:
        return len(self.chains["sigmoid"])

    def __repr__(self) -> str:
        top = self.maxima["sigmoid"][0]
        return (
            f"ActivationSteps({len(self.inputs)} inputs; max sigmoid' = {number(top)}, so "
            f"{self.depth} layers shrink the gradient by at least {top**self.depth:.3g})"
        )

    def _repr_html_(self) -> str:
        return activations_html(self)


def explain_activations(inputs: np.ndarray, depth: int = 10, start: float = 0.5) -> ActivationSteps:
    """Sigmoid, tanh and ReLU and their derivatives at ``inputs``, and the gradient through
    ``1 .. depth`` layers of each, from ``a_0 = start``.

    Raises:
        CnnlabError: no inputs, or ``depth`` outside 1..60.
    """
    if not 1 <= depth <= 60:
        raise CnnlabError(f"depth must be between 1 and 60. Received: depth={depth}")
    x = np.asarray(inputs, dtype=float).ravel()
    if x.size == 0:
        raise CnnlabError("inputs must hold at least one number. Received none")
    maxima = {}
    for name in ("sigmoid", "tanh"):
        slopes = derivative(name, SEARCH)
        maxima[name] = (float(slopes.max()), float(SEARCH[slopes.argmax()]))
    return ActivationSteps(
        inputs=x,
        values={name: FORWARD[name](x) for name in NAMES},
        derivatives={name: derivative(name, x) for name in NAMES},
        maxima=maxima,
        start=start,
        chains={name: chain_gradient(name, depth, start) for name in NAMES},
    )


GRID_HEADER = ("x", "sigmoid", "sigmoid'", "tanh", "tanh'", "ReLU", "ReLU'")


def _grid_rows(a: ActivationSteps) -> list[tuple[str, ...]]:
    rows = []
    for i, x in enumerate(a.inputs):
        cells = [number(x)]
        for name in NAMES:
            cells += [number(a.values[name][i]), number(a.derivatives[name][i])]
        rows.append(tuple(cells))
    return rows


def _depth_header(a: ActivationSteps) -> tuple[str, ...]:
    top = number(a.maxima["sigmoid"][0])
    return ("layers L", f"bound {top}^L", "sigmoid chain", "tanh chain", "ReLU chain")


def _depth_rows(a: ActivationSteps) -> list[tuple[str, ...]]:
    top = a.maxima["sigmoid"][0]
    return [
        (str(L), f"{top**L:.3g}", *(f"{a.chains[name][L - 1]:.3g}" for name in NAMES))
        for L in range(1, a.depth + 1)
    ]


def _sentences(a: ActivationSteps) -> dict[str, str]:
    (s_top, s_at), (t_top, t_at) = a.maxima["sigmoid"], a.maxima["tanh"]
    far = np.array([5.0])
    return {
        "grid": "sigmoid(x) = 1 / (1 + e^-x), sigmoid'(x) = sigmoid(x)(1 - sigmoid(x)); "
        "tanh'(x) = 1 - tanh(x)^2; ReLU(x) = max(0, x), ReLU'(x) = 1 if x > 0 else 0:",
        "maxima": f"on [-10, 10]: max sigmoid' = {number(s_top)} at x = {number(s_at)}; "
        f"max tanh' = {number(t_top)} at x = {number(t_at)}",
        "depth": "backpropagation multiplies the gradient by f'(z) at every layer, so through L "
        f"sigmoid layers it keeps at most {number(s_top)}^L of its size (weights aside). "
        f"Chains a_l = f(a_(l-1)) from a_0 = {number(a.start)}, the product of the derivatives "
        "met on the way back:",
        "relu": "what ReLU changes: an active unit passes the gradient on unchanged (1^L = 1 "
        "at any depth) and an inactive one blocks it (0); it does not saturate for large x, where "
        f"sigmoid'(5) = {number(float(derivative('sigmoid', far)[0]))} and tanh'(5) = "
        f"{number(float(derivative('tanh', far)[0]))}",
    }


def render_activations(a: ActivationSteps) -> list[str]:
    s = _sentences(a)
    return [
        s["grid"],
        *format_table(GRID_HEADER, _grid_rows(a)),
        s["maxima"],
        s["depth"],
        *format_table(_depth_header(a), _depth_rows(a)),
        s["relu"],
    ]


def activations_html(a: ActivationSteps) -> str:
    """The same two tables with their sentences."""
    s = _sentences(a)
    return display.block(
        display.text(s["grid"]),
        display.table(GRID_HEADER, _grid_rows(a)),
        display.text(s["maxima"]),
        display.text(s["depth"]),
        display.table(_depth_header(a), _depth_rows(a)),
        display.text(s["relu"]),
    )
