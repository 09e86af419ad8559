"""U-Net of Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", 2015.

The contracting path repeats two unpadded 3x3 convolutions and a 2x2 max pool, doubling the
channels; the expanding path repeats a 2x2 up-convolution that halves them, copy-and-crop of
the encoder's map and two 3x3 convolutions; a 1x1 convolution gives the class maps. Every
size along the way comes from :mod:`cnnlab.arith` (:func:`unet_sizes`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.arith import conv_output_length, pool_output_length, transposed_output_length
from cnnlab.errors import CnnlabError
from cnnlab.layers import DoubleConv, UpBlock
from cnnlab.layers.conv import LayerSpec
from cnnlab.models.registry import register_model

PADDINGS = {"valid": 0, "same": 1}


@dataclass(frozen=True)
class UNetSizes:
    """Side lengths through a U-Net, top level first.

    ``skips[i]`` is the encoder map copied at level ``i``, ``ups[i]`` the up-convolution
    output it is cropped to (``crop = skips[i] - ups[i]``), ``output`` the segmentation map.
    """

    skips: tuple[int, ...]
    ups: tuple[int, ...]
    output: int

    @property
    def crops(self) -> tuple[int, ...]:
        return tuple(s - u for s, u in zip(self.skips, self.ups, strict=True))


def _trace(n: int, depth: int, padding: int) -> UNetSizes:
    def double_conv(m: int) -> int:
        return conv_output_length(conv_output_length(m, 3, 1, padding), 3, 1, padding)

    skips = []
    for _ in range(depth):
        n = double_conv(n)
        if n % 2:
            raise CnnlabError(f"a 2x2 max pool needs an even map; got {n}")
        skips.append(n)
        n = pool_output_length(n, 2)
    n = double_conv(n)
    ups = []
    for _ in range(depth):
        n = transposed_output_length(n, 2, 2)
        ups.append(n)
        n = double_conv(n)
    return UNetSizes(tuple(skips), tuple(reversed(ups)), n)


def _is_valid(n: int, depth: int, padding: int) -> bool:
    try:
        _trace(n, depth, padding)
    except CnnlabError:
        return False
    return True


def unet_sizes(n: int, depth: int = 4, padding: str = "valid") -> UNetSizes:
    """Trace an ``n x n`` input through the U-Net (``n = 572`` gives output 388).

    Raises:
        CnnlabError: when some 2x2 pool would see an odd map or a map gets too small; the
            message names the nearest valid input sizes.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CnnlabError(f"U-Net input size must be an integer >= 1. Received: size={n!r}")
    pad = PADDINGS[padding]
    if _is_valid(n, depth, pad):
        return _trace(n, depth, pad)
    below = next((m for m in range(n - 1, 0, -1) if _is_valid(m, depth, pad)), None)
    above = next(m for m in itertools.count(n + 1) if _is_valid(m, depth, pad))
    nearest = f"{below} or {above}" if below else f"{above}"
    raise CnnlabError(
        f"a U-Net with depth {depth} and {padding!r} padding cannot take a {n}x{n} input: every "
        f"2x2 max pool needs an even map and no map may shrink below the 3x3 kernels. "
        f"Received: size={n}; use the nearest valid size, {nearest}"
    )


class UNet(nn.Module):
    """Contracting path, bottom, expanding path with copy-and-crop, 1x1 class convolution.

    Level ``i`` has ``base_width * 2**i`` channels. With the defaults the model has the
    paper's 31,030,658 parameters and maps 1x572x572 to 2x388x388 (fig. 1).

    Args:
        num_classes: output channels of the final 1x1 convolution (2 in the paper).
        in_channels: image channels.
        base_width: channels of the first level (64).
        depth: number of 2x2 down-steps (4).
        padding: ``"valid"`` (the paper: the output is smaller and the skips are cropped) or
            ``"same"`` (3x3 convolutions padded by 1: output size = input size, for inputs
            divisible by ``2**depth``).
        norm_layer: normalization after each 3x3 convolution (``nn.BatchNorm2d``), or None as
            in the paper.
        activation: activation class (ReLU).
        dropout: dropout at the end of the contracting path (the paper uses some; 0 disables).
        image_size: side of the canonical input (572 with valid padding, 512 with same).

    Shapes:
        ``N x in_channels x H x W -> N x num_classes x H' x W'``, ``H' = unet_sizes(H).output``.

    Raises:
        CnnlabError: in ``forward`` (and for ``image_size``) when the size is not valid; the
            message names the nearest valid sizes.
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 1,
        base_width: int = 64,
        depth: int = 4,
        padding: str = "valid",
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
        dropout: float = 0.0,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise CnnlabError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")
        if not isinstance(depth, int) or depth < 1:
            raise CnnlabError(f"depth must be an integer >= 1. Received: depth={depth!r}")
        self.depth, self.padding = depth, padding
        pad = PADDINGS[padding]
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths[:-1]:
            self.down.append(DoubleConv(channels, width, pad, norm_layer, activation))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottom = nn.Sequential(
            DoubleConv(channels, widths[-1], pad, norm_layer, activation),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
        )
        self.up = nn.ModuleList(
            UpBlock(widths[level + 1], widths[level], widths[level], pad, norm_layer, activation)
            for level in reversed(range(depth))
        )
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)
        size = image_size or (572 if padding == "valid" else 512)
        unet_sizes(size, depth, padding)
        self.input_size: tuple[int, ...] = (in_channels, size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for side in x.shape[-2:]:
            unet_sizes(int(side), self.depth, self.padding)  # int(): traced sizes are tensors
        skips = []
        for block in self.down:
            x = block(x)  # N x w_i x s_i x s_i (copied)
            skips.append(x)
            x = self.pool(x)  # N x w_i x s_i/2 x s_i/2
        x = self.bottom(x)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            x = block(x, skip)  # N x w_i x (2h - 4) x (2w - 4) with valid padding
        return self.classifier(x)  # N x num_classes x H' x W'


@register_model(task="segmentation", num_classes=2)
def unet(**kwargs) -> UNet:
    """U-Net of Ronneberger et al. (2015): 572x572x1 -> 388x388x2, 31.0M parameters."""
    return UNet(**kwargs)
