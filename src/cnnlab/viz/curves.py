"""Training curves: one panel per metric (train vs validation), then the learning rate."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from cnnlab.errors import CnnlabError
from cnnlab.viz._figure import finish, new_figure

SKIPPED = frozenset({"epoch", "time"})
LR_KEYS = ("lr", "learning_rate")
STYLES = {
    "train": {"color": "tab:blue", "linestyle": "-", "marker": "o", "label": "train"},
    "val": {"color": "tab:orange", "linestyle": "--", "marker": "s", "label": "validation"},
}
BEST_COLOR = "tab:green"
TITLES = {"iou": "IoU", "dice": "Dice", "macro_f1": "macro F1", "top5_accuracy": "top-5 accuracy"}


def split_key(key: str) -> tuple[str, str]:
    """``"val_loss"`` -> ``("loss", "val")``; ``"iou"``, ``"train_iou"`` -> ``("iou", "train")``."""
    for prefix, split in (("val_", "val"), ("train_", "train")):
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :], split
    return key, "train"


def lower_is_better(family: str) -> bool:
    """Losses and errors go down; accuracies, F1, IoU and Dice go up."""
    return "loss" in family or "error" in family


def as_number(value: object) -> float | None:
    """A metric value as a float (numbers, numpy or 0-d torch scalars); ``None`` for others."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return as_number(value.item())
    return None


def check_rows(rows: object) -> Sequence[Mapping[str, float]]:
    """A non-empty list of dicts.

    Raises:
        CnnlabError: anything else.
    """
    if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
        raise CnnlabError(
            f"history must be a non-empty list of per-epoch dicts. Received: {rows!r}"
        )
    bad = next((row for row in rows if not isinstance(row, Mapping)), None)
    if bad is not None:
        raise CnnlabError(f"every history row must be a dict of numbers. Received: {bad!r}")
    return rows


