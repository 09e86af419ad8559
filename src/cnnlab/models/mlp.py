"""The course notes' multilayer perceptron for MNIST ("Esercitazione Dropout")."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.layers.conv import LayerSpec, get_activation
from cnnlab.models.registry import register_model


class MLP(nn.Module):
    """Flatten, then dense layers with an activation (and optional dropout) between them.

    With the defaults, 784 -> 512 -> 512 -> 10 has 669,706 parameters, with or without
    dropout: dropout has nothing to learn (the two Keras summaries in the course notes' "Dropout").

    Args:
        in_features: inputs after flattening (28 * 28 = 784 for MNIST).
        hidden: widths of the hidden layers.
        num_classes: outputs (logits; softmax is part of the loss).
        dropout: probability of dropping a hidden unit in training (0 disables it).
        activation: activation class applied after each hidden layer.
        input_size: the canonical unflattened input (``(1, 28, 28)``); defaults to
            ``(in_features,)``.

    Shapes:
        ``N x ... -> N x num_classes`` (any input with ``in_features`` values per sample).
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: tuple[int, ...] = (512, 512),
        num_classes: int = 10,
        dropout: float = 0.0,
        activation: LayerSpec = nn.ReLU,
        input_size: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        act = get_activation(activation)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), act()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        self.input_size: tuple[int, ...] = input_size or (in_features,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # N x num_classes


@register_model
def mlp(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, **kwargs) -> MLP:
    """784-512-512-10 MLP of the course notes (``in_features = in_channels * image_size**2``)."""
    shape = (in_channels, image_size, image_size)
    return MLP(
        in_features=in_channels * image_size**2, num_classes=num_classes, input_size=shape, **kwargs
    )
