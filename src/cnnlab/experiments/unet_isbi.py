"""U-Net on the ISBI 2012 membranes (Ronneberger, Fischer & Brox, MICCAI 2015).

Needs ``isbi2012/`` (30 labelled 512x512 slices: 24 train / 6 validation). Two variants of the
same network: "same" padding (output = input) and the paper's "valid" padding, whose output is
smaller than its input; the latter predicts a whole slice with the overlap-tile strategy:
mirror the slice's borders by the network's margin, predict tiles, stitch their centres.

Quick: slices halved to 256x256, base width 8, depth 3, batch norm, 5 epochs of flip and
elastic augmentation. Full: full-size slices and the paper's network (base width 64, depth 4,
572x572 valid tiles, no normalization), 40 epochs. Run times are in docs/experiments.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab import viz
from cnnlab.data import Dataset
from cnnlab.data.augment import to_float
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.plots import Line, Panel, epochs_of, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.models.unet import unet_sizes
from cnnlab.train.augmentation import get_augment
from cnnlab.train.metrics import confusion_matrix, predicted_class, segmentation_report

MEMBRANE, CELL = 0, 1
LITERATURE = "warping error 0.000353, Rand error 0.0382 (challenge test set; Ronneberger 2015)"


@dataclass(frozen=True)
class Settings:
    """``side``: slices are resized to side x side; ``tile``: the same-padding training tile;
    ``valid_input``: the valid-padding network's input tile (its output is smaller)."""

    side: int
    base_width: int
    depth: int
    tile: int
    valid_input: int
    epochs: int
    batch_size: int = 8
    lr: float = 1e-3
    norm_layer: str | None = None
    augment: str = "flip-elastic"
    seed: int = 0


QUICK = Settings(
    side=256,
    base_width=8,
    depth=3,
    tile=128,
    valid_input=220,
    epochs=5,
    batch_size=4,
    lr=3e-3,
    norm_layer="batch",
)
FULL = Settings(
    side=512, base_width=64, depth=4, tile=256, valid_input=572, epochs=40, batch_size=2
)


