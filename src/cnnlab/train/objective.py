"""The loss the trainer minimizes, for classification and segmentation outputs.

- Outputs with auxiliary heads (GoogLeNet's ``GoogLeNetOutputs`` in training) add their
  losses with a weight: l(logits) + w * sum_i l(aux_i), w = 0.3 in Szegedy et al. (2015).
- Segmentation logits N x K x h x w smaller than the N x H x W masks (a valid-padding U-Net)
  are compared with the centre h x w of the mask, as in Ronneberger et al. (2015), Fig. 2.
- Class weights (:mod:`cnnlab.train.balance`) weigh the training loss only:
  sum_i w[y_i] CE_i / sum_i w[y_i]; evaluation keeps the plain mean.
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

    ``loss`` stays the unweighted per-head loss (evaluation uses it); calling the objective
    applies the class weights set by :meth:`weigh_classes`.
    """

    def __init__(
        self,
        loss: LossFunction | None = None,
        aux_weight: float = 0.3,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.custom = loss is not None
        self.label_smoothing = label_smoothing
        self.loss = loss or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.training_loss = self.loss
        self.aux_weight = aux_weight

    def weigh_classes(self, weights: list[float] | None, device: torch.device) -> None:
        """Weigh the training cross-entropy by ``weights`` (one per class, on ``device``;
        None: unweighted).

        Raises:
            CnnlabError: a loss of your own, which cnnlab cannot weigh.
        """
        if weights is None:
            self.training_loss = self.loss
            return
        if self.custom:
            raise CnnlabError(
                "class_weight weighs cnnlab's cross-entropy; with a loss of your own, weigh it "
                "there (e.g. nn.CrossEntropyLoss(weight=...))"
            )
        weight = torch.tensor(weights, dtype=torch.float32, device=device)
        self.training_loss = nn.CrossEntropyLoss(weight, label_smoothing=self.label_smoothing)

    def forward(self, output: torch.Tensor | tuple, target: torch.Tensor) -> torch.Tensor:
        if len(target) == 0:
            return empty_share_loss(output)
        loss = self.training_loss
        logits = main_output(output)
        total = loss(logits, match_target(logits, target))
        if isinstance(output, tuple):
            for aux in output[1:]:
                total = total + self.aux_weight * loss(aux, match_target(aux, target))
        return total


def empty_share_loss(output: torch.Tensor | tuple) -> torch.Tensor:
    """The loss of a process whose share of a global batch is empty (a last batch smaller
    than the number of torchrun processes): zero, but computed from the outputs, so the
    backward pass runs and joins the other processes' gradient all-reduce. The mean loss of
    no samples would be 0 / 0 = NaN."""
    heads = [output] if isinstance(output, torch.Tensor) else list(output)
    return sum(head.sum() for head in heads) * 0.0
