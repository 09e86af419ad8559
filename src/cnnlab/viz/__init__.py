"""Figures of a training run: curves, confusion matrix, prediction grid, segmentation samples,
and the learning-rate range test.

Inputs are plain numbers, numpy arrays or torch tensors, so this package does not depend on the
trainer; every function writes one ``.png`` (or ``.svg``) file atomically and returns its path,
or, given no path, returns the PNG bytes (what a notebook embeds: nothing is written).
"""

from cnnlab.viz.confusion import plot_confusion
from cnnlab.viz.curves import plot_history
from cnnlab.viz.lr_range import plot_lr_find
from cnnlab.viz.predictions import plot_predictions
from cnnlab.viz.segmentation import plot_segmentation

__all__ = [
    "plot_confusion",
    "plot_history",
    "plot_lr_find",
    "plot_predictions",
    "plot_segmentation",
]
