"""One registry of experiments, keyed by the function's name (as the model registry).

An experiment is a function ``name(ctx: Context) -> Report`` registered with the bare
``@register_experiment`` decorator; underscores become dashes (``spam_textcnn`` is run as
``cnnlab run spam-textcnn``). The first docstring line is its title in ``cnnlab run --list``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cnnlab.registry import Registry, registry_key

if TYPE_CHECKING:
    from cnnlab.experiments.base import Context, Report

ExperimentFunction = Callable[["Context"], "Report"]

EXPERIMENTS: Registry[ExperimentFunction] = Registry("experiment")


def experiment_name(function: ExperimentFunction) -> str:
    """Registry name of an experiment: its function name with ``_`` written as ``-``."""
    return registry_key(function.__name__)


def experiment_title(function: ExperimentFunction) -> str:
    """The first line of the experiment's docstring."""
    return (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""


def register_experiment(function: ExperimentFunction) -> ExperimentFunction:
    """Store ``function`` under its name; a second experiment with the same name is an error."""
    return EXPERIMENTS.add(experiment_name(function), function)


def list_experiments(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern``, sorted."""
    return EXPERIMENTS.names(pattern)


def get_experiment(name: str) -> ExperimentFunction:
    """The experiment called ``name``.

    Raises:
        CnnlabError: no experiment has that name (the message suggests close names).
    """
    return EXPERIMENTS.get(name)
