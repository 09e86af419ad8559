"""Normalization and augmentations: image and mask move together, flips are exact."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlab.data import elastic_deform, hflip, load, random_affine, to_float
from cnnlab.errors import CnnlabError


def _blocks(n: int = 4, size: int = 32) -> torch.Tensor:
    """Images made of 4x4-pixel blocks of random grey levels: N x 1 x size x size."""
    coarse = torch.rand(n, 1, size // 4, size // 4, generator=torch.Generator().manual_seed(0))
    return F.interpolate(coarse, scale_factor=4, mode="nearest")


def test_to_float_and_normalize():
    images = torch.tensor([0, 255, 51], dtype=torch.uint8).view(3, 1, 1, 1)
    assert to_float(images).flatten().tolist() == pytest.approx([0.0, 1.0, 0.2])
    normalized = to_float(images, mean=[0.5], std=[0.5])
    assert normalized.flatten().tolist() == pytest.approx([-1.0, 1.0, -0.6])
    with pytest.raises(CnnlabError, match="one value per channel"):
        to_float(images, mean=[0.5, 0.5], std=[1, 1])


@pytest.mark.parametrize(
    "augment",
    [
        lambda x, m, g: random_affine(x, m, 25, 0.1, (0.8, 1.2), 0.5, g, mode="nearest"),
        lambda x, m, g: elastic_deform(x, m, sigma=10, generator=g, mode="nearest"),
    ],
    ids=["affine", "elastic"],
)
def test_mask_follows_image_exactly(augment):
    images = _blocks()
    masks = (images[:, 0] > 0.5).long()
    out, out_masks = augment(images, masks, torch.Generator().manual_seed(1))
    assert not torch.equal(out, images)  # something moved
    assert torch.equal((out[:, 0] > 0.5).long(), out_masks)
    assert set(out_masks.unique().tolist()) <= {0, 1}


def test_mask_follows_bilinear_image_up_to_edges():
    images = _blocks()
    masks = (images[:, 0] > 0.5).long()
    g = torch.Generator().manual_seed(2)
    out, out_masks = elastic_deform(images, masks, generator=g)
    agreement = ((out[:, 0] > 0.5).long() == out_masks).float().mean()
    assert agreement > 0.9


def test_flip_twice_is_identity():
    images = torch.rand(3, 2, 5, 7)
    masks = torch.randint(0, 3, (3, 5, 7))
    once, once_masks = hflip(images, masks)
    assert torch.equal(hflip(once), images) and torch.equal(hflip(once_masks), masks)
    flipped = random_affine(images, flip=1.0)
    assert torch.allclose(flipped, once, atol=1e-5)
    assert torch.allclose(random_affine(flipped, flip=1.0), images, atol=1e-5)


def test_seeded_and_identity_by_default():
    images = torch.rand(2, 1, 9, 9)
    a = elastic_deform(images, generator=torch.Generator().manual_seed(5))
    b = elastic_deform(images, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.allclose(random_affine(images), images, atol=1e-5)
    assert torch.allclose(elastic_deform(images, sigma=0.0), images, atol=1e-5)


def _near_max_angle() -> torch.Generator:
    """A generator whose first draw is > 0.999, so the rotation is ~ +degrees."""
    seed = next(s for s in range(10_000) if torch.rand(1, generator=_seeded(s)).item() > 0.999)
    return _seeded(seed)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_rotation_of_non_square_image_is_in_pixel_units():
    images = torch.zeros(1, 1, 8, 16)  # centre at row 3.5, col 7.5
    images[0, 0, 0:2, 7:9] = 1.0  # a dot 3 px above the centre
    rotated = random_affine(images, degrees=90.0, generator=_near_max_angle())
    rows, cols = torch.nonzero(rotated[0, 0] > 0.25, as_tuple=True)
    # a true rotation puts it ~3 px beside the centre; a rotation in normalized coordinates
    # would stretch that to ~6 px (16 / 8 times more).
    assert rows.float().mean().sub(3.5).abs() < 1.0
    assert cols.float().mean().sub(7.5).abs().item() == pytest.approx(3.0, abs=1.0)


def test_rejects_uint8_and_bad_masks():
    with pytest.raises(CnnlabError, match="to_float"):
        random_affine(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(CnnlabError, match="masks must be"):
        elastic_deform(torch.zeros(2, 1, 4, 4), torch.zeros(2, 5, 4, dtype=torch.long))


def test_segmentation_batch_from_synthetic():
    data = load("synthetic", "train", task="segmentation", train_size=8, size=24)
    images, masks = elastic_deform(to_float(data.images), data.masks, generator=torch.Generator())
    assert images.shape == (8, 1, 24, 24) and masks.dtype == torch.int64
    assert set(masks.unique().tolist()) <= {0, 1, 2, 3}
