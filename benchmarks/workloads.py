"""What the benchmark trains: LeNet-5 and the Keras MNIST CNN on digits, U-Net on ISBI crops,
with their batch sizes, warm-up sizes and learning rates, and the data they train on.

Data come from the data directory (``--data-dir``, else ``$CNNLAB_DATA_DIR``) when it has
MNIST and ISBI 2012, else from cnnlab's generated shapes (the timing does not depend on pixel
values). The workers read them from ``images.npy`` and ``labels.npy`` (:func:`write_data`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NAMES = ("lenet5", "mnist-cnn", "unet")
INPUT_SIZES = {"digits": (1, 28, 28), "isbi": (1, 256, 256)}  # one sample, C x H x W


@dataclass
class Workload:
    name: str
    title: str
    model: str
    model_kwargs: dict
    data: str  # "digits" (N x 1 x 28 x 28, 10 classes) or "isbi" (256 x 256 crops, masks)
    samples: int
    batch_size: int
    warmup: int
    infer_samples: int
    infer_batch: int
    infer_warmup: int
    lr: float = 1e-3
    notes: list[str] = field(default_factory=list)


def warm(n: int, batch: int, full: int) -> int:
    """``full`` batches plus the epoch's last partial batch: every batch shape once."""
    return min(n, full * batch + n % batch)


def digits_workload(name: str, title: str, kwargs: dict, n: int, quick: bool) -> Workload:
    """A classifier of 28 x 28 digits: batch 128, inference on up to 10,000 at batch 256."""
    infer = min(n, 10_000)
    full = 2 if quick else 10
    return Workload(
        name,
        title,
        name,
        kwargs,
        "digits",
        n,
        128,
        warm(n, 128, full),
        infer,
        256,
        warm(infer, 256, 2),
    )


def workloads(args: argparse.Namespace) -> list[Workload]:
    quick = args.quick
    width = 8 if quick else args.unet_width
    crops = 32 if quick else args.unet_crops
    all_loads = [
        digits_workload("lenet5", "LeNet-5", {"image_size": 28}, 3_000 if quick else 60_000, quick),
        digits_workload(
            "mnist-cnn",
            "MNIST CNN (Keras example)",
            {},
            3_000 if quick else args.mnist_cnn_samples,
            quick,
        ),
        Workload(
            "unet",
            f"U-Net (same padding, base width {width})",
            "unet",
            {"padding": "same", "base_width": width, "image_size": 256},
            "isbi",
            crops,
            4,
            warm(crops, 4, 1 if quick else 2),
            args.unet_infer_samples if not quick else 4,
            1,
            2,
            # Keras' U-Net (Glorot init, no batch norm) has a loss spike in its first steps at
            # lr 1e-3 and can end a short epoch above its start; at 3e-4 all of them fall. The
            # quick width-8 U-Net's eight steps need 1e-3 to move its loss at all.
            lr=1e-3 if quick else 3e-4,
        ),
    ]
    chosen = [w for w in all_loads if w.name in args.workloads]
    if not chosen:
        raise SystemExit(f"no workload among {args.workloads}; choose from {' '.join(NAMES)}")
    return chosen


def digits_data(n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` MNIST test digits tiled (when the data directory has them), else shapes."""
    from cnnlab.data import load
    from cnnlab.errors import CnnlabError

    try:
        images, labels = load("mnist", "test", data_dir=data_dir, download=False).tensors()
        source = f"MNIST test set (10,000 real digits) tiled to {n:,}"
    except CnnlabError:
        from cnnlab.data.synthetic import shapes

        images, _, labels = shapes(10_000, 28, 1, seed=0)
        source = f"generated shapes (cnnlab.data.synthetic, 3 classes) tiled to {n:,}"
    reps = -(-n // len(images))
    images = images.repeat(reps, 1, 1, 1)[:n]
    labels = labels.repeat(reps)[:n]
    return images.numpy(), labels.numpy().astype(np.uint8), source


def isbi_data(n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` 256 x 256 crops (the four quarters of each 512 x 512 ISBI training slice, in
    order), else generated shapes with binary masks."""
    from cnnlab.data import load
    from cnnlab.errors import CnnlabError

    try:
        images, masks = load("isbi2012", "train", data_dir=data_dir, download=False).tensors()
        images = images.unfold(2, 256, 256).unfold(3, 256, 256)  # S x 1 x 2 x 2 x 256 x 256
        images = images.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, 256, 256)
        masks = masks.unfold(1, 256, 256).unfold(2, 256, 256).reshape(-1, 256, 256)
        if n > len(images):
            raise SystemExit(f"ISBI has {len(images)} crops of 256 x 256; asked for {n}")
        source = f"ISBI 2012 training slices, first {n} of {len(images)} 256x256 quarter crops"
        images, masks = images[:n], masks[:n]
    except CnnlabError:
        from cnnlab.data.synthetic import shapes

        images, masks, _ = shapes(n, 256, 1, seed=0)
        masks = (masks > 0).long()
        source = f"{n} generated 256x256 shapes with binary masks (ISBI not found)"
    return images.numpy(), masks.numpy().astype(np.uint8), source


def write_data(workload: Workload, folder: Path, data_dir: str | None) -> str:
    """The workload's images and labels as ``.npy`` files in ``folder``; returns the source."""
    make = digits_data if workload.data == "digits" else isbi_data
    images, labels, source = make(workload.samples, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", np.ascontiguousarray(images))
    np.save(folder / "labels.npy", np.ascontiguousarray(labels))
    return source
