"""The loss the trainer minimizes, for classification and segmentation outputs.

- Outputs with auxiliary heads (GoogLeNet's ``GoogLeNetOutputs`` in training) add their
  losses with a weight: l(logits) + w * sum_i l(aux_i), w = 0.3 in Szegedy et al. (2015).
- Segmentation logits N x K x h x w smaller than the N x H x W masks (a valid-padding U-Net)
  are compared with the centre h x w of the mask, as in Ronneberger et al. (2015), Fig. 2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.info import main_output

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def float_output(output: torch.Tensor | tuple) -> torch.Tensor | tuple:
    """``output`` with every reduced-precision head (bfloat16/float16 autocast) as float32;
    float32 heads are returned as they are, and a NamedTuple keeps its type."""
    if isinstance(output, torch.Tensor):
        return output.float()
    heads = [float_output(head) for head in output]
    return type(output)(*heads) if hasattr(output, "_fields") else type(output)(heads)


def center_crop(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre ``size`` of N x H x W ``target`` (unchanged when it already has that size)."""
    h, w = target.shape[-2:]
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    if top < 0 or left < 0:
        raise CnnlabError(
            f"the model's output {tuple(size)} is larger than the masks {(h, w)}; "
            "use padding='same' or pad the images"
        )
    return target[..., top : top + size[0], left : left + size[1]]


def match_target(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``target`` cropped to the spatial size of ``logits`` (segmentation), else as is."""
    if logits.ndim == 4 and target.ndim == 3 and logits.shape[-2:] != target.shape[-2:]:
        return center_crop(target, tuple(logits.shape[-2:]))
    return target


class Objective(nn.Module):
    """``loss(output, target)`` with auxiliary heads and segmentation crops handled.

    Args:
        loss: per-head loss, default cross-entropy (mean over samples, and pixels).
        aux_weight: weight of each auxiliary head's loss.
        label_smoothing: passed to the default cross-entropy.
    """

    def __init__(
        self,
        loss: LossFunction | None = None,
        aux_weight: float = 0.3,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.loss = loss or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.aux_weight = aux_weight

    def forward(self, output: torch.Tensor | tuple, target: torch.Tensor) -> torch.Tensor:
        logits = main_output(output)
        total = self.loss(logits, match_target(logits, target))
        if isinstance(output, tuple):
            for aux in output[1:]:
                total = total + self.aux_weight * self.loss(aux, match_target(aux, target))
        return total
