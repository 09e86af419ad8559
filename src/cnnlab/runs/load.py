"""Rebuilding a trained model from its run directory (for evaluate, predict and export)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.files import read_json
from cnnlab.models import create_model
from cnnlab.runs.layout import BEST, LAST, check_run_dir
from cnnlab.train.checkpoint import load_checkpoint, load_weights, unprefixed
from cnnlab.train.inputs import InputSpec


@dataclass
class LoadedRun:
    """A run's model (eval mode, weights loaded) and what is needed to feed it."""

    run_dir: Path
    model: nn.Module
    config: dict
    input_spec: InputSpec
    classes: list[str]
    task: str
    checkpoint: Path
    epoch: int


def load_run(run_dir: str | os.PathLike, checkpoint: str = "best") -> LoadedRun:
    """The model of ``run_dir`` with the weights of its ``best`` (default, falling back to
    ``last`` when there is no validation) or ``last`` checkpoint."""
    path = check_run_dir(run_dir)
    if checkpoint not in ("best", "last"):
        raise CnnlabError(f"checkpoint must be 'best' or 'last'. Received: {checkpoint!r}")
    config = read_json(path / "config.json")
    run = config.get("run", {})
    if "model" not in run:
        raise CnnlabError(
            f"{path} was trained from a custom model (no registry name in config.json); "
            "rebuild it yourself and load checkpoints/best.safetensors with "
            "cnnlab.train.checkpoint.load_checkpoint"
        )
    candidates = [path / BEST, path / LAST] if checkpoint == "best" else [path / LAST]
    file = next((c for c in candidates if c.exists()), None)
    if file is None:
        raise CnnlabError(f"{path} has no checkpoint yet ({candidates[0]} is missing)")
    tensors, meta = load_checkpoint(file)
    model = create_model(run["model"], **run.get("model_kwargs", {}))
    load_weights(model, unprefixed("model.", tensors), str(file))
    model.eval()
    spec = InputSpec.from_json(config["input_spec"])
    classes = config.get("classes") or []
    return LoadedRun(path, model, config, spec, classes, config["task"], file, meta["epoch"])
