"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) as the notes lay it out."""

from __future__ import annotations

from torch import nn

from cnnlab.models.registry import register_model


class LeNet5(nn.Module):
    """C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, F5 120, F6 84, output 10.

    On a 32x32 input the network has 61,706 parameters. A 28x28 input (MNIST as stored) is
    accepted by padding C1 by 2, which yields the same 28x28 maps and the same parameters.
    Simplifications of the paper, as in the notes: C3 connects to all six S2 maps and the
    output is a dense layer instead of Euclidean RBF units.

    Args:
        num_classes: outputs of the last layer.
        in_channels: image channels.
        image_size: 32 (no padding) or 28 (C1 padded by 2).
        activation: activation class (the paper used a scaled tanh).
        pool: pooling class for S2 and S4 (``nn.AvgPool2d`` as in the paper, or
            ``nn.MaxPool2d``).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 32,
        activation: type[nn.Module] = nn.Tanh,
        pool: type[nn.Module] = nn.AvgPool2d,
    ) -> None:
        super().__init__()
        if image_size not in (28, 32):
            raise ValueError(f"LeNet-5 takes 28x28 or 32x32 images. Received: {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=(32 - image_size) // 2),  # N x 6 x 28 x 28
            activation(),
            pool(2),  # N x 6 x 14 x 14
            nn.Conv2d(6, 16, 5),  # N x 16 x 10 x 10
            activation(),
            pool(2),  # N x 16 x 5 x 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # N x 400
            nn.Linear(16 * 5 * 5, 120),
            activation(),
            nn.Linear(120, 84),
            activation(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model
def lenet5(**kwargs) -> LeNet5:
    """LeNet-5 of the notes: 32x32 input, 61,706 parameters at 10 classes."""
    return LeNet5(**kwargs)