def collect_series(rows: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Every numeric key as one float array over the rows, NaN where a row lacks it.

    Keys holding anything but numbers (a note, a phase name) are left out.
    """
    keys = dict.fromkeys(key for row in rows for key in row)
    series = {}
    for key in keys:
        values = [as_number(row.get(key, math.nan)) for row in rows]
        if None not in values:
            series[key] = np.array(values, dtype=np.float64)
    return series


def group_metrics(series: Mapping[str, np.ndarray]) -> dict[str, dict[str, str]]:
    """``{family: {"train": key, "val": key}}``: loss first, then others as they first appear."""
    groups: dict[str, dict[str, str]] = {}
    for key in series:
        if key not in SKIPPED and key not in LR_KEYS:
            family, split = split_key(key)
            groups.setdefault(family, {}).setdefault(split, key)
    if "loss" in groups:
        groups = {"loss": groups.pop("loss"), **groups}
    return groups


def best_epoch(series: Mapping[str, np.ndarray]) -> tuple[str, int] | None:
    """The first validation metric with a finite value and the row index of its best value."""
    for key, values in series.items():
        family, split = split_key(key)
        if split == "val" and np.isfinite(values).any():
            finite = np.where(np.isfinite(values), values, np.nan)
            pick = np.nanargmin if lower_is_better(family) else np.nanargmax
            return key, int(pick(finite))
    return None


def epoch_axis(rows: Sequence[Mapping[str, float]], series: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``epoch`` values when every row has one, else 1, 2, 3, ..."""
    epochs = series.get("epoch")
    if epochs is None or not np.isfinite(epochs).all():
        return np.arange(1, len(rows) + 1, dtype=np.float64)
    return epochs


def draw_lr(ax: Axes, epochs: np.ndarray, lr: np.ndarray, marker_size: float) -> None:
    """The learning rate, on a log scale once it spans more than a factor of 10."""
    ax.plot(epochs, lr, color="tab:gray", marker="o", markersize=marker_size)
    positive = lr[np.isfinite(lr) & (lr > 0)]
    title = "learning rate"
    if positive.size and positive.max() > 10 * positive.min():
        ax.set_yscale("log")
    elif positive.size and positive.max() == positive.min():
        ax.set_ylim(0, 2 * positive.max())
        title += f" (constant {positive.max():g})"
    ax.set_title(title)


def draw_metric(
    ax: Axes,
    epochs: np.ndarray,
    series: Mapping[str, np.ndarray],
    keys: Mapping[str, str],
    marker_size: float,
) -> None:
    """Train then validation curve of one metric, in the same colours in every panel."""
    for split in ("train", "val"):
        if split in keys:
            ax.plot(epochs, series[keys[split]], markersize=marker_size, **STYLES[split])


def mark_best(ax: Axes, epoch: float, value: float) -> None:
    """A ring around the best validation value."""
    ax.plot(
        epoch,
        value,
        "o",
        markersize=12,
        markerfacecolor="none",
        markeredgecolor=BEST_COLOR,
        markeredgewidth=2,
        label="best",
    )


def epoch_ticks(ax: Axes, epochs: np.ndarray, best: float | None) -> None:
    """Whole-number epoch ticks, room around a single epoch, a dotted line at the best one."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if epochs.size == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.set_xticks(epochs)
    if best is not None:
        ax.axvline(best, color=BEST_COLOR, linestyle=":", linewidth=1.2)


def plot_history(
    rows: Sequence[Mapping[str, float]], path: str | os.PathLike[str] | None = None
) -> Path | bytes:
    """Loss, every other metric and the learning rate per epoch, saved to ``path``.

    Args:
        rows: one dict per epoch, e.g. ``{"epoch": 1, "loss": 0.5, "val_loss": 0.4, "lr": 1e-3}``;
            ``val_*`` keys are validation; keys may be missing or NaN in some rows. Values may
            be Python, numpy or 0-d torch numbers; ``epoch`` and ``time`` get no panel.
        path: ``.png`` (default) or ``.svg`` file, written atomically; None: the PNG bytes
            are returned instead (a notebook shows them).

    The best epoch of the first validation metric is circled and marked in every panel.

    Raises:
        CnnlabError: no rows, a row that is not a dict, or no metric to plot.
    """
    rows = check_rows(rows)
    series = collect_series(rows)
    groups = group_metrics(series)
    lr_key = next((k for k in LR_KEYS if k in series), None)
    if not groups and lr_key is None:
        raise CnnlabError(f"history rows hold no metric to plot. Received keys: {sorted(series)}")
    epochs = epoch_axis(rows, series)
    panels = len(groups) + (lr_key is not None)
    cols, grid_rows = min(3, panels), math.ceil(panels / min(3, panels))
    figure = new_figure(4.2 * cols, 3.1 * grid_rows + 0.4)
    axes = figure.subplots(grid_rows, cols, squeeze=False).ravel()
    marker_size = 5 if len(rows) <= 30 else 2
    for ax, (family, keys) in zip(axes, groups.items(), strict=False):
        draw_metric(ax, epochs, series, keys, marker_size)
        ax.set_title(TITLES.get(family, family.replace("_", " ")))
    if lr_key is not None:
        draw_lr(axes[len(groups)], epochs, series[lr_key], marker_size)
    best = best_epoch(series)
    title = f"training history, {len(rows)} epoch{'s' * (len(rows) != 1)}"
    if best is not None:
        key, index = best
        mark_best(axes[list(groups).index(split_key(key)[0])], epochs[index], series[key][index])
        title += f" (best {key} {series[key][index]:.4g} at epoch {epochs[index]:g})"
    for ax in axes[:panels]:
        epoch_ticks(ax, epochs, None if best is None else epochs[best[1]])
    for ax in axes[: len(groups)]:
        ax.legend(fontsize="small")
    for ax in axes[panels:]:
        ax.set_axis_off()
    figure.suptitle(title)
    return finish(figure, path)
