"""A model from a name: a zoo name (``lenet5``) or your own class or factory as an import
path, ``package.module:Name`` (the form uvicorn and setuptools entry points use).

Either way the model is built with keyword arguments that are checked against what the
builder accepts before it runs, and a run directory records the name, the arguments and the
folder an import path was found in, so ``evaluate``, ``predict``, ``export``, ``diagram``,
``summary``, the studio and ``--resume`` rebuild your model as they rebuild the zoo's.

>>> build_model("lenet5", {"image_size": 28}).registry_name
'lenet5'
>>> build_model("torch.nn:Linear", {"in_features": 4, "out_features": 2})
Linear(in_features=4, out_features=2, bias=True)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.registry import MODELS, create_model


def is_import_path(name: str) -> bool:
    """``package.module:Name`` rather than a zoo name."""
    return ":" in name


def accepted_arguments(builder: Callable) -> set[str] | None:
    """The keyword arguments ``builder`` takes, or None when it takes any. A zoo builder
    (``def lenet5(**kwargs) -> LeNet5``) takes what its return class takes."""
    names: set[str] = set()
    for function in (builder, _returned_class(builder)):
        if function is None:
            continue
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return None
        for p in parameters:
            if p.kind is p.VAR_KEYWORD:
                if function is builder and _returned_class(builder) is not None:
                    continue  # passed on to the class, whose signature says the rest
                return None
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names


def _returned_class(builder: Callable) -> type | None:
    try:
        returned = typing.get_type_hints(builder).get("return")
    except Exception:  # an annotation that does not resolve says nothing
        return None
    return returned if isinstance(returned, type) and issubclass(returned, nn.Module) else None


def check_arguments(builder: Callable, kwargs: dict, what: str) -> None:
    """Refuse arguments ``builder`` does not take, naming close ones and the accepted ones."""
    accepted = accepted_arguments(builder)
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - accepted)
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(accepted), n=1, cutoff=0.6)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise CnnlabError(
        f"{what} does not take {', '.join(hints)}; it takes: {', '.join(sorted(accepted))}"
    )


def import_factory(path: str, folder: str | os.PathLike | None = None) -> Callable[..., nn.Module]:
    """The class or function named by ``package.module:Name``, imported from the current
    folder (as uvicorn does) or from ``folder`` (where a run found it)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise CnnlabError(f"a model import path is package.module:Name. Received: {path!r}")
    for place in (folder, os.getcwd()):
        if place is not None and str(place) not in sys.path:
            sys.path.insert(0, str(place))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CnnlabError(
            f"cannot import {module_name!r} for model {path!r} ({type(error).__name__}: {error});"
            " run from the folder that holds it, or add that folder to PYTHONPATH"
        ) from error
    factory = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            names = [n for n in dir(module) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CnnlabError(f"{module_name} has no {attribute!r}{hint}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CnnlabError(f"{path} is not a class or function that builds a model")
    return factory


def module_folder(path: str) -> str | None:
    """The folder ``package.module:Name`` was imported from (for the run record)."""
    module = sys.modules.get(path.partition(":")[0].split(".")[0])
    file = getattr(module, "__file__", None)
    if file is None:
        return None
    origin = Path(file).resolve().parent
    return str(origin.parent if Path(file).name == "__init__.py" else origin)


def check_model_name(name: str, kwargs: dict | None = None) -> None:
    """Refuse an unknown model name or builder arguments before any data is loaded."""
    builder = import_factory(name) if is_import_path(name) else MODELS.get(name).build
    check_arguments(
        builder, dict(kwargs or {}), name if is_import_path(name) else f"model {name!r}"
    )


def build_model(name: str, kwargs: dict | None = None, folder: str | None = None) -> nn.Module:
    """Build a zoo model or your own (``package.module:Name``) with ``kwargs``.

    Raises:
        CnnlabError: an unknown name (with suggestions), arguments the builder does not take
            (listing those it takes), an import that fails, or a factory that returns
            something other than an ``nn.Module``.
    """
    kwargs = dict(kwargs or {})
    if not is_import_path(name):
        check_arguments(MODELS.get(name).build, kwargs, f"model {name!r}")
        return create_model(name, **kwargs)
    factory = import_factory(name, folder)
    check_arguments(factory, kwargs, name)
    try:
        model = factory(**kwargs)
    except TypeError as error:
        raise CnnlabError(f"{name} could not be built with {kwargs}: {error}") from error
    if not isinstance(model, nn.Module):
        raise CnnlabError(f"{name} returned a {type(model).__name__}, not a torch nn.Module")
    model.import_path, model.build_kwargs = name, kwargs
    return model


def model_record(model: nn.Module) -> dict:
    """What a run records of a model handed to the trainer: the zoo name or import path and
    arguments it was built with (:func:`build_model`, :func:`~cnnlab.models.create_model`), or
    else its class's import path when a new process could import it (not defined in
    ``__main__``, a notebook or a function), with its arguments unknown (``None``: the class
    is tried without any); nothing for a class no other process can import."""
    path = getattr(model, "registry_name", None) or getattr(model, "import_path", None)
    kwargs = getattr(model, "build_kwargs", None)
    cls = type(model)
    if path is None:
        if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
            return {}
        path, kwargs = f"{cls.__module__}:{cls.__qualname__}", None
    try:
        json.dumps(kwargs)
    except TypeError:  # arguments that are objects cannot be recorded
        kwargs = None
    folder = module_folder(path) if is_import_path(path) else None
    return {"model": path, "model_kwargs": kwargs, "model_folder": folder}
