"""Step-by-step views of the ops that use statistics or chance: global pooling, dropout, BN.

Each ``explain_*`` function computes a dataclass from the reference ops; ``render_*`` prints it,
and in a notebook the dataclass shows the same steps with its grids as HTML tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab import display
from cnnlab import reference as R
from cnnlab.explain.grids import (
    format_grid,
    html_grid,
    labelled,
    number,
    shape_text,
    side_by_side,
)


@dataclass(frozen=True)
class GlobalPoolSteps:
    """One maximum and one mean per channel of a ``C x H x W`` volume."""

    input: np.ndarray
    maxima: np.ndarray
    means: np.ndarray

    def __repr__(self) -> str:
        return (
            f"GlobalPoolSteps(input {shape_text(self.input.shape)}: max {_few(self.maxima)}; "
            f"mean {_few(self.means)})"
        )

    def _repr_html_(self) -> str:
        return global_pool_html(self)


def explain_global_pool(x: np.ndarray) -> GlobalPoolSteps:
    return GlobalPoolSteps(x, R.global_max_pool(x[None])[0], R.global_avg_pool(x[None])[0])


def _few(values: np.ndarray, shown: int = 4) -> str:
    """Up to ``shown`` values, then how many more: a repr stays one short line."""
    text = ", ".join(number(v) for v in values[:shown])
    return text + (f", ... ({len(values)} in all)" if len(values) > shown else "")


def _channel_stats(g: GlobalPoolSteps, c: int) -> tuple[str, str]:
    h, w = g.input.shape[1:]
    total = g.input[c].sum()
    return (
        f"global max  = {number(g.maxima[c])}",
        f"global mean = {number(total)} / {h * w} = {number(g.means[c])}",
    )


def _global_result(g: GlobalPoolSteps) -> str:
    return (
        f"global max pool -> {len(g.maxima)} values: {', '.join(number(v) for v in g.maxima)}; "
        f"global average pool -> {', '.join(number(v) for v in g.means)}"
    )


def render_global_pool(g: GlobalPoolSteps) -> list[str]:
    channels, h, w = g.input.shape
    lines = []
    for c in range(channels):
        top, mean = _channel_stats(g, c)
        lines += [f"channel {c} ({h}x{w}):", *format_grid(g.input[c]), f"  {top}", f"  {mean}"]
    lines.append(_global_result(g))
    return lines


def global_pool_html(g: GlobalPoolSteps) -> str:
    """One grid per channel, its maximum highlighted, with the two values under it."""
    channels, h, w = g.input.shape
    parts = [
        labelled(f"channel {c} ({h}x{w})", g.input[c], g.input[c] == g.maxima[c])
        + "".join(display.text(line) for line in _channel_stats(g, c))
        for c in range(channels)
    ]
    return display.block(display.row(*parts), display.text(_global_result(g)))


@dataclass(frozen=True)
class DropoutSteps:
    """One mask, the outputs of both conventions in training and at test time."""

    input: np.ndarray
    p: float
    mask: np.ndarray
    inverted_train: np.ndarray
    classic_train: np.ndarray
    classic_test: np.ndarray

    def __repr__(self) -> str:
        return (
            f"DropoutSteps(p={number(self.p)}, input {shape_text(self.input.shape)}: "
            f"{int(self.mask.sum())} of {self.mask.size} units kept)"
        )

    def _repr_html_(self) -> str:
        return dropout_html(self)


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


def _dropout_text(d: DropoutSteps) -> tuple[str, str, str, str]:
    """The sentences of the walk-through: p, the mask, then each convention's rule."""
    keep = 1 - d.p
    return (
        f"p = {number(d.p)} is the DROP probability; each unit is kept with 1 - p = {number(keep)}",
        f"mask: {int(d.mask.sum())} of {d.mask.size} units kept",
        f"inverted dropout (PyTorch, Keras): training x * mask / {number(keep)}; test: x",
        "classic dropout (Srivastava et al. 2014): training x * mask; "
        f"test: x * {number(keep)} (the keep probability)",
    )


