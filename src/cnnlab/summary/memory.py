"""Measured memory of the activations autograd keeps for backward.

The summary *estimates* these bytes from per-operator rules (:mod:`cnnlab.summary.ops`); this
module *measures* them with ``torch.autograd.graph.saved_tensors_hooks``, which sees every
tensor autograd packs. Both count each storage once and leave out parameters and buffers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def measure_saved_bytes(model: nn.Module, inputs: Sequence[torch.Tensor]) -> int:
    """Bytes of the distinct non-parameter storages saved for backward by ``model(*inputs)``."""
    static = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in static and t.numel():
            saved[storage._cdata] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(*inputs)
    return sum(saved.values())
