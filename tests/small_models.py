"""A small digits CNN the trainer tests share, and a copy of a model's weights."""

import torch
from torch import nn

from cnnlab.train import seed_everything


def small_cnn(dropout: float = 0.2) -> nn.Module:
    """A CNN for 8 x 8 digits with BN (buffers that training changes) and dropout (RNG draws),
    so RNG and train/eval switching matter; the same weights on every call."""
    seed_everything(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(8 * 4 * 4, 10),
    )
    model.input_size = (1, 8, 8)
    return model


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}
