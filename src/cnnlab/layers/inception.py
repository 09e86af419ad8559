"""The Inception module of Szegedy et al., "Going Deeper with Convolutions", 2014 (fig. 2b)."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.arith import same_padding
from cnnlab.layers.conv import ConvNormAct, LayerSpec


class Inception(nn.Module):
    """Four parallel branches on the same input, concatenated along the channels.

    ``1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool (stride 1, same) -> 1x1``. The 1x1
    "reduce" convolutions shrink the channels before the costly 3x3 and 5x5 filters (the
    bottleneck of the course notes' "Inception Block": on 28x28x192, a 5x5 "same" convolution
    to 32 maps needs 120M multiplications, 12.4M with a 1x1 to 16 first). All convolutions are
    "same", so the output keeps ``H x W`` and has ``ch1x1 + ch3x3 + ch5x5 + pool_proj``
    channels.

    Args:
        in_channels: input channels.
        ch1x1: filters of the 1x1 branch.
        ch3x3red: filters of the 1x1 before the 3x3.
        ch3x3: filters of the 3x3.
        ch5x5red: filters of the 1x1 before the 5x5.
        ch5x5: filters of the 5x5.
        pool_proj: filters of the 1x1 after the max pool.
        norm_layer: normalization after each convolution (the paper has none), or None.
        activation: activation after each convolution (ReLU in the paper).
        kernel5: kernel of the "5x5" branch; torchvision's GoogLeNet has 3 there (a known
            slip its published weights keep, pytorch/vision issue 906).

    Shapes:
        ``N x in_channels x H x W -> N x out_channels x H x W``.

    Example (the course notes' "Inception Block", inception 3a):
        >>> Inception(192, 64, 96, 128, 16, 32, 32).out_channels
        256
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
        kernel5: int = 5,
    ) -> None:
        super().__init__()

        def conv(cin: int, cout: int, kernel: int) -> ConvNormAct:
            return ConvNormAct(cin, cout, kernel, 1, "same", norm_layer, activation)

        pool_padding, _ = same_padding(3, 3)  # stride 1: (f - 1) / 2 on each side
        self.branches = nn.ModuleList(
            [
                conv(in_channels, ch1x1, 1),
                nn.Sequential(conv(in_channels, ch3x3red, 1), conv(ch3x3red, ch3x3, 3)),
                nn.Sequential(conv(in_channels, ch5x5red, 1), conv(ch5x5red, ch5x5, kernel5)),
                nn.Sequential(nn.MaxPool2d(3, 1, pool_padding), conv(in_channels, pool_proj, 1)),
            ]
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)  # N x out x H x W
