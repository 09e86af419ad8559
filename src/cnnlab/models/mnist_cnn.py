"""The Keras "simple MNIST convnet" of the course notes' first exercise ("Esercitazione CNN e
Keras"), with its variants as options."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from cnnlab.arith import conv_output_length, pool_output_length
from cnnlab.errors import CnnlabError
from cnnlab.layers import ClassifierHead, ConvNormAct
from cnnlab.layers.conv import LayerSpec
from cnnlab.models.registry import register_model


class MnistCNN(nn.Module):
    """``[conv 3x3 -> (BN) -> ReLU -> max pool 2] x 2``, then a flatten or a global-pool head.

    With the defaults (28x28x1 input, widths 32 and 64, flatten head, dropout 0.5) it is the
    Keras example: 320 + 18,496 + 16,010 = 34,826 parameters. The ``"gap"`` head averages each
    of the last maps instead (Lin et al., 2013): 650 parameters in the dense layer and any
    input size of at least ``image_size`` works.

    Args:
        num_classes: outputs.
        in_channels: image channels.
        image_size: side of the canonical input (28); fixes the flatten head's size.
        widths: filters of the convolutions.
        head: ``"flatten"`` (flatten, dropout, dense) or ``"gap"`` (global average pooling,
            dropout, dense).
        dropout: dropout before the dense layer (0 disables it).
        norm_layer: normalization after each convolution (``nn.BatchNorm2d``), or None.
        activation: activation class (ReLU).

    Shapes:
        ``N x in_channels x H x W -> N x num_classes``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        widths: tuple[int, ...] = (32, 64),
        head: Literal["flatten", "gap"] = "flatten",
        dropout: float = 0.5,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        if head not in ("flatten", "gap"):
            raise CnnlabError(f"head must be 'flatten' or 'gap'. Received: head={head!r}")
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for width in widths:
            layers += [
                ConvNormAct(channels, width, 3, 1, 0, norm_layer, activation),
                nn.MaxPool2d(2),
            ]
            channels, size = width, pool_output_length(conv_output_length(size, 3), 2)
        self.features = nn.Sequential(*layers)  # N x 64 x 5 x 5 on 28x28
        in_features = channels if head == "gap" else channels * size * size
        pool = "avg" if head == "gap" else None
        self.head = ClassifierHead(in_features, num_classes, pool=pool, dropout=dropout)
        self.input_size: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model
def mnist_cnn(**kwargs) -> MnistCNN:
    """The Keras simple MNIST convnet: 34,826 parameters on 28x28x1."""
    return MnistCNN(**kwargs)
