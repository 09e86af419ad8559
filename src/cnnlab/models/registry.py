"""One registry of model builders, keyed by the builder's function name (timm style), with
each builder's metadata registered beside it (timm's ``default_cfg``).

A builder is registered with ``@register_model`` (bare) or ``@register_model(task=...)``;
underscores in its name become dashes (``inception_block`` is created as
``"inception-block"``), so names read like the course notes and the command line while builders stay
valid Python identifiers. Metadata is read back through :func:`cnnlab.models.model_info`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry, registry_key

ModelBuilder = Callable[..., nn.Module]
TASKS = ("classification", "segmentation")


@dataclass(frozen=True)
class ModelCard:
    """What a builder's models are for, registered beside the builder.

    Args:
        task: ``classification`` (logits N x K), ``segmentation`` (logits N x K x H x W), or
            None for a building block without a classifier (``inception-block``).
        num_classes: the builder's default number of outputs.
    """

    task: str | None = "classification"
    num_classes: int | None = 10

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS} or None. Received: {self.task!r}")


@dataclass(frozen=True)
class Entry:
    build: ModelBuilder
    card: ModelCard


MODELS: Registry[Entry] = Registry("model")


def model_name(builder: ModelBuilder) -> str:
    """Registry name of a builder: its function name with ``_`` written as ``-``."""
    return registry_key(builder.__name__)


def register_model(builder: ModelBuilder | None = None, **card):
    """Register ``builder`` under its name with a :class:`ModelCard` of ``card``'s fields.

    Used bare (``@register_model``: a classifier with 10 outputs) or with metadata
    (``@register_model(task="segmentation", num_classes=2)``).
    """

    def decorate(function: ModelBuilder) -> ModelBuilder:
        MODELS.add(model_name(function), Entry(function, ModelCard(**card)))
        return function

    return decorate(builder) if builder is not None else decorate


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    return MODELS.names(pattern)


def model_card(name: str) -> ModelCard:
    """The metadata registered with builder ``name``."""
    return MODELS.get(name).card


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with the builder's keyword arguments.

    The model remembers its registry name (``model.registry_name``), so
    :func:`~cnnlab.models.model_info` finds its card, and its arguments
    (``model.build_kwargs``), so a run can record how to build it again. With published
    weights: :func:`cnnlab.models.create_model` (:mod:`cnnlab.models.pretrained`).

    Raises:
        CnnlabError: when no model has that name (the message suggests close names) or the
            builder rejects an argument.
    """
    entry = MODELS.get(name)
    try:
        model = entry.build(**kwargs)
    except TypeError as error:
        raise CnnlabError(
            f"model {registry_key(name)!r} does not take these arguments: {error}"
        ) from error
    model.registry_name = registry_key(name)
    model.build_kwargs = dict(kwargs)
    return model
