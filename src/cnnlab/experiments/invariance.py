"""Invariance: accuracy on shifted and rotated digits, trained with and without augmentation.

The course notes ("Local Receptive fields", "Downsampling e Upsampling"): weight sharing and
pooling give some invariance to small shifts; invariance to rotation has to be taught with
data augmentation.

Quick: the bundled digits in MNIST layout, 10 epochs per model. Full: MNIST (8,000 / 2,000 of
the test images), 15 epochs per model. Run times are in docs/experiments.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data import Dataset
from cnnlab.data.augment import to_float
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.data import describe_source, image_pair
from cnnlab.experiments.plots import Line, Panel, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.train.augmentation import get_augment


@dataclass(frozen=True)
class Settings:
    """``augment`` is the library's shift-rotate (+-10 degrees, +-10% shifts) for one model."""

    source: str
    epochs: int
    batch_size: int = 32
    lr: float = 2e-3
    augment: str = "shift-rotate"
    shifts: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8)
    angles: tuple[int, ...] = (0, 5, 10, 15, 20, 25, 30, 40, 50)
    seed: int = 0


QUICK = Settings(source="digits", epochs=10)
FULL = Settings(source="mnist", epochs=15)
VARIANTS = (("no augmentation", "none"), ("shift-rotate augmentation", "augment"))


def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move N x C x H x W images by whole pixels (right/down for positive), filling with 0."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)))
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[..., top : top + h, left : left + w]


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate N x C x H x W images about their centre (bilinear, zeros outside)."""
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]])
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def accuracy(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(part).argmax(1) for part in x.split(512)])
    return float((pred == labels).float().mean())


def shift_curve(model: nn.Module, data: Dataset, shifts) -> list[float]:
    """Accuracy at each shift, averaged over the four directions (left, right, up, down)."""
    x = to_float(data.images)
    moves = ((1, 0), (-1, 0), (0, 1), (0, -1))
    return [
        sum(accuracy(model, shift(x, k * a, k * b), data.labels) for a, b in moves) / 4
        for k in shifts
    ]


def angle_curve(model: nn.Module, data: Dataset, angles) -> list[float]:
    """Accuracy at each angle, averaged over clockwise and counter-clockwise."""
    x = to_float(data.images)
    return [
        sum(accuracy(model, rotate(x, sign * angle), data.labels) for sign in (1, -1)) / 2
        for angle in angles
    ]


def _mean_beyond(values: list[float], points, start: float) -> float:
    kept = [v for v, p in zip(values, points, strict=True) if p >= start]
    return sum(kept) / len(kept)


@register_experiment
def invariance(ctx: Context) -> Report:
    """Accuracy vs shift and rotation for a CNN trained with and without augmentation."""
    s = ctx.pick(QUICK, FULL)
    train, val = image_pair(ctx, s.source)
    curves = {}
    for label, key in VARIANTS:
        torch.manual_seed(s.seed)
        model = create_model("mnist-cnn")
        trainer = ctx.trainer(
            model,
            key,
            augment=None if key == "none" else get_augment(s.augment),
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=s.seed,
        )
        trainer.fit(train, val)
        curves[label] = (shift_curve(model, val, s.shifts), angle_curve(model, val, s.angles))
    report = Report(
        ctx,
        "Invariance to shifts and rotations",
        "The notes' simple CNN trained twice on the same data, once as is and once with random "
        "shifts (up to 10% of the side) and rotations (up to 10 degrees) of each training "
        "batch, then tested on validation digits moved by whole pixels and rotated. "
        + describe_source(s.source, len(train), len(val)),
        settings=s,
    )
    plain, augmented = (curves[label] for label, _ in VARIANTS)
    far_shift = {label: _mean_beyond(c[0], s.shifts, 4) for label, c in curves.items()}
    far_angle = {label: _mean_beyond(c[1], s.angles, 20) for label, c in curves.items()}
    for label, _ in VARIANTS:
        report.result(f"accuracy, unchanged images, {label}", curves[label][0][0])
        report.result(f"mean accuracy, shifts of 4-8 px, {label}", far_shift[label], headline=True)
        report.result(
            f"mean accuracy, rotations of 20-50 degrees, {label}", far_angle[label], headline=True
        )
    _figure(ctx, report, s, curves)
    a, b = (label for label, _ in VARIANTS)
    report.check(
        "augmentation makes the CNN more robust to large shifts",
        f"{far_shift[b]:.2%} vs {far_shift[a]:.2%}",
        far_shift[b] > far_shift[a],
    )
    report.check(
        "augmentation makes the CNN more robust to rotations",
        f"{far_angle[b]:.2%} vs {far_angle[a]:.2%}",
        far_angle[b] > far_angle[a],
    )
    report.check(
        "without augmentation accuracy falls with the shift (pooling gives only local invariance)",
        f"{plain[0][0]:.2%} at 0 px, {plain[0][-1]:.2%} at {s.shifts[-1]} px",
        plain[0][-1] < plain[0][0] - 0.1,
    )
    report.metrics.update(
        shift_accuracy_plain=far_shift[a],
        shift_accuracy_augmented=far_shift[b],
        angle_accuracy_plain=far_angle[a],
        angle_accuracy_augmented=far_angle[b],
        clean_accuracy_plain=plain[0][0],
        clean_accuracy_augmented=augmented[0][0],
    )
    return report


def _figure(ctx: Context, report: Report, s: Settings, curves) -> None:
    styles = ({"marker": "o"}, {"marker": "s", "linestyle": "--"})
    panels = [
        Panel(
            title,
            xlabel,
            "validation accuracy",
            [
                Line(label, points, curves[label][index], style)
                for (label, _), style in zip(VARIANTS, styles, strict=True)
            ],
        )
        for index, title, xlabel, points in (
            (0, "Shifted digits", "shift (pixels, 4 directions averaged)", s.shifts),
            (1, "Rotated digits", "rotation (degrees, both ways averaged)", s.angles),
        )
    ]
    path = plot_panels(panels, ctx.figure("invariance"))
    report.doc.heading("Accuracy against shift and rotation")
    report.doc.paragraph(
        "Weight sharing makes each feature map move with the input, and 2x2 max pooling "
        "absorbs shifts of a pixel or so; the dense head, though, has a weight for every "
        "position, so larger shifts hurt. Rotations change the features themselves: the "
        "network is robust only to what it has seen, which is what augmentation adds. Beyond "
        "the augmented range (10% = 2.8 px, 10 degrees) the benefit narrows."
    )
    report.doc.figure(path, "Validation accuracy against shift and rotation")
    rows = [
        [f"shift {k} px", *(f"{curves[label][0][i]:.2%}" for label, _ in VARIANTS)]
        for i, k in enumerate(s.shifts)
    ] + [
        [f"rotation {d} deg", *(f"{curves[label][1][i]:.2%}" for label, _ in VARIANTS)]
        for i, d in enumerate(s.angles)
    ]
    report.doc.table(["test images", *(label for label, _ in VARIANTS)], rows)
