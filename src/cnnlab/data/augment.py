"""Normalization and batched, seeded augmentations on N x C x H x W float tensors.

Geometric augmentations build one sampling grid for the whole batch and call ``grid_sample``
once; the mask (N x H x W class ids), when given, is resampled through the SAME grid with
nearest interpolation, so image and mask stay aligned and the mask keeps its class ids.
Randomness comes only from the ``generator`` argument (``torch.Generator().manual_seed(s)``).
With ``share`` (a :class:`BatchShare`), the images are one process's part of a global batch
and come out as that part of the augmented global batch would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class BatchShare:
    """Samples ``part`` of a global batch of ``total``.

    Per-sample random parameters are drawn for all ``total`` samples (the same generator
    calls, in the same order, as for the whole batch) and only ``part``'s are used: each
    process augments only its share, exactly as a one-process run augments those samples.
    """

    total: int
    part: slice

    def size(self) -> int:
        return len(range(self.total)[self.part])


def _draws(images: torch.Tensor, share: BatchShare | None) -> int:
    """How many samples to draw parameters for: the images', or the global batch's."""
    if share is None:
        return len(images)
    if share.size() != len(images):
        raise CnnlabError(
            f"the images must be the share's samples ({share.size()} of {share.total}). "
            f"Received: {len(images)} images"
        )
    return share.total


def _used(drawn: torch.Tensor, share: BatchShare | None) -> torch.Tensor:
    """The draws of the samples augmented here."""
    return drawn if share is None else drawn[share.part]


def to_float(
    images: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """uint8 0..255 -> float32 in [0, 1] (the ``/ 255`` of the course notes' "Esercitazione CNN
    e Keras"), then ``(x - mean) / std`` per channel when given (e.g. MNIST's 0.1307, 0.3081).
    The division happens in place: one float copy of the images is made, not two."""
    x = images.to(torch.float32).div_(255.0)
    if mean is not None or std is not None:
        c = x.shape[1]
        m = torch.as_tensor(mean if mean is not None else [0.0] * c, dtype=x.dtype)
        s = torch.as_tensor(std if std is not None else [1.0] * c, dtype=x.dtype)
        if m.numel() != c or s.numel() != c or bool((s <= 0).any()):
            raise CnnlabError(
                f"mean and std need one value per channel ({c}), std > 0. "
                f"Received: mean={mean}, std={std}"
            )
        x = (x - m.view(1, c, 1, 1)) / s.view(1, c, 1, 1)
    return x


def hflip(images: torch.Tensor, masks: torch.Tensor | None = None):
    """Mirror left-right (exact: applying it twice gives the input back)."""
    flipped = images.flip(-1)
    return flipped if masks is None else (flipped, masks.flip(-1))


def _check(images: torch.Tensor, masks: torch.Tensor | None) -> None:
    if images.ndim != 4 or not images.is_floating_point():
        raise CnnlabError(
            "augmentations take float N x C x H x W images (use to_float first). "
            f"Received: dtype={images.dtype}, shape={tuple(images.shape)}"
        )
    if masks is not None and (masks.shape[0], *masks.shape[1:]) != (
        images.shape[0],
        *images.shape[2:],
    ):
        raise CnnlabError(
            f"masks must be N x H x W matching the images. Received: images "
            f"{tuple(images.shape)}, masks {tuple(masks.shape)}"
        )


def _unchanged(images: torch.Tensor, masks: torch.Tensor | None):
    """An empty share's result: torch builds no grid of 0 samples (a last global batch can be
    smaller than the number of processes)."""
    return images if masks is None else (images, masks)


def _sample(images, masks, grid, mode: str, padding_mode: str):
    """Resample images (``mode``) and masks (nearest) through one grid N x H x W x 2."""
    out = F.grid_sample(images, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    if masks is None:
        return out
    warped = F.grid_sample(
        masks[:, None].to(images.dtype),
        grid,
        mode="nearest",
        padding_mode=padding_mode,
        align_corners=False,
    )
    return out, warped[:, 0].round().to(masks.dtype)


def random_affine(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    degrees: float = 0.0,
    translate: float = 0.0,
    scale: tuple[float, float] = (1.0, 1.0),
    flip: float = 0.0,
    generator: torch.Generator | None = None,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    share: BatchShare | None = None,
):
    """Random rotation, translation, zoom and horizontal flip, one draw per sample.

    The sampling matrix maps output to input pixels: rotation by a ~ U(-degrees, degrees),
    zoom s ~ U(scale), shift t ~ U(-translate, translate) of the width/height, mirror with
    probability ``flip``. Rotation is done in pixel units (normalized coordinates are rescaled
    by H/W) so non-square images are rotated, not sheared.

    Args:
        images: N x C x H x W float.
        masks: N x H x W class ids or None.
        share: the images are this part of a global batch (:class:`BatchShare`).

    Returns:
        images, or (images, masks) when masks are given.
    """
    _check(images, masks)
    n, _, h, w = images.shape
    device, dtype = images.device, images.dtype
    drawn = _draws(images, share)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(drawn, generator=generator)

    angle = uniform(-degrees, degrees) * (math.pi / 180)
    zoom = uniform(*scale)
    shift = torch.stack([uniform(-translate, translate), uniform(-translate, translate)], 1)
    mirror = torch.where(torch.rand(drawn, generator=generator) < flip, -1.0, 1.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [
            torch.stack([cos * mirror, -sin * h / w, 2 * shift[:, 0]], 1),
            torch.stack([sin * w / h * mirror, cos, 2 * shift[:, 1]], 1),
        ],
        1,
    )  # N x 2 x 3
    theta = _used(theta, share)
    if n == 0:
        return _unchanged(images, masks)
    grid = F.affine_grid(theta.to(device, dtype), [n, 1, h, w], align_corners=False)
    return _sample(images, masks, grid, mode, padding_mode)


def elastic_deform(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    sigma: float = 10.0,
    grid_size: int = 3,
    generator: torch.Generator | None = None,
    mode: str = "bilinear",
    padding_mode: str = "reflection",
    share: BatchShare | None = None,
):
    """Elastic deformation of the U-Net paper (Ronneberger, Fischer, Brox, MICCAI 2015, §3.1).

    Random displacement vectors on a coarse ``grid_size`` x ``grid_size`` grid, drawn from a
    Gaussian with ``sigma`` pixels standard deviation, are bicubically upsampled to per-pixel
    displacements; image and mask are resampled through them (borders mirrored, as the paper
    does for its tiles). ``share``: the images are this part of a global batch.

    Returns:
        images, or (images, masks) when masks are given.
    """
    _check(images, masks)
    if grid_size < 2:
        raise CnnlabError(f"grid_size must be >= 2. Received: grid_size={grid_size}")
    n, _, h, w = images.shape
    coarse = torch.randn(_draws(images, share), 2, grid_size, grid_size, generator=generator)
    coarse = _used(coarse, share) * sigma
    if n == 0:
        return _unchanged(images, masks)
    coarse = coarse.to(images.device, images.dtype)
    dense = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)  # N x 2 x H x W
    identity = torch.eye(2, 3, device=images.device, dtype=images.dtype).expand(n, 2, 3)
    base = F.affine_grid(identity, [n, 1, h, w], align_corners=False)  # N x H x W x 2 (x, y)
    offset = torch.stack([dense[:, 0] * (2 / w), dense[:, 1] * (2 / h)], dim=-1)
    return _sample(images, masks, base + offset, mode, padding_mode)


def random_shift(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    pixels: int = 2,
    flip: float = 0.0,
    generator: torch.Generator | None = None,
    share: BatchShare | None = None,
):
    """Random whole-pixel shifts of up to ``pixels`` in each direction (zeros come in), and a
    horizontal mirror with probability ``flip``: a random crop of the zero-padded image, as in
    the CIFAR ResNets (Krizhevsky et al. 2012; He et al. 2016, 4 px and flips).

    Exact and cheap: no interpolation, one slice per distinct offset in the batch.
    ``share``: the images are this part of a global batch.

    Returns:
        images, or (images, masks) when masks are given.
    """
    _check(images, masks)
    if pixels < 0:
        raise CnnlabError(f"pixels must be >= 0. Received: pixels={pixels}")
    _, _, h, w = images.shape
    drawn = _draws(images, share)
    offsets = _used(torch.randint(2 * pixels + 1, (drawn, 2), generator=generator), share)
    mirror = _used(torch.rand(drawn, generator=generator) < flip, share)
    padded = F.pad(images, (pixels,) * 4)  # N x C x (H + 2p) x (W + 2p)
    out = torch.empty_like(images)
    padded_masks = F.pad(masks, (pixels,) * 4) if masks is not None else None
    out_masks = torch.empty_like(masks) if masks is not None else None
    codes = offsets[:, 0] * (2 * pixels + 1) + offsets[:, 1]
    for code in codes.unique().tolist():
        rows = (codes == code).nonzero().squeeze(1).to(images.device)
        dy, dx = divmod(code, 2 * pixels + 1)
        out[rows] = padded[rows, :, dy : dy + h, dx : dx + w]
        if out_masks is not None:
            out_masks[rows] = padded_masks[rows, dy : dy + h, dx : dx + w]
    if flip > 0:
        flipped = mirror.nonzero().squeeze(1).to(images.device)
        out[flipped] = out[flipped].flip(-1)
        if out_masks is not None:
            out_masks[flipped] = out_masks[flipped].flip(-1)
    return out if masks is None else (out, out_masks)
