"""Named, seeded batch augmentations for the trainer.

The trainer calls ``augment(inputs, targets, generator)`` on each training batch with a
generator seeded from (seed, epoch, step), so a resumed run draws the same augmentations as an
uninterrupted one. Targets that are masks (N x H x W) are transformed with the images.

Under ``torchrun`` an augmentation with a ``share`` keyword (all registered ones) is given only
this process's share of the global batch and a :class:`~cnnlab.data.augment.BatchShare`, so
each process reads and augments only its samples; any other callable gets the whole global
batch, sliced after (:func:`augment_share`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import torch

from cnnlab.data.augment import BatchShare, elastic_deform, random_affine, random_shift
from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry

Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """A generator for one training step, independent of every other (seed, epoch, step)."""
    (state,) = np.random.SeedSequence([seed, epoch, step, 0xA6]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state))


def shift_rotate(inputs, targets, generator, share=None):
    """Small rotations (+-10 degrees) and shifts (+-10%): what handwriting varies by."""
    if targets.ndim == 3:
        return random_affine(
            inputs, targets, degrees=10, translate=0.1, generator=generator, share=share
        )
    affined = random_affine(inputs, degrees=10, translate=0.1, generator=generator, share=share)
    return affined, targets


def shift(inputs, targets, generator, share=None):
    """Whole-pixel shifts of up to 2 px: digits move in their box, nothing is resampled."""
    if targets.ndim == 3:
        return random_shift(inputs, targets, pixels=2, generator=generator, share=share)
    return random_shift(inputs, pixels=2, generator=generator, share=share), targets


def flip_crop(inputs, targets, generator, share=None):
    """Natural images: a random crop of the image padded by 4 px and a left-right mirror
    with probability 0.5 (the CIFAR ResNets' augmentation)."""
    if targets.ndim == 3:
        return random_shift(inputs, targets, pixels=4, flip=0.5, generator=generator, share=share)
    return random_shift(inputs, pixels=4, flip=0.5, generator=generator, share=share), targets


def flip_elastic(inputs, targets, generator, share=None):
    """The U-Net paper's augmentation: mirror, rotate by multiples of 90 degrees, then an
    elastic deformation (sigma 10 px on a 3 x 3 grid). The mirror and the turns are drawn
    once per batch: the same for every share."""
    masks = targets if targets.ndim == 3 else None
    images = inputs
    if bool(torch.rand((), generator=generator) < 0.5):
        images = images.flip(-1)
        masks = masks.flip(-1) if masks is not None else None
    turns = int(torch.randint(4, (), generator=generator))
    if turns and images.shape[-1] == images.shape[-2]:
        images = images.rot90(turns, dims=(-2, -1))
        masks = masks.rot90(turns, dims=(-2, -1)) if masks is not None else None
    if masks is None:
        return elastic_deform(images, generator=generator, share=share), targets
    return elastic_deform(images, masks, generator=generator, share=share)


AUGMENTATIONS: Registry[Augment] = Registry("augmentation")
AUGMENTATIONS.add("shift-rotate", shift_rotate)
AUGMENTATIONS.add("flip-elastic", flip_elastic)
AUGMENTATIONS.add("shift", shift)
AUGMENTATIONS.add("flip-crop", flip_crop)
NO_AUGMENTATION = "none"


def augmentation_names() -> list[str]:
    """What ``--augment`` accepts: ``none`` and every registered augmentation."""
    return [NO_AUGMENTATION, *AUGMENTATIONS.names()]


def get_augment(name: str | None) -> Augment | None:
    """The augmentation called ``name`` (``none`` or None: no augmentation)."""
    if name is None or name == NO_AUGMENTATION:
        return None
    return AUGMENTATIONS.get(name)


def takes_share(augment: Callable) -> bool:
    """Whether ``augment`` accepts ``share``: it can augment one process's share alone."""
    try:
        return "share" in inspect.signature(augment).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False


def augment_share(
    augment: Augment,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    generator: torch.Generator,
    share: BatchShare,
    whole: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``share.part`` of the augmented global batch. ``whole``: ``inputs`` hold the
    whole global batch, else only the share. An augmentation without ``share`` needs the
    whole batch: it is augmented, then sliced."""
    if takes_share(augment):
        if whole:
            inputs, targets = inputs[share.part], targets[share.part]
        return augment(inputs, targets, generator, share=share)
    if not whole:
        raise CnnlabError(
            "an augmentation without a share keyword needs the whole global batch; "
            "the loader yields only this process's share"
        )
    inputs, targets = augment(inputs, targets, generator)
    return inputs[share.part], targets[share.part]
