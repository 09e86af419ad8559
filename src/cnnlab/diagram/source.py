"""The model a diagram is drawn from: a registry name, or a training run's directory.

A run directory holds ``config.json`` with ``{"model": NAME, "model_kwargs": {...}}``, at
the top or in its ``"run"`` section (as ``cnnlab train`` writes it); the model is rebuilt
from it (weights are not needed to draw the architecture). Models are built
on the ``meta`` device: no memory is allocated for U-Net's 31M parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model


def read_run_config(run: Path) -> tuple[str, dict]:
    """``(model name, model kwargs)`` from ``run/config.json``.

    Raises:
        CnnlabError: when the file is missing, not JSON, or has no ``"model"`` name.
    """
    config_path = run / "config.json"
    if not config_path.is_file():
        raise CnnlabError(
            f"a run directory must contain config.json. Received: {str(run)!r}; pass a model "
            "name (see `cnnlab models`) or a run directory"
        )
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise CnnlabError(
            f"{config_path} is not valid JSON ({error}); fix or recreate it"
        ) from error
    section = config.get("run", config) if isinstance(config, dict) else None
    section = section if isinstance(section, dict) else {}
    name, kwargs = section.get("model"), section.get("model_kwargs") or {}
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise CnnlabError(
            f'{config_path} must name a registered model: {{"model": NAME, "model_kwargs": '
            '{...}}, at the top or under "run". '
            f"Received: {json.dumps(config)[:80]}"
        )
    return name, kwargs


def load_model(model_or_run: str) -> nn.Module:
    """Build a registered model by name, or the model of a run directory, on ``meta``.

    Raises:
        CnnlabError: for an unknown name or a bad run directory.
    """
    path = Path(model_or_run)
    name, kwargs = read_run_config(path) if path.is_dir() else (model_or_run, {})
    with torch.device("meta"):  # the architecture only: no weights are allocated
        return create_model(name, **kwargs)
