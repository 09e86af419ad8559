"""A small, fast batch-norm network for small images: the zoo's model for time to accuracy.

Built for the question a user feels, "how long until the model is good", rather than for
fidelity to a paper: five 3x3 conv-BN-ReLU layers, pooling early so the wide layers run on
small maps (the recipe of the fast CIFAR trainers, Page 2018 and Jordan's airbench 2024).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.arith import pool_output_length
from cnnlab.errors import CnnlabError
from cnnlab.layers import ClassifierHead, ConvNormAct
from cnnlab.layers.conv import LayerSpec
from cnnlab.models.registry import register_model


def make_stage(in_channels: int, width: int, depth: int, norm_layer, activation) -> nn.Sequential:
    """``depth`` 3x3 conv-BN-act layers at one resolution, then a 2x2 max pool."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(
            ConvNormAct(in_channels if i == 0 else width, width, 3, 1, 1, norm_layer, activation)
        )
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class FastCNN(nn.Module):
    """``stem conv -> pool -> [conv, conv] -> pool -> [conv, conv] -> global max -> dense``.

    All convolutions are 3x3, padding 1, followed by batch norm and ReLU; a 28x28 input is
    pooled to 14x14 after the stem and to 7x7 after the first stage, so most of the
    arithmetic runs on small maps. With ``widths=(24, 48, 96)`` on 1x28x28 it has 157,330
    parameters and 12.4 M multiply-accumulates per image (``cnnlab summary fastcnn``).

    Args:
        num_classes: outputs.
        in_channels: image channels.
        image_size: side of the canonical input (28; any side >= 4 works: the head pools
            globally).
        widths: filters of the stem and of the two stages.
        depth: convolutions per stage (2: five convolutions in all).
        dropout: dropout before the dense layer (0 disables it).
        norm_layer: normalization after each convolution (``nn.BatchNorm2d``), or None.
        activation: activation class (ReLU).

    Shapes:
        ``N x in_channels x H x W -> N x num_classes``.

    Raises:
        CnnlabError: for fewer than three widths or an image side below 4.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        widths: tuple[int, ...] = (24, 48, 96),
        depth: int = 2,
        dropout: float = 0.0,
        norm_layer: LayerSpec = nn.BatchNorm2d,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        if len(widths) != 3:
            raise CnnlabError(f"widths must hold 3 values. Received: widths={widths!r}")
        if pool_output_length(pool_output_length(image_size, 2), 2) < 1:
            raise CnnlabError(f"image_size must be >= 4. Received: image_size={image_size!r}")
        stem, *stages = widths
        self.stem = nn.Sequential(
            ConvNormAct(in_channels, stem, 3, 1, 1, norm_layer, activation),  # N x 24 x 28 x 28
            nn.MaxPool2d(2),  # N x 24 x 14 x 14
        )
        self.stages = nn.Sequential(
            make_stage(stem, stages[0], depth, norm_layer, activation),  # N x 48 x 7 x 7
            make_stage(stages[0], stages[1], depth, norm_layer, activation)[:-1],  # N x 96 x 7 x 7
        )
        self.head = ClassifierHead(stages[1], num_classes, pool="max", dropout=dropout)
        self.input_size: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


@register_model
def fastcnn(**kwargs) -> FastCNN:
    """Five 3x3 conv-BN-ReLU layers, widths 24-48-96: 157,330 parameters on 28x28x1."""
    return FastCNN(**kwargs)
