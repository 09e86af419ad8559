"""Image data in the MNIST layout of the course notes' exercises (28x28x1), from MNIST itself
or from the bundled digits.

MNIST digits are about 20x20 pixels centred in a 28x28 frame. scikit-learn's 8x8 digits
(always available, no download) are brought to the same layout: enlarged to 20x20 and
centred in 28x28, so the course notes' 28x28 models and their parameter counts apply unchanged and
shifting a digit does not push it out of the frame at once.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from cnnlab.data import Dataset
from cnnlab.errors import CnnlabError
from cnnlab.experiments.base import Context

MNIST_SPLITS = ("test[:8000]", "test[8000:]")


def digits_canvas(images: torch.Tensor, inner: int = 20, size: int = 28) -> torch.Tensor:
    """N x 1 x 8 x 8 uint8 digits -> N x 1 x ``size`` x ``size`` uint8, the digit enlarged to
    ``inner`` x ``inner`` (bilinear, antialiased) and centred on a black frame."""
    x = images.to(torch.float32)
    x = F.interpolate(x, size=(inner, inner), mode="bilinear", align_corners=False)
    before = (size - inner) // 2
    x = F.pad(x, (before, size - inner - before, before, size - inner - before))
    return x.round().clamp(0, 255).to(torch.uint8)  # N x 1 x size x size


def image_pair(ctx: Context, source: str) -> tuple[Dataset, Dataset]:
    """(train, validation) datasets of 28x28 images in the MNIST layout.

    Args:
        source: ``"digits"`` (1,437 / 360 bundled digits, enlarged) or ``"mnist"`` (the 10k
            MNIST test images split 8,000 / 2,000: the training images are often absent).

    Raises:
        CnnlabError: an unknown source, or MNIST files missing (the loader's message).
    """
    if source == "digits":
        parts = [ctx.load("digits", split) for split in ("train", "test")]
        info = replace(parts[0].info, shape=(1, 28, 28))
        return tuple(replace(d, info=info, images=digits_canvas(d.images)) for d in parts)
    if source == "mnist":
        return tuple(ctx.load("mnist", split) for split in MNIST_SPLITS)
    raise CnnlabError(f"image source must be 'digits' or 'mnist'. Received: {source!r}")


def describe_source(source: str, n: int, m: int) -> str:
    """One sentence naming the data and its ``n`` training / ``m`` held-out sizes."""
    if source == "mnist":
        return (
            f"MNIST: only the 10,000 test images are on this machine, split {n:,} for training "
            f"and {m:,} held out ({' / '.join(MNIST_SPLITS)})."
        )
    return (
        f"scikit-learn's bundled digits (8x8, stratified {n:,} train / {m:,} test), enlarged "
        "to 20x20 and centred in a 28x28 frame like MNIST."
    )
