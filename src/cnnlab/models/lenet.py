"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) as the course notes lay it out
("Esercitazione LeNet-5 con Keras")."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.arith import conv_output_length, pool_output_length
from cnnlab.errors import CnnlabError
from cnnlab.layers.conv import LayerSpec, get_activation
from cnnlab.models.registry import register_model


class LeNet5(nn.Module):
    """C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, F5 120, F6 84, output 10.

    On a 32x32 input the network has 61,706 parameters. A 28x28 input (MNIST as stored) is
    accepted by padding C1 ("same": 2 on each side), which yields the same 28x28 maps and the
    same parameters. Simplifications of the paper, as in the course notes: C3 connects to all six S2
    maps and the output is a dense layer instead of Euclidean RBF units.

    Args:
        num_classes: outputs of the last layer.
        in_channels: image channels.
        image_size: 32 (no padding) or 28 (C1 padded by 2).
        activation: activation class (the paper used a scaled tanh).
        pool: pooling class for S2 and S4 (``nn.AvgPool2d`` as in the paper, or
            ``nn.MaxPool2d``).

    Shapes:
        ``N x in_channels x image_size x image_size -> N x num_classes``.

    Raises:
        CnnlabError: for an image size other than 28 or 32.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 32,
        activation: LayerSpec = nn.Tanh,
        pool: type[nn.Module] = nn.AvgPool2d,
    ) -> None:
        super().__init__()
        if image_size not in (28, 32):
            raise CnnlabError(
                f"LeNet-5 takes 28x28 or 32x32 images. Received: image_size={image_size!r}"
            )
        act = get_activation(activation)
        padding = "same" if image_size == 28 else "valid"
        side = pool_output_length(conv_output_length(image_size, 5, 1, padding), 2)
        side = pool_output_length(conv_output_length(side, 5), 2)  # 5
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=padding),  # N x 6 x 28 x 28
            act(),
            pool(2),  # N x 6 x 14 x 14
            nn.Conv2d(6, 16, 5),  # N x 16 x 10 x 10
            act(),
            pool(2),  # N x 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # N x 400
            nn.Linear(16 * side * side, 120),
            act(),
            nn.Linear(120, 84),
            act(),
            nn.Linear(84, num_classes),
        )
        self.input_size: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model
def lenet5(**kwargs) -> LeNet5:
    """LeNet-5 of the course notes: 32x32 input, 61,706 parameters at 10 classes."""
    return LeNet5(**kwargs)
