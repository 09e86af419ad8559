"""One registry of model builders, keyed by the builder's function name (timm style).

A builder is registered with the bare ``@register_model`` decorator; underscores in its name
become dashes (``inception_block`` is created as ``"inception-block"``), so names read like
the notes and the command line while builders stay valid Python identifiers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from torch import nn

from cnnlab.errors import CnnlabError

ModelBuilder = Callable[..., nn.Module]

_BUILDERS: dict[str, ModelBuilder] = {}


def model_name(builder: ModelBuilder) -> str:
    """Registry name of a builder: its function name with ``_`` written as ``-``."""
    return builder.__name__.replace("_", "-")


def register_model(builder: ModelBuilder) -> ModelBuilder:
    """Store ``builder`` under its name; a second builder with the same name is an error."""
    name = model_name(builder)
    if name in _BUILDERS:
        raise ValueError(f"a model named {name!r} is already registered")
    _BUILDERS[name] = builder
    return builder


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    return sorted(name for name in _BUILDERS if fnmatch.fnmatch(name, pattern))


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with the builder's keyword arguments.

    Raises:
        CnnlabError: when no model has that name (the message lists the known ones), or the
            builder rejects an argument.
    """
    key = name.replace("_", "-")
    if key not in _BUILDERS:
        known = ", ".join(list_models())
        raise CnnlabError(f"unknown model {name!r}; choose one of: {known}")
    try:
        return _BUILDERS[key](**kwargs)
    except TypeError as error:
        raise CnnlabError(f"model {key!r} does not take these arguments: {error}") from error
