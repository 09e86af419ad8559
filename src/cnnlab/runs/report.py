"""The report of a run, rebuilt from the files of its run directory alone (so it can be
regenerated at any time): results, per-class values, figures, history and configuration, as
``report.md`` and a self-contained ``report.html``."""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.files import read_json, write_text
from cnnlab.runs.document import Document
from cnnlab.runs.layout import RunLayout
from cnnlab.train.history import History
from cnnlab.train.results import Evaluation, metric_text

MOST_CONFUSED = 5

# how the validation numbers were computed; runs from before eval_precision evaluated in float32
PRECISION_TEXT = {
    "fp32": "float32",
    "bf16": "bfloat16 autocast (weights, loss and metrics in float32)",
}


def _title(config: dict) -> str:
    run = config.get("run", {})
    model, dataset = run.get("model", "model"), run.get("dataset")
    return f"{model} on {dataset}" if dataset else f"{model}"


def write_report(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """(Re)build ``report.md`` and ``report.html`` from the files of ``run_dir``."""
    run = RunLayout(Path(run_dir))
    config = read_json(run.config)
    metrics = read_json(run.metrics) if run.metrics.exists() else {}
    history = History.from_csv(run.history) if run.history.exists() else History()
    doc = Document(_title(config), run.root)
    info, train = config.get("run", {}), config.get("train", {})
    doc.paragraph(
        f"Run {run.root.name}, created {config.get('created', '?')}; cnnlab "
        f"{config.get('versions', {}).get('cnnlab', '?')}, torch "
        f"{config.get('versions', {}).get('torch', '?')}."
    )
    _results(doc, metrics, history)
    _per_class(doc, metrics, config.get("classes") or [])
    doc.heading("Figures")
    doc.figure(run.history_figure, "Loss and metrics per epoch (train and validation)")
    doc.figure(run.confusion_figure, "Confusion matrix on the validation data")
    doc.figure(run.predictions_figure, "Validation predictions, mistakes first and in red")
    doc.figure(run.overlays_figure, "Segmentation: ground truth, prediction and errors")
    doc.figure(run.diagram_figure, "Model diagram")
    _mistakes(doc, metrics, config.get("classes") or [])
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
        doc.table(columns, [[metric_text(c, r.get(c)) for c in columns] for r in history.rows])
    doc.heading("Configuration")
    doc.table(["setting", "value"], [[k, str(v)] for k, v in {**info, **train}.items()])
    doc.paragraph(f"Reproduce with: {config.get('command', 'see config.json')}")
    write_text(run.report_md, doc.to_markdown())
    write_text(run.report_html, doc.to_html())
    return run.report_md, run.report_html


def _results(doc: Document, metrics: dict, history: History) -> None:
    doc.heading("Results")
    validation = metrics.get("validation") or {}
    final = metrics.get("final") or (history.rows[-1] if history.rows else {})
    rows = []
    for key, value in validation.items():
        if isinstance(value, float):
            rows.append([f"validation {key}", metric_text(key, value)])
    if validation:
        precision = validation.get("precision", "fp32")
        rows.append(["validation computed in", PRECISION_TEXT.get(precision, str(precision))])
    for key in ("loss", "accuracy", "pixel_accuracy", "iou", "dice"):
        if key in final:
            rows.append([f"train {key} (last epoch)", metric_text(key, final[key])])
    if metrics.get("best_epoch") is not None:
        monitor = metrics.get("monitor", "")
        best = metrics.get("best", {})
        rows.append(
            [
                f"best epoch by {monitor}",
                f"{metrics['best_epoch']} ({metric_text(monitor, best.get(monitor))})",
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


def _mistakes(doc: Document, metrics: dict, classes: list[str]) -> None:
    """The most confused pairs of classes and the samples with the highest loss."""
    validation = metrics.get("validation") or {}
    confused = Evaluation(validation, classes).most_confused(top=MOST_CONFUSED)
    if confused and "pixel_accuracy" not in validation:
        doc.heading("Most confused (validation)")
        doc.table(["true", "predicted", "samples"], [[t, p, str(n)] for t, p, n in confused])
    if metrics.get("top_losses"):
        doc.heading("Top losses (validation)")
        doc.table(
            ["sample", "true", "predicted", "probability", "loss"],
            [
                [
                    str(m["index"]),
                    m["true"],
                    m["predicted"],
                    f"{m['probability']:.1%}",
                    f"{m['loss']:.2f}",
                ]
                for m in metrics["top_losses"]
            ],
        )
