"""One registry of experiments, keyed by the function's name (as the model registry).

An experiment is a function ``name(ctx: Context) -> Report`` registered with the bare
``@register_experiment`` decorator; underscores become dashes (``spam_textcnn`` is run as
``cnnlab run spam-textcnn``). The first docstring line is its title in ``cnnlab run --list``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import TYPE_CHECKING

from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    from cnnlab.experiments.base import Context, Report

ExperimentFunction = Callable[["Context"], "Report"]

_EXPERIMENTS: dict[str, ExperimentFunction] = {}


def experiment_name(function: ExperimentFunction) -> str:
    """Registry name of an experiment: its function name with ``_`` written as ``-``."""
    return function.__name__.replace("_", "-")


def experiment_title(function: ExperimentFunction) -> str:
    """The first line of the experiment's docstring."""
    return (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""


def register_experiment(function: ExperimentFunction) -> ExperimentFunction:
    """Store ``function`` under its name; a second experiment with the same name is an error."""
    name = experiment_name(function)
    if name in _EXPERIMENTS:
        raise ValueError(f"an experiment named {name!r} is already registered")
    _EXPERIMENTS[name] = function
    return function


def list_experiments(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern``, sorted."""
    return sorted(name for name in _EXPERIMENTS if fnmatch.fnmatch(name, pattern))


def get_experiment(name: str) -> ExperimentFunction:
    """The experiment called ``name``.

    Raises:
        CnnlabError: no experiment has that name (the message lists the known ones).
    """
    key = name.replace("_", "-").lower()
    if key not in _EXPERIMENTS:
        known = ", ".join(list_experiments())
        raise CnnlabError(f"unknown experiment {name!r}; choose one of: {known}")
    return _EXPERIMENTS[key]
