"""The notes' multilayer perceptron for MNIST (the dropout exercise)."""

from __future__ import annotations

from torch import nn

from cnnlab.models.registry import register_model


class MLP(nn.Module):
    """Flatten, then dense layers with an activation (and optional dropout) between them.

    With the defaults, 784 -> 512 -> 512 -> 10 has 669,706 parameters, with or without
    dropout: dropout has nothing to learn (the notes' two Keras summaries).

    Args:
        in_features: inputs after flattening (28 * 28 = 784 for MNIST).
        hidden: widths of the hidden layers.
        num_classes: outputs (logits; softmax is part of the loss).
        dropout: probability of dropping a hidden unit in training (0 disables it).
        activation: activation class applied after each hidden layer.
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: tuple[int, ...] = (512, 512),
        num_classes: int = 10,
        dropout: float = 0.0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)  # N x num_classes


@register_model
def mlp(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, **kwargs) -> MLP:
    """784-512-512-10 MLP of the notes (``in_features = in_channels * image_size**2``)."""
    return MLP(in_features=in_channels * image_size**2, num_classes=num_classes, **kwargs)
