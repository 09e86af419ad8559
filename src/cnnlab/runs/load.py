"""Rebuilding a trained model from its run directory (for evaluate, predict and export); in a
notebook a loaded run shows its card and figures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.display import block, facts, figure, heading, table
from cnnlab.errors import CnnlabError
from cnnlab.files import read_json
from cnnlab.models.info import model_info
from cnnlab.models.source import build_model
from cnnlab.runs.layout import CHECKPOINTS, RunLayout, check_run_dir
from cnnlab.runs.schema import check_run, fail, read_checkpoint, read_config
from cnnlab.train.inputs import InputSpec
from cnnlab.train.results import metric_text
from cnnlab.train.state import check_weights, load_weights, unprefixed

SHOWN_CLASSES = 12


@dataclass(repr=False)
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

    def _title(self) -> str:
        """``lenet5 on digits``."""
        run = self.config.get("run") or {}
        model = run.get("model") or type(self.model).__name__
        return f"{model} on {run['dataset']}" if run.get("dataset") else model

    def __repr__(self) -> str:
        return (
            f"LoadedRun({self.run_dir.name}: {self._title()}, {self.checkpoint.stem} checkpoint "
            f"of epoch {self.epoch}, {len(self.classes)} classes)"
        )

    def _repr_html_(self) -> str:
        """A card of the run (model, data, checkpoint, validation results) and its figures."""
        layout, run = self.layout, self.config.get("run") or {}
        metrics = read_json(layout.metrics) if layout.metrics.is_file() else {}
        names = ", ".join(self.classes[:SHOWN_CLASSES])
        if len(self.classes) > SHOWN_CLASSES:
            names += f", and {len(self.classes) - SHOWN_CLASSES} more"
        splits = " / ".join(str(run[k]) for k in ("train_split", "val_split") if run.get(k))
        best = metrics.get("best_epoch")
        card = facts(
            [
                ("run", str(self.run_dir)),
                ("model", run.get("model") or type(self.model).__name__),
                ("arguments", json.dumps(run["model_kwargs"]) if run.get("model_kwargs") else None),
                ("data", f"{run.get('dataset', '')} {splits}".strip()),
                ("task", self.task),
                ("classes", f"{len(self.classes)}: {names}" if self.classes else None),
                ("checkpoint", f"{self.checkpoint.name}, epoch {self.epoch}"),
                ("epochs run", metrics.get("epochs_run")),
                ("best epoch", f"{best} by {metrics.get('monitor')}" if best else None),
                ("command", run.get("command")),
            ]
        )
        parts = [heading(repr(self)), card]
        validation = metrics.get("validation") or {}
        rows = [[k, metric_text(k, v)] for k, v in validation.items() if isinstance(v, float)]
        if rows:
            parts += [
                heading("validation at the end of training"),
                table(["metric", "value"], rows),
            ]
        for path, caption in (
            (layout.history_figure, "loss and metrics per epoch"),
            (layout.confusion_figure, "confusion matrix on the validation data"),
            (layout.predictions_figure, "validation predictions, mistakes first"),
            (layout.overlays_figure, "segmentation: ground truth, prediction and errors"),
        ):
            if path.is_file():
                parts.append(figure(path.read_bytes(), caption))
        return block(*parts)


def load_run(
    run_dir: str | os.PathLike, checkpoint: str = "best", model: nn.Module | None = None
) -> LoadedRun:
    """The model of ``run_dir`` with the weights of its ``best`` (default, falling back to
    ``last`` when there is no validation) or ``last`` checkpoint, in eval mode.

    The model is rebuilt from the run's record (a zoo name, or your class's import path and
    arguments); pass ``model`` to load the weights into a model you built yourself. The
    config and the checkpoint's metadata are checked first (:mod:`cnnlab.runs.schema`), and
    the rebuilt model is compared with the weights on the ``meta`` device before any memory
    is allocated for it.

    >>> run = load_run("runs/lenet5-digits-20261207-101816")  # doctest: +SKIP
    >>> run.model(run.input_spec.apply(images)).argmax(1)  # doctest: +SKIP
    """
    layout = check_run_dir(run_dir)
    if checkpoint not in CHECKPOINTS:
        raise CnnlabError(f"checkpoint must be 'best' or 'last'. Received: {checkpoint!r}")
    config = read_config(layout.config)
    candidates = [layout.best, layout.last] if checkpoint == "best" else [layout.last]
    file = next((c for c in candidates if c.exists()), None)
    if file is None:
        raise CnnlabError(f"{layout.root} has no checkpoint yet ({candidates[0]} is missing)")
    tensors, meta = read_checkpoint(file, last=file == layout.last)
    weights = unprefixed("model.", tensors)
    if model is None:
        check_architecture(layout, config, weights, str(file))
        model = rebuild(layout, config)
    check_fits(model, config, layout.config)
    load_weights(model, weights, str(file))
    model.eval()
    spec = InputSpec.from_json(config["input_spec"])
    classes = config.get("classes") or []
    return LoadedRun(layout, model, config, spec, classes, config["task"], file, meta["epoch"])


def check_architecture(
    layout: RunLayout, config: dict, weights: dict[str, torch.Tensor], source: str
) -> None:
    """Refuse a model record whose architecture, built on the ``meta`` device (no memory),
    does not take ``weights`` (names, shapes, dtypes) or the config's inputs
    (:func:`check_fits`): an absurd argument (``width=10**9``) is refused by the weights'
    shapes before the allocator sees it."""
    try:
        with torch.device("meta"):
            skeleton = rebuild(layout, config)
    except (RuntimeError, NotImplementedError):  # an __init__ that needs real values: the
        return  # weights are checked against the real model when they are loaded
    check_fits(skeleton, config, layout.config)
    check_weights(skeleton.state_dict(), weights, source, type(skeleton).__name__)


def check_fits(model: nn.Module, config: dict, file: Path) -> None:
    """Refuse a config whose task or input spec does not describe ``model``: a zoo model knows
    its task, and a model that declares ``input_size`` was trained on exactly those inputs
    (a spec of another size would feed it, or allocate, inputs of any size)."""
    info, task, spec = model_info(model), config.get("task"), config.get("input_spec") or {}
    if task is not None and info.task not in (None, task):
        fail(file, "task", f"{info.task}, as {info.name} is a {info.task} model", task)
    if info.input_size is None or not spec:
        return
    if spec["kind"] != info.input_kind:
        fail(file, "input_spec.kind", f"{info.input_kind}, as {info.name} takes", spec["kind"])
    if spec["kind"] == "image" and len(info.input_size) == 3:
        channels, *size = info.input_size
        if spec.get("channels", 1) != channels:
            fail(file, "input_spec.channels", f"{channels}, as {info.name} takes", spec["channels"])
        if spec.get("size") is not None and list(spec["size"]) != size:
            fail(file, "input_spec.size", f"{size}, as {info.name} takes", spec["size"])


def rebuild(layout: RunLayout, config: dict) -> nn.Module:
    """The run's model, freshly built from its record; one line when it cannot be."""
    run = check_run(config.get("run", {}), layout.config)
    name, kwargs = run.get("model"), run.get("model_kwargs")
    if not isinstance(name, str):
        raise CnnlabError(
            f"{layout.root} does not record how to build its model (trained from a model "
            "defined in a script or notebook); load it with "
            "cnnlab.load_run(run_dir, model=YourModel(...))"
        )
    try:
        return build_model(name, kwargs or {}, run.get("model_folder"))
    except CnnlabError as error:
        missing = " (the run does not record its arguments)" if kwargs is None else ""
        raise CnnlabError(
            f"cannot rebuild the model of {layout.root}{missing}: {error}; or load it with "
            "cnnlab.load_run(run_dir, model=YourModel(...))"
        ) from error


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
    config = read_config(layout.config, required=())
    section = check_run(config.get("run", config), layout.config)
    name, kwargs = section.get("model"), section.get("model_kwargs") or {}
    if not isinstance(name, str):
        raise CnnlabError(
            f'{layout.config} must name a registered model: {{"model": NAME, "model_kwargs": '
            '{...}}, at the top or under "run". '
            f"Received: {json.dumps(config)[:80]}"
        )
    with torch.device("meta"):
        model = build_model(name, kwargs, section.get("model_folder"))
    check_fits(model, config, layout.config)
    return model


def architecture(
    model_or_run: str, kwargs: dict | None = None
) -> tuple[nn.Module, tuple[int, ...] | None]:
    """A model to inspect (summary, diagram), on the ``meta`` device, and the input it was
    trained on when it came from a run (None: the model's own ``input_size``).

    ``model_or_run``: a zoo name, your own ``package.module:Name`` (built with ``kwargs``), or
    a run directory (built as the run was).
    """
    if not Path(model_or_run).is_dir():
        with torch.device("meta"):  # the architecture only: no weights are allocated
            return build_model(model_or_run, kwargs), None
    if kwargs:
        raise CnnlabError(
            f"{model_or_run} is a run directory, whose model is built as it was trained; "
            "-m sets the arguments of a model name"
        )
    model = run_architecture(model_or_run)
    spec = read_config(RunLayout(Path(model_or_run)).config, required=()).get("input_spec") or {}
    size = spec.get("size")
    if spec.get("kind") == "image" and size:
        return model, (spec.get("channels", 1), *size)
    return model, None
