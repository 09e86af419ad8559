"""The model a diagram is drawn from, by registry name, built on the ``meta`` device: the
architecture only, so no memory is allocated for U-Net's 31M parameters. (A run directory's
model is rebuilt by :func:`cnnlab.runs.load.run_architecture`.)"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models import create_model


def load_model(name: str) -> nn.Module:
    """Build the registered model ``name`` on ``meta``.

    Raises:
        CnnlabError: for an unknown name.
    """
    with torch.device("meta"):  # the architecture only: no weights are allocated
        return create_model(name)
