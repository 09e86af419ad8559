"""What the trainer accepts as data, and what it reads off the data.

Data is a cnnlab :class:`~cnnlab.data.Dataset` or an ``(inputs, targets)`` pair of tensors:
images N x C x H x W (uint8 0..255, or floats used as given) or token ids N x L (int64), with
class ids N (classification) or masks N x H x W (segmentation).
"""

from __future__ import annotations

import torch

from cnnlab.data.dataset import Dataset
from cnnlab.errors import CnnlabError

Data = Dataset | tuple[torch.Tensor, torch.Tensor]


def as_tensors(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` of ``data``, checked to be two non-empty tensors of equal length."""
    tensors = data.tensors() if isinstance(data, Dataset) else tuple(data)
    if len(tensors) != 2 or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise CnnlabError(
            "training data must be a cnnlab Dataset or (inputs, targets) tensors. "
            f"Received: {type(data).__name__} with {len(tensors)} parts"
        )
    inputs, targets = tensors
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise CnnlabError(
            f"inputs and targets must be non-empty and of equal length. Received: "
            f"{len(inputs)} inputs, {len(targets)} targets"
        )
    return inputs, targets


def input_kind(inputs: torch.Tensor) -> str:
    """``tokens`` for N x L integer ids, else ``image``."""
    return "tokens" if inputs.dtype == torch.int64 and inputs.ndim == 2 else "image"


def target_task(targets: torch.Tensor) -> str:
    """``segmentation`` for N x H x W masks, else ``classification``."""
    return "segmentation" if targets.ndim == 3 else "classification"
