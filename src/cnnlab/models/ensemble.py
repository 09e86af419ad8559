"""A model ensemble: several networks answer together by averaging their class probabilities
(the course notes, "Model Ensemble": one model errs on one part of the test data, another on
another part, so the combination errs less; Hansen & Salamon 1990, Dietterich 2000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.info import main_output, model_info


class Ensemble(nn.Module):
    """The mean of the members' softmax probabilities, returned as its logarithm:

        ensemble(x) = log( (1/M) * sum_m softmax(f_m(x)) )
                    = logsumexp_m( log_softmax(f_m(x)) ) - log M

    The log of the mean is what cnnlab expects of a model's output, so an ensemble trains,
    evaluates, predicts and exports like any model: the cross-entropy that
    ``Trainer.evaluate`` applies is ``-log_softmax(z)[y]``, and ``log_softmax(log p) = log p``
    when ``p`` sums to 1, so the loss is the negative log of the ensemble's mean probability;
    ``softmax`` (``Trainer.predict``, ``cnnlab predict``) gives the mean probabilities back,
    and ``argmax`` the ensemble's class. ``ensemble(x).exp()`` is the mean probability.

    The members keep their own weights and modes: ``eval()`` (as :func:`cnnlab.load_run`
    leaves them) averages deterministic networks; a member with dropout in training mode
    makes each call one Monte Carlo draw. A member that returns several heads (GoogLeNet in
    training) contributes its main output.

    Args:
        members: the networks, each taking the same input and returning N x K logits (or
            N x K x H x W for segmentation) with the same K.

    Shapes:
        ``N x input -> N x K`` (``N x K x H x W``): log mean probabilities.

    Raises:
        CnnlabError: no members, a member that is not an ``nn.Module``, or members that
            declare different inputs (``input_size``, ``input_dtype``) or numbers of classes.

    Example:
        >>> runs = [cnnlab.load_run(d) for d in ("runs/a", "runs/b")]  # doctest: +SKIP
        >>> ensemble = Ensemble([run.model for run in runs])  # doctest: +SKIP
        >>> ensemble(runs[0].input_spec.apply(images)).exp()  # doctest: +SKIP
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise CnnlabError("an ensemble needs at least one member. Received: members=[]")
        strangers = [type(m).__name__ for m in members if not isinstance(m, nn.Module)]
        if strangers:
            raise CnnlabError(
                f"ensemble members must be torch modules. Received: {', '.join(strangers)}"
            )
        infos = [model_info(m) for m in members]
        inputs = {(info.input_size, info.input_dtype) for info in infos}
        if len(inputs) > 1:
            shown = ", ".join(f"{i.name} {i.input_size} {i.input_dtype}" for i in infos)
            raise CnnlabError(
                f"ensemble members must take the same input. Received: {shown}; "
                "combine models built for the same input size"
            )
        classes = {info.num_classes for info in infos if info.num_classes is not None}
        if len(classes) > 1:
            raise CnnlabError(
                f"ensemble members must have the same number of classes. Received: "
                f"{sorted(classes)}; combine models trained on the same classes"
            )
        self.members = nn.ModuleList(members)
        self.input_size, self.input_dtype = inputs.pop()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probabilities = torch.stack(
            [torch.log_softmax(main_output(member(x)), dim=1) for member in self.members]
        )  # M x N x K
        return torch.logsumexp(log_probabilities, dim=0) - math.log(len(self.members))  # N x K
