"""Residual blocks of He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", 2015.

A block learns the residual ``F(x) = H(x) - x`` and outputs ``g(F(x) + x)``; in the notation
of the course notes' "Residual Networks", ``a[l+2] = g(z[l+2] + a[l])``. The shortcut is an
option of the block, so the "plain" networks of the paper are the same blocks with
``shortcut=None``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.layers.conv import ConvNormAct, LayerSpec, get_activation

ShortcutType = Literal["A", "B"] | None


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. (sec. 3.3): a parameter-free shortcut when the shape changes.

    The input is subsampled with the block's stride (``x[:, :, ::s, ::s]``, which has the
    ``ceil(H / s)`` rows of a padded 3x3/s convolution) and the new channels are zeros.

    Shapes:
        ``N x C_in x H x W -> N x C_out x ceil(H/s) x ceil(W/s)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise CnnlabError(
                "a zero-padding shortcut cannot remove channels. "
                f"Received: in_channels={in_channels}, out_channels={out_channels}"
            )
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # N x C_out x H/s x W/s


def make_shortcut(
    kind: ShortcutType,
    in_channels: int,
    out_channels: int,
    stride: int,
    norm_layer: LayerSpec,
) -> nn.Module | None:
    """The shortcut of a residual block: identity when the shape is kept, else option A or B.

    Option B (the ImageNet networks) projects with a 1x1 convolution of stride ``s`` and a
    normalization: ``W_s x``. ``kind=None`` means no shortcut (a plain network).
    """
    if kind is None:
        return None
    if kind not in ("A", "B"):
        raise CnnlabError(f"shortcut must be 'A', 'B' or None. Received: shortcut={kind!r}")
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if kind == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return ConvNormAct(in_channels, out_channels, 1, stride, 0, norm_layer, activation=None)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: ``a[l+2] = g(z[l+2] + a[l])``.

    Args:
        in_channels: channels of ``a[l]``.
        channels: filters of both convolutions (the output has ``channels * expansion``).
        stride: stride of the first convolution (2 halves the map at a stage's start).
        shortcut: ``"A"`` (zero padding), ``"B"`` (projection) or None (plain block).
        norm_layer: normalization class after each convolution, or None.
        activation: ``g``, e.g. ``nn.ReLU`` (``nn.Sigmoid`` for the vanishing-gradient study).

    Shapes:
        ``N x in_channels x H x W -> N x channels x H/stride x W/stride``.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        shortcut: ShortcutType = "B",
        norm_layer: LayerSpec = nn.BatchNorm2d,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = ConvNormAct(in_channels, channels, 3, stride, 1, norm_layer, activation)
        self.conv2 = ConvNormAct(channels, out_channels, 3, 1, 1, norm_layer, activation=None)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, norm_layer)
        self.act = get_activation(activation)()

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        z = self.conv2(self.conv1(a))  # z[l+2] = W[l+2] a[l+1] + b[l+2]
        if self.shortcut is not None:
            z = z + self.shortcut(a)  # z[l+2] + a[l]
        return self.act(z)  # a[l+2]


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut: the block of ResNet-50 and deeper.

    The stride sits on the 3x3 convolution (the torchvision "v1.5" placement; the parameter
    count is the paper's either way). Arguments as :class:`BasicBlock`.

    Shapes:
        ``N x in_channels x H x W -> N x 4 channels x H/stride x W/stride``.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        shortcut: ShortcutType = "B",
        norm_layer: LayerSpec = nn.BatchNorm2d,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = ConvNormAct(in_channels, channels, 1, 1, 0, norm_layer, activation)
        self.conv2 = ConvNormAct(channels, channels, 3, stride, 1, norm_layer, activation)
        self.conv3 = ConvNormAct(channels, out_channels, 1, 1, 0, norm_layer, activation=None)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride, norm_layer)
        self.act = get_activation(activation)()

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        z = self.conv3(self.conv2(self.conv1(a)))
        if self.shortcut is not None:
            z = z + self.shortcut(a)
        return self.act(z)
