"""Rebuilding a trained model from its run directory (for evaluate, predict and export)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.files import read_json
from cnnlab.models import create_model
from cnnlab.runs.checkpoint import load_checkpoint
from cnnlab.runs.layout import CHECKPOINTS, RunLayout, check_run_dir
from cnnlab.train.inputs import InputSpec
from cnnlab.train.state import load_weights, unprefixed


@dataclass
class LoadedRun:
    """A run's model (eval mode, weights loaded) and what is needed to feed it."""

    layout: RunLayout
    model: nn.Module
    config: dict
    input_spec: InputSpec
    classes: list[str]
    task: str
    checkpoint: Path
    epoch: int

    @property
    def run_dir(self) -> Path:
        return self.layout.root


def load_run(run_dir: str | os.PathLike, checkpoint: str = "best") -> LoadedRun:
    """The model of ``run_dir`` with the weights of its ``best`` (default, falling back to
    ``last`` when there is no validation) or ``last`` checkpoint."""
    layout = check_run_dir(run_dir)
    if checkpoint not in CHECKPOINTS:
        raise CnnlabError(f"checkpoint must be 'best' or 'last'. Received: {checkpoint!r}")
    config = read_json(layout.config)
    run = config.get("run", {})
    if "model" not in run:
        raise CnnlabError(
            f"{layout.root} was trained from a custom model (no registry name in "
            f"{layout.config.name}); rebuild it yourself and load {layout.best} with "
            "cnnlab.runs.checkpoint.load_checkpoint"
        )
    candidates = [layout.best, layout.last] if checkpoint == "best" else [layout.last]
    file = next((c for c in candidates if c.exists()), None)
    if file is None:
        raise CnnlabError(f"{layout.root} has no checkpoint yet ({candidates[0]} is missing)")
    tensors, meta = load_checkpoint(file)
    model = create_model(run["model"], **run.get("model_kwargs", {}))
    load_weights(model, unprefixed("model.", tensors), str(file))
    model.eval()
    spec = InputSpec.from_json(config["input_spec"])
    classes = config.get("classes") or []
    return LoadedRun(layout, model, config, spec, classes, config["task"], file, meta["epoch"])


def run_architecture(run_dir: str | os.PathLike) -> nn.Module:
    """The model of ``run_dir`` rebuilt on the ``meta`` device from its ``config.json`` (the
    architecture only, no weights: for diagrams). The config names the model as
    ``{"model": NAME, "model_kwargs": {...}}``, at the top or in its ``"run"`` section (as
    ``cnnlab train`` writes it).

    Raises:
        CnnlabError: when the file is missing, not JSON, or has no ``"model"`` name.
    """
    layout = RunLayout(Path(run_dir))
    if not layout.config.is_file():
        raise CnnlabError(
            f"a run directory must contain {layout.config.name}. Received: {str(run_dir)!r}; "
            "pass a model name (see `cnnlab models`) or a run directory"
        )
    config = read_json(layout.config)
    section = config.get("run", config)
    section = section if isinstance(section, dict) else {}
    name, kwargs = section.get("model"), section.get("model_kwargs") or {}
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise CnnlabError(
            f'{layout.config} must name a registered model: {{"model": NAME, "model_kwargs": '
            '{...}}, at the top or under "run". '
            f"Received: {json.dumps(config)[:80]}"
        )
    with torch.device("meta"):
        return create_model(name, **kwargs)
