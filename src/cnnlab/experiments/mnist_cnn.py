"""The course notes' first exercise, "Esercitazione CNN e Keras": Keras' "simple MNIST
convnet", step by step.

Reshape to 28x28x1, scale by 1/255, labels one-hot or sparse (the same loss), train, evaluate,
predict a grid of digits. Needs MNIST (the 10,000 test images suffice; 8,000 / 2,000 split).
Quick: 3 epochs. Full: the example's 15 epochs of batch 128. Run times are in
docs/experiments.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnlab import viz
from cnnlab.data.augment import to_float
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.data import MNIST_SPLITS, describe_source
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.reference import softmax_cross_entropy


@dataclass(frozen=True)
class Settings:
    """The Keras example's settings: Adam, batch 128; ``epochs`` 15 in the full variant."""

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


QUICK = Settings(epochs=3)
FULL = Settings(epochs=15)


def loss_forms(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Cross-entropy of the same logits written four ways: sparse labels (PyTorch, Keras'
    ``sparse_categorical_crossentropy``), one-hot targets (Keras' ``categorical_crossentropy``
    after ``to_categorical``), the explicit sum ``-sum_k y_k log p_k`` and the NumPy reference."""
    one_hot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return {
        "sparse labels: cross_entropy(z, y)": float(F.cross_entropy(logits, labels)),
        "one-hot targets: cross_entropy(z, one_hot(y))": float(F.cross_entropy(logits, one_hot)),
        "explicit: mean_n -sum_k y_nk log softmax(z_n)_k": float(
            -(one_hot * F.log_softmax(logits, dim=1)).sum(1).mean()
        ),
        "NumPy reference (cnnlab.reference)": softmax_cross_entropy(
            logits.double().numpy(), labels.numpy()
        ),
    }


@register_experiment
def mnist_cnn(ctx: Context) -> Report:
    """The notes' first CNN on MNIST: preprocessing, one-hot vs sparse loss, train, predict."""
    s = ctx.pick(QUICK, FULL)
    train, val = (ctx.load("mnist", split) for split in MNIST_SPLITS)
    report = Report(
        ctx,
        "The first CNN: Keras' simple MNIST convnet",
        "The notes' first exercise: reshape the images to 28x28x1, scale them by 1/255, encode "
        "the labels one-hot with to_categorical, build two 3x3 convolutions with max pooling, "
        "dropout and a dense softmax layer, train, evaluate, predict. "
        + describe_source("mnist", len(train), len(val)),
        settings=s,
    )
    _preprocessing(report, train)
    torch.manual_seed(s.seed)
    model = create_model("mnist-cnn")
    forms = loss_forms(model(to_float(val.images[:256])).detach(), val.labels[:256])
    trainer = ctx.trainer(
        model, "mnist-cnn", epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, seed=s.seed
    )
    history = trainer.fit(train, val)
    result = trainer.evaluate(val)
    prediction = trainer.predict(val.images[:36])
    path = viz.plot_predictions(
        val.images[:36],
        val.labels[:36],
        prediction.classes,
        prediction.probabilities.max(1).values,
        list(val.classes),
        ctx.figure("predictions"),
        wrong_first=False,
    )
    spread = max(forms.values()) - min(forms.values())
    report.result(
        "held-out accuracy",
        result["accuracy"],
        literature="about 99% (Keras example: 60,000 training images, 15 epochs)",
        headline=True,
    )
    report.result("held-out loss", result["loss"], "{:.4f}")
    report.result("parameters", sum(p.numel() for p in model.parameters()), "{:,}", "34,826")
    _losses(report, forms, spread)
    report.doc.heading("Training and prediction")
    report.doc.figure(ctx.layout.run("mnist-cnn").history_figure, "Loss and accuracy per epoch")
    report.doc.figure(path, "The first 36 held-out digits: predicted class and probability")
    report.doc.paragraph(
        f"{int((prediction.classes == val.labels[:36]).sum())} of the 36 digits shown are "
        "predicted correctly; the run directory has the confusion matrix and the mistakes."
    )
    report.check(
        "one-hot and sparse labels give the same loss",
        f"the four values differ by at most {spread:.1e}",
        spread < 1e-5,
    )
    bar = 0.95 if ctx.quick else 0.98
    report.check(
        "the CNN learns MNIST",
        f"held-out accuracy {result['accuracy']:.2%} (bar {bar:.0%})",
        result["accuracy"] > bar,
    )
    report.metrics.update(
        accuracy=result["accuracy"],
        loss=result["loss"],
        loss_spread=spread,
        epochs=len(history),
    )
    return report


def _preprocessing(report: Report, train) -> None:
    images = train.images
    scaled = to_float(images[:1000])
    report.doc.heading("Preprocessing")
    report.doc.paragraph(
        "The IDX file holds N x 28 x 28 bytes. Keras wants a channel axis at the end "
        "(N x 28 x 28 x 1); PyTorch puts it first (N x 1 x 28 x 28), which is how cnnlab stores "
        "images. Pixels become float32 in [0, 1] by dividing by 255."
    )
    labels = train.labels[:5]
    one_hot = F.one_hot(labels, 10).tolist()
    report.doc.table(
        ["step", "shape", "dtype", "range"],
        [
            ["stored images", "x".join(map(str, images.shape)), str(images.dtype), "0..255"],
            [
                "/ 255",
                "x".join(map(str, scaled.shape[1:])) + " each",
                str(scaled.dtype),
                f"{float(scaled.min()):.1f}..{float(scaled.max()):.1f}",
            ],
            ["labels (sparse)", str(len(train.labels)), "int64", f"first: {labels.tolist()}"],
            ["labels one-hot (to_categorical)", f"{len(train.labels)}x10", "float32", "0 or 1"],
        ],
    )
    report.doc.code(
        "\n".join(f"{y} -> {row}" for y, row in zip(labels.tolist(), one_hot, strict=True))
    )


def _losses(report: Report, forms: dict[str, float], spread: float) -> None:
    report.doc.heading("One-hot or sparse labels: the same loss")
    report.doc.paragraph(
        "With one-hot targets y the categorical cross-entropy -sum_k y_k log p_k keeps only the "
        "term of the true class, -log p_y, which is what the sparse form computes from the class "
        "index. The same 256 held-out digits through the untrained network:"
    )
    report.doc.table(["loss written as", "value"], [[k, f"{v:.10f}"] for k, v in forms.items()])
    report.doc.paragraph(f"Largest difference: {spread:.1e} (float32 rounding).")
