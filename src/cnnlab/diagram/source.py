"""The model a diagram is drawn from, by name (a zoo name or your own ``package.module:Name``),
built on the ``meta`` device: the architecture only, so no memory is allocated for U-Net's
31M parameters. (A run directory's model: :func:`cnnlab.runs.load.architecture`.)"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models.source import build_model


def load_model(name: str, kwargs: dict | None = None) -> nn.Module:
    """Build the model ``name`` with ``kwargs`` on ``meta``.

    Raises:
        CnnlabError: for an unknown name or arguments the builder does not take.
    """
    with torch.device("meta"):  # the architecture only: no weights are allocated
        return build_model(name, kwargs)
