"""Step-by-step views of the ops that use statistics or chance: global pooling, dropout, BN.

Each ``explain_*`` function computes a dataclass from the reference ops; ``render_*`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab import reference as R
from cnnlab.explain.grids import format_grid, number, side_by_side


@dataclass(frozen=True)
class GlobalPoolSteps:
    """One maximum and one mean per channel of a ``C x H x W`` volume."""

    input: np.ndarray
    maxima: np.ndarray
    means: np.ndarray


def explain_global_pool(x: np.ndarray) -> GlobalPoolSteps:
    return GlobalPoolSteps(x, R.global_max_pool(x[None])[0], R.global_avg_pool(x[None])[0])


def render_global_pool(g: GlobalPoolSteps) -> list[str]:
    channels, h, w = g.input.shape
    lines = []
    for c in range(channels):
        total = g.input[c].sum()
        lines += [
            f"channel {c} ({h}x{w}):",
            *format_grid(g.input[c]),
            f"  global max  = {number(g.maxima[c])}",
            f"  global mean = {number(total)} / {h * w} = {number(g.means[c])}",
        ]
    lines.append(
        f"global max pool -> {channels} values: {', '.join(number(v) for v in g.maxima)}; "
        f"global average pool -> {', '.join(number(v) for v in g.means)}"
    )
    return lines


@dataclass(frozen=True)
class DropoutSteps:
    """One mask, the outputs of both conventions in training and at test time."""

    input: np.ndarray
    p: float
    mask: np.ndarray
    inverted_train: np.ndarray
    classic_train: np.ndarray
    classic_test: np.ndarray


def explain_dropout(x: np.ndarray, p: float, seed: int) -> DropoutSteps:
    """Drop with probability ``p``; the same seed gives the same mask to both conventions."""
    return DropoutSteps(
        input=x,
        p=p,
        mask=R.dropout_mask(x.shape, p, np.random.default_rng(seed)),
        inverted_train=R.dropout(x, p, np.random.default_rng(seed), mode="inverted"),
        classic_train=R.dropout(x, p, np.random.default_rng(seed), mode="classic"),
        classic_test=R.dropout(x, p, np.random.default_rng(seed), training=False, mode="classic"),
    )


def render_dropout(d: DropoutSteps) -> list[str]:
    keep = 1 - d.p
    kept = int(d.mask.sum())
    return [
        f"p = {number(d.p)} is the DROP probability; each unit is kept with 1 - p = {number(keep)}",
        f"mask: {kept} of {d.mask.size} units kept",
        *side_by_side([["input", *format_grid(d.input)], ["mask", *format_grid(d.mask)]]),
        f"inverted dropout (PyTorch, Keras): training x * mask / {number(keep)}; test: x",
        *format_grid(d.inverted_train),
        "classic dropout (Srivastava et al. 2014): training x * mask; "
        f"test: x * {number(keep)} (the keep probability)",
        *side_by_side(
            [["training", *format_grid(d.classic_train)], ["test", *format_grid(d.classic_test)]]
        ),
    ]


@dataclass(frozen=True)
class BatchNormSteps:
    """Batch norm of an ``N x C`` mini-batch (rows: samples, columns: features)."""

    input: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    momentum: float
    eps: float
    result: R.BatchNormResult


def explain_batchnorm(
    x: np.ndarray, gamma: float = 1.0, beta: float = 0.0, momentum: float = 0.1, eps: float = 1e-5
) -> BatchNormSteps:
    """Training-mode batch norm from running statistics 0 (mean) and 1 (variance)."""
    c = x.shape[1]
    g, b = np.full(c, gamma), np.full(c, beta)
    result = R.batch_norm(x, g, b, np.zeros(c), np.ones(c), True, momentum, eps)
    return BatchNormSteps(x, g, b, momentum, eps, result)


def _row(label: str, values: np.ndarray) -> str:
    return f"{label:<26}" + "  ".join(number(v).rjust(8) for v in values)


def render_batchnorm(bn: BatchNormSteps) -> list[str]:
    n, _ = bn.input.shape
    r = bn.result
    m = bn.momentum
    return [
        f"mini-batch of {n} samples (rows) x {bn.input.shape[1]} features (columns):",
        *format_grid(bn.input),
        "per feature, over the batch:",
        _row("mean mu", r.mean),
        _row("variance sigma^2 (1/n)", r.var),
        f"normalized x_hat = (x - mu) / sqrt(sigma^2 + eps), eps = {bn.eps:g}:",
        *format_grid(r.x_hat),
        f"scale and shift y = gamma * x_hat + beta (gamma = {number(bn.gamma[0])}, "
        f"beta = {number(bn.beta[0])}):",
        *format_grid(r.y),
        f"running statistics (start 0 and 1, momentum {number(m)}; the variance enters "
        f"unbiased, sigma^2 * n / (n - 1), as in PyTorch):",
        _row("running mean", r.running_mean),
        _row("running variance", r.running_var),
        "at test time the running statistics replace mu and sigma^2",
    ]
