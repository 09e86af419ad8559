"""U-Net blocks of Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", 2015: the double 3x3 convolution and the up-convolution with copy-and-crop.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.layers.conv import ConvNormAct, LayerSpec


def center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The central ``size = (h, w)`` window of ``x`` (the "crop" of copy-and-crop).

    With unpadded convolutions the encoder's maps are larger than the decoder's; the border
    ``(H - h) / 2`` on each side is dropped (Ronneberger et al., fig. 1: 64x568x568 is cropped
    to 64x392x392). An odd difference drops the extra row or column at the bottom/right.

    Raises:
        CnnlabError: when ``size`` is larger than ``x``.
    """
    height, width = x.shape[-2:]
    h, w = size
    if h > height or w > width:
        raise CnnlabError(
            f"cannot crop a {height}x{width} map to a larger {h}x{w}; check the U-Net input size"
        )
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top : top + h, left : left + w]


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by an (optional) normalization and an activation.

    Args:
        in_channels: input channels.
        out_channels: filters of both convolutions.
        padding: 0 (the paper: each convolution loses 2 pixels) or 1 ("same", size kept).
        norm_layer: normalization class or None (the paper has none).
        activation: activation class (ReLU in the paper).

    Shapes:
        ``N x in_channels x H x W -> N x out_channels x (H - 4 + 4p) x (W - 4 + 4p)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        padding: int = 0,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__(
            ConvNormAct(in_channels, out_channels, 3, 1, padding, norm_layer, activation),
            ConvNormAct(out_channels, out_channels, 3, 1, padding, norm_layer, activation),
        )


class UpBlock(nn.Module):
    """A step of the expanding path: 2x2 up-convolution, copy-and-crop, double convolution.

    The up-convolution (``ConvTranspose2d``, kernel 2, stride 2) doubles the size and halves
    the channels; the encoder's map of the same level is cropped to it and concatenated before
    the two 3x3 convolutions.

    Args:
        in_channels: channels coming from the level below.
        skip_channels: channels of the encoder map that is copied.
        out_channels: filters of the double convolution.
        padding: 0 or 1, as in :class:`DoubleConv`.
        norm_layer: normalization class or None.
        activation: activation class.

    Shapes:
        ``(N x in x h x w, N x skip x H x W) -> N x out x (2h - 4 + 4p) x (2w - 4 + 4p)``.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        padding: int = 0,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.conv = DoubleConv(
            in_channels // 2 + skip_channels, out_channels, padding, norm_layer, activation
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # N x in/2 x 2h x 2w
        x = torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1)  # N x (skip + in/2) x 2h x 2w
        return self.conv(x)
