"""Normalization and augmentations: image and mask move together, flips are exact."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.data import elastic_deform, hflip, load, random_affine, to_float
from cnnlab.data.augment import BatchShare, random_shift
from cnnlab.data.stream import share
from cnnlab.errors import CnnlabError
from cnnlab.train.augmentation import AUGMENTATIONS, augment_share, takes_share


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


@st.composite
def batch_shares(draw) -> BatchShare:
    """A global batch of 1..9 samples and one process's part: a torchrun share, or any
    contiguous part (empty included)."""
    total = draw(st.integers(1, 9))
    if draw(st.booleans()):
        world = draw(st.integers(1, 4))
        return BatchShare(total, share(total, draw(st.integers(0, world - 1)), world))
    start = draw(st.integers(0, total))
    return BatchShare(total, slice(start, draw(st.integers(start, total))))


SHARED = {
    "shift": lambda x, m, g, s: random_shift(x, m, pixels=3, flip=0.5, generator=g, share=s),
    "affine": lambda x, m, g, s: random_affine(x, m, 30, 0.2, (0.8, 1.2), 0.5, g, share=s),
    "elastic": lambda x, m, g, s: elastic_deform(x, m, sigma=3, generator=g, share=s),
}


def _batch(total: int, seed: int, size: tuple[int, int] = (6, 7)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(total, 2, *size, generator=g), torch.randint(
        0, 3, (total, *size), generator=g
    )


@settings(max_examples=40, deadline=None)
@given(part=batch_shares(), seed=st.integers(0, 2**31), with_masks=st.booleans())
@pytest.mark.parametrize("name", sorted(SHARED))
def test_share_is_the_slice_of_the_whole_batch_exactly(name, part, seed, with_masks):
    augment = SHARED[name]
    images, masks = _batch(part.total, seed)
    masks = masks if with_masks else None
    whole = augment(images, masks, torch.Generator().manual_seed(seed), None)
    mine = augment(
        images[part.part],
        masks[part.part] if with_masks else None,
        torch.Generator().manual_seed(seed),
        part,
    )
    if not with_masks:
        whole, mine = (whole,), (mine,)
    assert len(mine) == len(whole)
    for full, shared in zip(whole, mine, strict=True):
        assert torch.equal(full[part.part], shared)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_share_of_the_wrong_length_is_refused(name):
    images, masks = _batch(5, 0)
    with pytest.raises(CnnlabError, match="share's samples"):
        SHARED[name](images[:3], masks[:3], torch.Generator(), BatchShare(5, slice(0, 2)))


@settings(max_examples=30, deadline=None)
@given(part=batch_shares(), seed=st.integers(0, 2**31), segmentation=st.booleans())
@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_registered_augmentations_augment_a_share_exactly(name, part, seed, segmentation):
    augment = AUGMENTATIONS.get(name)
    images, masks = _batch(part.total, seed, (8, 8))
    targets = masks if segmentation else torch.arange(part.total)
    whole_x, whole_y = augment(images, targets, torch.Generator().manual_seed(seed))
    for whole, loaded in (
        (True, (images, targets)),
        (False, (images[part.part], targets[part.part])),
    ):
        generator = torch.Generator().manual_seed(seed)
        x, y = augment_share(augment, *loaded, generator, part, whole)
        assert torch.equal(x, whole_x[part.part]) and torch.equal(y, whole_y[part.part])


def test_takes_share_and_a_plain_augmentation_gets_the_whole_batch():
    assert all(takes_share(AUGMENTATIONS.get(name)) for name in AUGMENTATIONS.names())

    def plain(inputs, targets, generator):
        return random_shift(inputs, pixels=2, generator=generator), targets

    assert not takes_share(plain)
    images, labels = _batch(7, 3)[0], torch.arange(7)
    part = BatchShare(7, share(7, 1, 2))
    x, y = augment_share(plain, images, labels, torch.Generator().manual_seed(4), part, True)
    expected = plain(images, labels, torch.Generator().manual_seed(4))[0][part.part]
    assert torch.equal(x, expected) and torch.equal(y, labels[part.part])
    with pytest.raises(CnnlabError, match="whole global batch"):
        augment_share(plain, images[part.part], labels[part.part], torch.Generator(), part, False)