def resize_slices(data: Dataset, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (antialiased) and masks (a pixel is cell when most of its area is) at ``side``."""
    if data.images.shape[-1] == side:
        return data.images, data.masks
    images = F.interpolate(to_float(data.images), size=(side, side), mode="area")
    factor = data.images.shape[-1] // side
    cell = F.avg_pool2d((data.masks == CELL).float()[:, None], factor)[:, 0]
    return (images * 255).round().to(torch.uint8), (cell > 0.5).long()


def mirror_tiles(
    images: torch.Tensor, masks: torch.Tensor, size: int, out: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap tiles: the slices mirrored at the borders by ``(size - out) / 2`` and cut into
    ``size`` x ``size`` tiles whose centres ``out`` x ``out`` tile each slice exactly once
    (Ronneberger et al., fig. 2). ``size == out`` gives plain non-overlapping tiles."""
    padded_x, padded_y = (
        _mirror(images.float(), size, out),
        _mirror(masks[:, None].float(), size, out),
    )
    steps = math.ceil(images.shape[-1] / out)
    xs, ys = [], []
    for i in range(steps):
        for j in range(steps):
            window = (..., slice(i * out, i * out + size), slice(j * out, j * out + size))
            xs.append(padded_x[window])
            ys.append(padded_y[window][:, 0])
    return torch.cat(xs).to(torch.uint8), torch.cat(ys).long()  # N x 1 x size x size


def _mirror(x: torch.Tensor, size: int, out: int) -> torch.Tensor:
    """Reflect-pad N x C x H x W by the margin, plus enough to make H a multiple of ``out``."""
    margin = (size - out) // 2
    extra = math.ceil(x.shape[-1] / out) * out - x.shape[-1]
    return F.pad(x, (margin, margin + extra, margin, margin + extra), mode="reflect")


def overlap_tile_predict(model: nn.Module, images: torch.Tensor, size: int) -> torch.Tensor:
    """Class maps N x H x W for whole uint8 slices N x 1 x H x W with a network that maps
    ``size`` x ``size`` tiles to smaller ones (valid padding) or to the same size."""
    model.eval()
    out = unet_sizes(size, model.depth, model.padding).output
    side = images.shape[-1]
    padded = _mirror(to_float(images), size, out)
    steps = math.ceil(side / out)
    result = torch.empty(len(images), steps * out, steps * out, dtype=torch.int64)
    with torch.no_grad():
        for i in range(steps):
            for j in range(steps):
                tile = padded[..., i * out : i * out + size, j * out : j * out + size]
                pred = predicted_class(model(tile))
                result[:, i * out : (i + 1) * out, j * out : (j + 1) * out] = pred
    return result[:, :side, :side]


def scores(pred: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy, IoU and Dice of the cell class (the library's reading for two classes)
    and the Dice of the membranes."""
    report = segmentation_report(confusion_matrix(pred, masks, 2))
    return {
        "pixel_accuracy": report["pixel_accuracy"],
        "iou": report["iou"],
        "dice": report["dice"],
        "membrane_dice": report["per_class"]["dice"][MEMBRANE],
    }


@register_experiment
def unet_isbi(ctx: Context) -> Report:
    """U-Net on ISBI 2012: same vs valid padding with overlap-tile prediction, IoU and Dice."""
    s = ctx.pick(QUICK, FULL)
    train, val = ctx.load("isbi2012", "train"), ctx.load("isbi2012", "validation")
    train_x, train_y = resize_slices(train, s.side)
    val_x, val_y = resize_slices(val, s.side)
    valid_out = unet_sizes(s.valid_input, s.depth, "valid").output
    variants = {"same": (s.tile, s.tile), "valid": (s.valid_input, valid_out)}
    histories, predictions, models = {}, {}, {}
    for padding, (size, out) in variants.items():
        torch.manual_seed(s.seed)
        model = create_model(
            "unet",
            padding=padding,
            base_width=s.base_width,
            depth=s.depth,
            norm_layer=s.norm_layer,
            image_size=size,
        )
        trainer = ctx.trainer(
            model,
            padding,
            augment=get_augment(s.augment),
            classes=["membrane", "cell"],
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=s.seed,
            monitor="val_dice",
        )
        tiles = [
            replace(d, images=x, masks=y)
            for d, (x, y) in zip(
                (train, val),
                (mirror_tiles(train_x, train_y, size, out), mirror_tiles(val_x, val_y, size, out)),
                strict=True,
            )
        ]
        histories[padding] = trainer.fit(*tiles).rows
        predictions[padding] = overlap_tile_predict(model, val_x, size)
        models[padding] = model
    results = {p: scores(pred, val_y) for p, pred in predictions.items()}
    cell_share = float((val_y == CELL).float().mean())
    trivial = 2 * cell_share / (1 + cell_share)
    report = Report(
        ctx,
        "U-Net on ISBI 2012 membranes",
        f"24 training and 6 validation slices of the ISBI 2012 EM stack, at {s.side}x{s.side}; "
        f"U-Net with base width {s.base_width} and depth {s.depth}"
        + (
            " and batch norm after each convolution (the paper has none; it lets the small "
            "network learn in a few epochs)"
            if s.norm_layer
            else ""
        )
        + ", trained on tiles with the paper's augmentation (mirroring, 90-degree turns, "
        "elastic deformation). Scores are on "
        "the 6 whole validation slices. Dice and IoU are those of the cell class, as the "
        "library reports them for two classes; predicting 'cell' everywhere already gives a "
        f"cell Dice of {trivial:.2%} ({cell_share:.0%} of the pixels are cell), so the membrane "
        "Dice is the harder number.",
        settings=s,
    )
    for padding, result in results.items():
        report.result(f"{padding} padding: pixel accuracy", result["pixel_accuracy"])
        report.result(f"{padding} padding: IoU (cell)", result["iou"])
        report.result(
            f"{padding} padding: Dice (cell)",
            result["dice"],
            headline=True,
            literature=LITERATURE if padding == "valid" else "",
        )
        report.result(f"{padding} padding: Dice (membrane)", result["membrane_dice"], headline=True)
    report.result("'all cell' prediction: Dice (cell)", trivial)
    _figures(ctx, report, s, variants, histories, predictions, val_x, val_y)
    for padding, result in results.items():
        report.check(
            f"{padding} padding: the U-Net finds the membranes",
            f"membrane Dice {result['membrane_dice']:.2%} (bar 60%), cell Dice "
            f"{result['dice']:.2%} > all-cell {trivial:.2%}",
            result["membrane_dice"] > 0.6 and result["dice"] > trivial,
        )
    report.check(
        "overlap-tile prediction covers every pixel of the slice",
        f"{tuple(predictions['valid'].shape[-2:])} from {valid_out}x{valid_out} tile outputs",
        predictions["valid"].shape == val_y.shape,
    )
    report.metrics.update(
        {f"{p}_{k}": v for p, r in results.items() for k, v in r.items()}
        | {"trivial_cell_dice": trivial}
    )
    return report


def _figures(ctx, report, s, variants, histories, predictions, val_x, val_y) -> None:
    lines = []
    for padding, color in (("same", "tab:blue"), ("valid", "tab:red")):
        lines.append(
            Line(
                f"{padding}, train",
                *epochs_of(histories[padding], "dice"),
                {"color": color, "linestyle": "--"},
            )
        )
        lines.append(
            Line(
                f"{padding}, validation tiles",
                *epochs_of(histories[padding], "val_dice"),
                {"color": color},
            )
        )
    curve = plot_panels(
        [Panel("Dice (cell) per epoch", "epoch", "Dice", lines)], ctx.figure("dice")
    )
    size, out = variants["valid"]
    report.doc.heading("Same and valid padding, overlap-tile prediction")
    report.doc.paragraph(
        f"With 'same' padding every 3x3 convolution keeps the size, so a {s.tile}x{s.tile} "
        f"tile gives a {s.tile}x{s.tile} map and a whole slice can be predicted at once. With "
        f"the paper's 'valid' padding a {size}x{size} tile gives only its central "
        f"{out}x{out} (each unpadded convolution trims a pixel per side; the skips are cropped "
        f"to match). To predict a whole slice the slice is mirrored at its borders by "
        f"{(size - out) // 2} pixels and cut into {size}x{size} tiles at a stride of {out}, so "
        "the tile outputs cover the slice exactly; training tiles are cut the same way and the "
        "trainer compares each output with the centre of its mask."
    )
    report.doc.figure(curve, "Dice per epoch (validation on tiles)")
    for padding, pred in predictions.items():
        path = viz.plot_segmentation(
            val_x,
            val_y,
            pred,
            ctx.figure(f"overlay_{padding}"),
            max_items=3,
            classes=["membrane", "cell"],
        )
        report.doc.figure(path, f"{padding} padding: slice, ground truth, prediction, errors")
