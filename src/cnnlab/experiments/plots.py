"""Line figures the experiments share: panels of curves (train vs validation, variant vs
variant, accuracy vs shift), drawn on a private Agg figure like :mod:`cnnlab.viz`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.viz._figure import new_figure, save_figure


@dataclass
class Line:
    """One curve: ``label``, x and y values, and matplotlib style keywords."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: dict = field(default_factory=dict)


@dataclass
class Panel:
    """One axes: title, axis labels, curves, and a log-scale y axis when ``log``."""

    title: str
    xlabel: str
    ylabel: str
    lines: list[Line]
    log: bool = False


def plot_panels(panels: Sequence[Panel], path: str | os.PathLike[str]) -> Path:
    """Panels side by side, each with its legend; written atomically to ``path``."""
    figure = new_figure(4.6 * len(panels), 3.6)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for line in panel.lines:
            ax.plot(list(line.x), list(line.y), label=line.label, **line.style)
        if panel.log:
            ax.set_yscale("log")
        ax.set_title(panel.title)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(figure, path)


def epochs_of(rows: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one history column, for a :class:`Line`."""
    kept = [r for r in rows if key in r]
    return [int(r["epoch"]) for r in kept], [float(r[key]) for r in kept]
