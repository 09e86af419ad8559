"""What a finished fit writes besides checkpoints: ``metrics.json``, the figures (curves,
confusion matrix, predictions or overlays, the model's diagram) and the report."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from cnnlab import viz
from cnnlab.diagram import diagram
from cnnlab.files import write_json
from cnnlab.runs.layout import RunLayout
from cnnlab.runs.report import write_report
from cnnlab.train.data import Samples
from cnnlab.train.history import History
from cnnlab.train.metrics import higher_is_better
from cnnlab.train.objective import center_crop

MAX_EXAMPLES = 12
TOP_LOSSES = 9  # validation samples listed in the report, highest loss first


def _misclassified_texts(data: Samples, prediction, classes: list[str]) -> list[dict]:
    wrong = torch.nonzero(prediction.classes != data.targets).flatten().tolist()
    confidence = prediction.probabilities.max(1).values
    return [
        {
            "text": data.texts[i],
            "true": classes[int(data.targets[i])],
            "predicted": classes[int(prediction.classes[i])],
            "probability": float(confidence[i]),
        }
        for i in wrong[:MAX_EXAMPLES]
    ]


def _top_losses(prediction, classes: list[str], k: int = TOP_LOSSES) -> list[dict]:
    """The ``k`` validation samples the model is most wrong about (fastai's top losses)."""
    losses = prediction.losses()
    return [
        {
            "index": i,
            "true": classes[int(prediction.targets[i])],
            "predicted": classes[int(prediction.classes[i])],
            "probability": float(prediction.probabilities[i].max()),
            "loss": float(losses[i]),
        }
        for i in torch.argsort(losses, descending=True)[:k].tolist()
    ]


def _diagram(model: nn.Module, input_size: tuple[int, ...] | None, run: RunLayout) -> None:
    """The model's block diagram; an optional figure, so a model the tracer cannot draw costs
    a warning, never the run."""
    try:
        diagram(model, input_size, run.diagram_figure)
    except Exception as error:
        warnings.warn(f"no model diagram for this run: {error}", stacklevel=2)


def _figures(run: RunLayout, history: History, validation, classes, data, prediction) -> None:
    run.figures.mkdir(exist_ok=True)
    viz.plot_history(history.rows, run.history_figure)
    if validation is None:
        return
    if "pixel_accuracy" not in validation:
        viz.plot_confusion(validation["confusion_matrix"], classes, run.confusion_figure)
    if data is None or prediction is None or data.inputs.ndim != 4:
        return
    if data.task == "segmentation":
        viz.plot_segmentation(data.inputs, data.targets, prediction.classes, run.overlays_figure)
    else:
        probability = prediction.probabilities.max(1).values
        viz.plot_predictions(
            data.inputs,
            data.targets,
            prediction.classes,
            probability,
            classes,
            run.predictions_figure,
        )


def write_outputs(
    run: RunLayout,
    *,
    history: History,
    validation: dict | None,
    monitor: str,
    seconds: float,
    classes: list[str] | None,
    validation_data: Samples | None,
    prediction,
    model: nn.Module | None = None,
    input_size: tuple[int, ...] | None = None,
) -> None:
    """Write ``metrics.json``, the figures, ``report.md`` and ``report.html``."""
    names = classes or (
        [str(i) for i in range(len(validation["confusion_matrix"]))] if validation else []
    )
    data = validation_data
    mode = "max" if higher_is_better(monitor) else "min"
    best = history.best(monitor, mode) if history.rows else {}
    metrics: dict[str, object] = {
        "epochs_run": len(history),
        "monitor": monitor,
        "best_epoch": best.get("epoch"),
        "best": best,
        "final": history.rows[-1] if history.rows else {},
        "validation": validation,
        "time_seconds": seconds,
    }
    if data is not None and data.texts is not None and prediction is not None:
        metrics["misclassified"] = _misclassified_texts(data, prediction, names)
    if data is not None and data.task == "classification" and prediction is not None:
        metrics["top_losses"] = _top_losses(prediction, names)
    if data is not None and data.task == "segmentation" and prediction is not None:
        masks = center_crop(data.targets, tuple(prediction.classes.shape[-2:]))
        metrics["validation_pixels"] = int(masks.numel())
    write_json(run.metrics, metrics)
    _figures(run, history, validation, names, data, prediction)
    if model is not None:
        _diagram(model, input_size, run)
    write_report(run.root)
