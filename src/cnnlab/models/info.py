"""The one reader of a model's metadata, for the zoo's models and for your own.

A zoo model carries its registry name (set by :func:`~cnnlab.models.create_model`), whose
:class:`~cnnlab.models.registry.ModelCard` says the task. Any model, yours included, may
declare what one input looks like, as the zoo's models do::

    class MyNet(nn.Module):
        input_size = (1, 28, 28)        # one input without the batch: C x H x W, or (L,)
        input_dtype = torch.float32     # torch.long for token ids
        input_mean = (0.5,)             # per-channel normalisation after the 1/255 scaling
        input_std = (0.5,)              # (published weights set both)

Everything that needs these values (training, summary, diagram, export, the studio) asks
:func:`model_info`, never the attributes themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.models.registry import MODELS, ModelCard


@dataclass(frozen=True)
class ModelInfo:
    """A model's metadata.

    Args:
        name: the registry name, or the class name of a model of your own.
        task: ``classification``, ``segmentation``, or None when not known (your own model:
            the data decides).
        input_size: one input without the batch dimension (C x H x W, or (L,) for token
            ids), or None when the model does not declare it.
        input_dtype: the dtype of one input (``torch.long`` for token ids).
        registered: whether the model came from the registry.
        num_classes: the number of outputs a zoo model was built with (None: not known
            without running it).
        mean, std: the per-channel normalisation the model's weights expect, or None.
    """

    name: str
    task: str | None
    input_size: tuple[int, ...] | None
    input_dtype: torch.dtype
    registered: bool
    num_classes: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def input_kind(self) -> str:
        """``tokens`` for models that take integer ids, else ``image``."""
        return "image" if self.input_dtype.is_floating_point else "tokens"


def model_info(model: nn.Module) -> ModelInfo:
    """The metadata of ``model``: its card when it came from the registry, and the input it
    declares (``input_size``, ``input_dtype``, ``input_mean``, ``input_std``)."""
    name = getattr(model, "registry_name", None)
    registered = isinstance(name, str) and name in MODELS
    card = MODELS.get(name).card if registered else ModelCard(task=None, num_classes=None)
    size = getattr(model, "input_size", None)
    built_with = getattr(model, "build_kwargs", None) or {}
    return ModelInfo(
        name=name if registered else type(model).__name__,
        task=card.task,
        input_size=tuple(int(s) for s in size) if size is not None else None,
        input_dtype=getattr(model, "input_dtype", torch.float32),
        registered=registered,
        num_classes=built_with.get("num_classes", card.num_classes) if registered else None,
        mean=_floats(getattr(model, "input_mean", None)),
        std=_floats(getattr(model, "input_std", None)),
    )


def _floats(values) -> tuple[float, ...] | None:
    return tuple(float(v) for v in values) if values is not None else None


def main_output(output: torch.Tensor | tuple) -> torch.Tensor:
    """The main logits of a model's output: the first field of a tuple of heads (GoogLeNet's
    auxiliary classifiers in training), else the output itself."""
    return output[0] if isinstance(output, tuple) else output