def render_dropout(d: DropoutSteps) -> list[str]:
    rule, kept, inverted, classic = _dropout_text(d)
    return [
        rule,
        kept,
        *side_by_side([["input", *format_grid(d.input)], ["mask", *format_grid(d.mask)]]),
        inverted,
        *format_grid(d.inverted_train),
        classic,
        *side_by_side(
            [["training", *format_grid(d.classic_train)], ["test", *format_grid(d.classic_test)]]
        ),
    ]


def dropout_html(d: DropoutSteps) -> str:
    """The input beside the mask (dropped units highlighted), then both conventions."""
    rule, kept, inverted, classic = _dropout_text(d)
    dropped = d.mask == 0
    return display.block(
        display.text(rule),
        display.text(kept),
        display.row(labelled("input", d.input), labelled("mask", d.mask, dropped)),
        display.text(inverted),
        html_grid(d.inverted_train, dropped),
        display.text(classic),
        display.row(
            labelled("training", d.classic_train, dropped), labelled("test", d.classic_test)
        ),
    )


@dataclass(frozen=True)
class BatchNormSteps:
    """Batch norm of an ``N x C`` mini-batch (rows: samples, columns: features)."""

    input: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    momentum: float
    eps: float
    result: R.BatchNormResult

    def __repr__(self) -> str:
        n, c = self.input.shape
        return f"BatchNormSteps({n} samples x {c} features, momentum {number(self.momentum)})"

    def _repr_html_(self) -> str:
        return batchnorm_html(self)


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


def _batchnorm_text(bn: BatchNormSteps) -> tuple[str, str, str, str, str]:
    """The sentences of the walk-through, one before each grid or table."""
    n, c = bn.input.shape
    return (
        f"mini-batch of {n} samples (rows) x {c} features (columns):",
        f"normalized x_hat = (x - mu) / sqrt(sigma^2 + eps), eps = {bn.eps:g}:",
        f"scale and shift y = gamma * x_hat + beta (gamma = {number(bn.gamma[0])}, "
        f"beta = {number(bn.beta[0])}):",
        f"running statistics (start 0 and 1, momentum {number(bn.momentum)}; the variance "
        "enters unbiased, sigma^2 * n / (n - 1), as in PyTorch):",
        "at test time the running statistics replace mu and sigma^2",
    )


def render_batchnorm(bn: BatchNormSteps) -> list[str]:
    r = bn.result
    batch, normalized, scaled, running, at_test = _batchnorm_text(bn)
    return [
        batch,
        *format_grid(bn.input),
        "per feature, over the batch:",
        _row("mean mu", r.mean),
        _row("variance sigma^2 (1/n)", r.var),
        normalized,
        *format_grid(r.x_hat),
        scaled,
        *format_grid(r.y),
        running,
        _row("running mean", r.running_mean),
        _row("running variance", r.running_var),
        at_test,
    ]


def _feature_table(rows: dict[str, np.ndarray], caption: str | None = None) -> str:
    features = len(next(iter(rows.values())))
    header = ("", *(f"feature {i}" for i in range(features)))
    body = [(label, *(number(v) for v in values)) for label, values in rows.items()]
    return display.table(header, body, caption=caption)


def batchnorm_html(bn: BatchNormSteps) -> str:
    """The batch, its statistics per feature, x_hat and y as grids, the running statistics."""
    r = bn.result
    batch, normalized, scaled, running, at_test = _batchnorm_text(bn)
    statistics = {"mean mu": r.mean, "variance sigma^2 (1/n)": r.var}
    return display.block(
        display.text(batch),
        html_grid(bn.input),
        _feature_table(statistics, "per feature, over the batch"),
        display.text(normalized),
        html_grid(r.x_hat),
        display.text(scaled),
        html_grid(r.y),
        display.text(running),
        _feature_table({"running mean": r.running_mean, "running variance": r.running_var}),
        display.text(at_test),
    )
