"""What a finished fit writes besides checkpoints: ``metrics.json``, the figures and the
report. The report is built from the files of the run directory alone, so
:func:`write_report` can rebuild it at any time."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
from torch import nn

from cnnlab.data.dataset import Dataset
from cnnlab.files import read_json, write_json, write_text
from cnnlab.runs.document import Document
from cnnlab.runs.layout import CONFIG, FIGURES, HISTORY, METRICS
from cnnlab.train.history import History
from cnnlab.train.objective import center_crop

MAX_EXAMPLES = 12


def _misclassified_texts(data: Dataset, prediction, classes: list[str]) -> list[dict]:
    wrong = torch.nonzero(prediction.classes != data.labels).flatten().tolist()
    confidence = prediction.probabilities.max(1).values
    return [
        {
            "text": data.texts[i],
            "true": classes[int(data.labels[i])],
            "predicted": classes[int(prediction.classes[i])],
            "probability": float(confidence[i]),
        }
        for i in wrong[:MAX_EXAMPLES]
    ]


def _diagram(model: nn.Module, input_size: tuple[int, ...] | None, path: Path) -> None:
    """The model's block diagram; an optional figure, so a model the tracer cannot draw costs
    a warning, never the run."""
    from cnnlab.diagram import diagram

    try:
        diagram(model, input_size, path)
    except Exception as error:
        warnings.warn(f"no model diagram for this run: {error}", stacklevel=2)


def _figures(run_dir: Path, history: History, validation, classes, data, prediction) -> None:
    from cnnlab import viz

    figures = run_dir / FIGURES
    figures.mkdir(exist_ok=True)
    viz.plot_history(history.rows, figures / "history.png")
    if validation is None:
        return
    if "pixel_accuracy" not in validation:
        viz.plot_confusion(validation["confusion_matrix"], classes, figures / "confusion.png")
    if data is None or prediction is None:
        return
    if data.masks is not None:
        viz.plot_segmentation(data.images, data.masks, prediction.classes, figures / "overlays.png")
    elif data.images is not None:
        probability = prediction.probabilities.max(1).values
        viz.plot_predictions(
            data.images,
            data.labels,
            prediction.classes,
            probability,
            classes,
            figures / "predictions.png",
        )


def write_outputs(
    run_dir: Path,
    history: History,
    validation: dict | None,
    monitor: str,
    seconds: float,
    classes: list[str] | None,
    validation_data: Dataset | tuple | None,
    prediction,
    model: nn.Module | None = None,
    input_size: tuple[int, ...] | None = None,
) -> None:
    """Write ``metrics.json``, the figures, ``report.md`` and ``report.html``."""
    names = classes or (
        [str(i) for i in range(len(validation["confusion_matrix"]))] if validation else []
    )
    data = validation_data if isinstance(validation_data, Dataset) else None
    best = history.best(monitor, "max" if _higher(monitor) else "min") if history.rows else {}
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
    if data is not None and data.masks is not None and prediction is not None:
        masks = center_crop(data.masks, tuple(prediction.classes.shape[-2:]))
        metrics["validation_pixels"] = int(masks.numel())
    write_json(run_dir / METRICS, metrics)
    _figures(run_dir, history, validation, names, data, prediction)
    if model is not None:
        _diagram(model, input_size, run_dir / FIGURES / "diagram.svg")
    write_report(run_dir)


def _higher(monitor: str) -> bool:
    from cnnlab.train.callbacks import monitor_mode

    return monitor_mode(monitor) == "max"


def _value(name: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if name in ("epoch", "best_epoch"):
        return str(int(value))
    if name == "lr":
        return f"{value:.2e}"
    if name == "time":
        return f"{value:.1f} s"
    if any(w in name for w in ("accuracy", "precision", "recall", "f1", "iou", "dice")):
        return f"{100 * value:.2f}%"
    return f"{value:.4f}"


def _title(config: dict) -> str:
    run = config.get("run", {})
    model, dataset = run.get("model", "model"), run.get("dataset")
    return f"{model} on {dataset}" if dataset else f"{model}"


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """(Re)build ``report.md`` and ``report.html`` from the files of ``run_dir``."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / CONFIG)
    metrics = read_json(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    history = History.from_csv(run_dir / HISTORY) if (run_dir / HISTORY).exists() else History()
    doc = Document(_title(config), run_dir)
    run, train = config.get("run", {}), config.get("train", {})
    doc.paragraph(
        f"Run {run_dir.name}, created {config.get('created', '?')}; cnnlab "
        f"{config.get('versions', {}).get('cnnlab', '?')}, torch "
        f"{config.get('versions', {}).get('torch', '?')}."
    )
    _results(doc, metrics, history)
    _per_class(doc, metrics, config.get("classes") or [])
    doc.heading("Figures")
    figures = run_dir / FIGURES
    doc.figure(figures / "history.png", "Loss and metrics per epoch (train and validation)")
    doc.figure(figures / "confusion.png", "Confusion matrix on the validation data")
    doc.figure(figures / "predictions.png", "Validation predictions, mistakes first and in red")
    doc.figure(figures / "overlays.png", "Segmentation: ground truth, prediction and errors")
    doc.figure(figures / "diagram.svg", "Model diagram")
    if metrics.get("misclassified"):
        doc.heading("Misclassified examples")
        doc.table(
            ["text", "true", "predicted", "probability"],
            [
                [m["text"][:160], m["true"], m["predicted"], f"{100 * m['probability']:.1f}%"]
                for m in metrics["misclassified"]
            ],
        )
    doc.heading("History")
    if history.rows:
        columns = [c for c in history.columns if not c.startswith(("macro_", "val_macro_"))]
        doc.table(columns, [[_value(c, r.get(c)) for c in columns] for r in history.rows])
    doc.heading("Configuration")
    doc.table(["setting", "value"], [[k, str(v)] for k, v in {**run, **train}.items()])
    doc.paragraph(f"Reproduce with: {config.get('command', 'see config.json')}")
    markdown = run_dir / "report.md"
    page = run_dir / "report.html"
    write_text(markdown, doc.to_markdown())
    write_text(page, doc.to_html())
    return markdown, page


def _results(doc: Document, metrics: dict, history: History) -> None:
    doc.heading("Results")
    validation = metrics.get("validation") or {}
    final = metrics.get("final") or (history.rows[-1] if history.rows else {})
    rows = []
    for key, value in validation.items():
        if isinstance(value, float):
            rows.append([f"validation {key}", _value(key, value)])
    for key in ("loss", "accuracy", "pixel_accuracy", "iou", "dice"):
        if key in final:
            rows.append([f"train {key} (last epoch)", _value(key, final[key])])
    if metrics.get("best_epoch") is not None:
        monitor = metrics.get("monitor", "")
        best = metrics.get("best", {})
        rows.append(
            [
                f"best epoch by {monitor}",
                f"{metrics['best_epoch']} ({_value(monitor, best.get(monitor))})",
            ]
        )
    if "epochs_run" in metrics:
        rows.append(["epochs run", str(metrics["epochs_run"])])
    if "time_seconds" in metrics:
        rows.append(["training time", f"{metrics['time_seconds']:.1f} s"])
    if rows:
        doc.table(["", "value"], rows)


def _per_class(doc: Document, metrics: dict, classes: list[str]) -> None:
    per_class = (metrics.get("validation") or {}).get("per_class")
    if not per_class:
        return
    doc.heading("Per class (validation)")
    names = list(per_class)
    count = len(per_class[names[0]])
    labels = classes if len(classes) == count else [str(i) for i in range(count)]
    rows = []
    for i, label in enumerate(labels):
        cells = [label]
        for name in names:
            value = per_class[name][i]
            cells.append(str(int(value)) if name == "support" else f"{100 * value:.2f}%")
        rows.append(cells)
    doc.table(["class", *names], rows)
