"""U-Net sizes against Ronneberger et al. (2015), fig. 1, and its input-size checks."""

from __future__ import annotations

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.models.unet import unet_sizes


def test_figure_one_sizes_and_crops():
    sizes = unet_sizes(572)
    assert sizes.skips == (568, 280, 136, 64)
    assert sizes.ups == (392, 200, 104, 56)
    assert sizes.output == 388
    assert sizes.crops == (176, 80, 32, 8)


@pytest.mark.parametrize(
    ("size", "nearest"), [(570, "556 or 572"), (64, "188"), (574, "572 or 588")]
)
def test_invalid_valid_padding_sizes_name_the_nearest(size, nearest):
    with pytest.raises(
        CnnlabError, match=f"Received: size={size}; use the nearest valid size, {nearest}$"
    ):
        unet_sizes(size)


@pytest.mark.parametrize(("size", "valid"), [(64, True), (96, True), (100, False), (8, False)])
def test_same_padding_needs_multiples_of_two_to_the_depth(size, valid):
    if valid:
        assert unet_sizes(size, padding="same").output == size
    else:
        with pytest.raises(CnnlabError, match="nearest valid size"):
            unet_sizes(size, padding="same")


@pytest.mark.parametrize(("depth", "size"), [(1, 20), (2, 44), (3, 92)])
def test_depth_option(depth, size):
    model = create_model("unet", depth=depth, base_width=4, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, size, size))
    assert out.shape[-1] == unet_sizes(size, depth).output
    assert len(model.down) == len(model.up) == depth


def test_forward_rejects_a_bad_size():
    model = create_model("unet", base_width=4)
    with pytest.raises(CnnlabError, match="556 or 572"):
        model(torch.randn(1, 1, 570, 570))


def test_same_padding_keeps_the_size_and_parameters():
    valid, same = (
        create_model("unet", base_width=8),
        create_model("unet", base_width=8, padding="same"),
    )
    assert sum(p.numel() for p in valid.parameters()) == sum(p.numel() for p in same.parameters())
    with torch.no_grad():
        assert same.eval()(torch.randn(1, 1, 48, 80)).shape == (1, 2, 48, 80)
