"""Dropout: the course notes' MLP with and without it (Srivastava et al., JMLR 2014).

The course notes' exercise "Esercitazione Dropout": the 784-512-512-10 MLP trained 20 epochs
without and 40 with dropout, batch 32. Quick: the bundled digits in MNIST layout. Full: MNIST
(8,000 / 2,000 of the test images). Run times are in docs/experiments.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnlab.data import Dataset
from cnnlab.experiments.base import Context, Report, first_epoch
from cnnlab.experiments.data import describe_source, image_pair
from cnnlab.experiments.plots import Line, Panel, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.reference import dropout as reference_dropout
from cnnlab.reference import linear, relu
from cnnlab.summary import summarize
from cnnlab.train import Callback, Trainer

NOTES_PARAMS = 669_706


@dataclass(frozen=True)
class Settings:
    """``epochs`` for the plain MLP; the dropout MLP gets twice as many (the course notes,
    "Dropout", say the epochs needed double; "Richiesta spiegazione dropout" asks why)."""

    source: str
    epochs: int
    batch_size: int = 32
    lr: float = 5e-4
    p: float = 0.5
    monte_carlo: int = 2000
    seed: int = 0


QUICK = Settings(source="digits", epochs=20)
FULL = Settings(source="mnist", epochs=20)


class TrainEvaluation(Callback):
    """Loss and accuracy on the training data in eval mode (dropout off) after each epoch, so
    the train/validation gap is not inflated by the dropout noise of the running loss."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        result = trainer.evaluate(self.data)
        self.rows.append(
            {
                "epoch": row["epoch"],
                "loss": result["loss"],
                "accuracy": result["accuracy"],
                "val_loss": row["val_loss"],
                "val_accuracy": row["val_accuracy"],
            }
        )


def _train(
    ctx: Context, s: Settings, p: float, epochs: int, train: Dataset, val: Dataset
) -> tuple[nn.Module, list[dict[str, float]]]:
    torch.manual_seed(s.seed)
    model = create_model("mlp", dropout=p)
    probe = TrainEvaluation(train)
    trainer = ctx.trainer(
        model,
        "dropout" if p else "plain",
        callbacks=[probe],
        epochs=epochs,
        batch_size=s.batch_size,
        lr=s.lr,
        seed=s.seed,
    )
    trainer.fit(train, val)
    return model, probe.rows


def _gap(row: dict[str, float]) -> float:
    return row["val_loss"] - row["loss"]


def conventions(model: nn.Module, images: torch.Tensor, p: float) -> tuple[float, float]:
    """Inverted dropout vs the paper's test-time scaling, on the trained MLP.

    Inverted (PyTorch): train ``W (m * h) / (1 - p)``, test ``W h``. Classic (the paper):
    train ``W' (m * h)``, test ``W' ((1 - p) h)``. With ``W' = W / (1 - p)`` both train the
    same function, so the classic test rule must give the PyTorch eval logits.

    Returns:
        (max |logit difference|, share of equal predicted classes).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    weights = [
        (m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in linears
    ]
    x = (images.double() / 255).reshape(len(images), -1).numpy()
    rng = np.random.default_rng(0)
    h = x
    for index, (w, b) in enumerate(weights[:-1]):
        scale = 1.0 if index == 0 else 1 / (1 - p)
        h = reference_dropout(relu(linear(h, w * scale, b)), p, rng, False, "classic")
    classic = linear(h, weights[-1][0] / (1 - p), weights[-1][1])
    model.eval()
    with torch.no_grad():
        torch_logits = model(images.float() / 255).double().numpy()
    same = float((classic.argmax(1) == torch_logits.argmax(1)).mean())
    return float(np.abs(classic - torch_logits).max()), same


def expectation_error(h: np.ndarray, p: float, draws: int, mode: str) -> float:
    """Relative L1 gap ``sum|mean - test| / sum|test|`` between the mean of ``draws``
    training-mode dropout outputs and the test-mode output (0 in expectation; shrinks as
    1 / sqrt(draws))."""
    rng = np.random.default_rng(1)
    mean = sum(reference_dropout(h, p, rng, True, mode) for _ in range(draws)) / draws
    test = reference_dropout(h, p, rng, False, mode)
    return float(np.abs(mean - test).sum() / np.abs(test).sum())


@register_experiment
def dropout(ctx: Context) -> Report:
    """Dropout on the notes' 784-512-512-10 MLP: overfitting gap, double epochs, conventions."""
    s = ctx.pick(QUICK, FULL)
    train, val = image_pair(ctx, s.source)
    plain, plain_rows = _train(ctx, s, 0.0, s.epochs, train, val)
    dropped, drop_rows = _train(ctx, s, s.p, 2 * s.epochs, train, val)
    report = Report(
        ctx,
        "Dropout: the notes' MLP with and without it",
        "The notes train the 784-512-512-10 MLP twice, without and with dropout (p = 0.5 after "
        "each hidden layer), note that both have 669,706 parameters, and give the dropout model "
        "10 more epochs because 'the epochs needed double'; here they get "
        f"{s.epochs} and {2 * s.epochs} epochs. " + describe_source(s.source, len(train), len(val)),
        settings=s,
    )
    counts = [sum(p.numel() for p in m.parameters()) for m in (plain, dropped)]
    at_e, twice = drop_rows[s.epochs - 1], drop_rows[-1]
    plain_end = plain_rows[-1]
    target = max(r["val_accuracy"] for r in plain_rows)
    plain_epochs = first_epoch(plain_rows, "val_accuracy", target)
    drop_epochs = first_epoch(drop_rows, "val_accuracy", target)
    report.result(
        "parameters without / with dropout", counts[0], "{:,}", f"{NOTES_PARAMS:,} (notes)"
    )
    report.result(
        f"validation accuracy, no dropout ({s.epochs} epochs)",
        plain_end["val_accuracy"],
        literature="98.40% on full MNIST (1.60% error, standard net; Srivastava 2014, Table 2)",
        headline=True,
    )
    report.result(
        f"validation accuracy, dropout ({2 * s.epochs} epochs)",
        twice["val_accuracy"],
        literature="98.65% on full MNIST (1.35% error, dropout net; Srivastava 2014, Table 2)",
        headline=True,
    )
    report.result(
        f"loss gap (val - train), no dropout, epoch {s.epochs}", _gap(plain_end), "{:.4f}"
    )
    report.result(f"loss gap (val - train), dropout, epoch {s.epochs}", _gap(at_e), "{:.4f}")
    report.result(f"loss gap (val - train), dropout, epoch {2 * s.epochs}", _gap(twice), "{:.4f}")
    if plain_epochs and drop_epochs:
        report.result(
            "epochs to the plain MLP's best validation accuracy, dropout / no dropout",
            drop_epochs / plain_epochs,
            "{:.2f}x",
            "2x (the notes)",
        )
    _curves(ctx, report, s, plain_rows, drop_rows)
    _double_epochs(report, s, target, plain_epochs, drop_epochs, at_e, twice)
    _conventions(ctx, report, s, dropped, val.images)
    _summaries(report, plain, dropped)
    report.check(
        "both MLPs have the notes' 669,706 parameters",
        f"{counts[0]:,} and {counts[1]:,}",
        counts == [NOTES_PARAMS, NOTES_PARAMS],
    )
    report.check(
        "dropout narrows the train/validation loss gap (same epochs)",
        f"{_gap(at_e):.4f} < {_gap(plain_end):.4f}",
        _gap(at_e) < _gap(plain_end),
    )
    report.metrics.update(
        params_plain=counts[0],
        params_dropout=counts[1],
        gap_plain=_gap(plain_end),
        gap_dropout=_gap(at_e),
        gap_dropout_double=_gap(twice),
        val_accuracy_plain=plain_end["val_accuracy"],
        val_accuracy_dropout=twice["val_accuracy"],
        epochs_to_target_plain=plain_epochs or -1,
        epochs_to_target_dropout=drop_epochs or -1,
    )
    return report


def _curves(ctx: Context, report: Report, s: Settings, plain_rows, drop_rows) -> None:
    def lines(key: str) -> list[Line]:
        out = []
        for label, rows, color in (
            ("no dropout", plain_rows, "tab:blue"),
            ("dropout", drop_rows, "tab:red"),
        ):
            epochs = [r["epoch"] for r in rows]
            out.append(
                Line(
                    f"{label}, train",
                    epochs,
                    [r[key] for r in rows],
                    {"color": color, "linestyle": "--"},
                )
            )
            out.append(
                Line(
                    f"{label}, validation",
                    epochs,
                    [r[f"val_{key}"] for r in rows],
                    {"color": color},
                )
            )
        return out

    path = plot_panels(
        [
            Panel("Loss (train in eval mode)", "epoch", "cross-entropy", lines("loss"), log=True),
            Panel("Accuracy", "epoch", "accuracy", lines("accuracy")),
        ],
        ctx.figure("curves"),
    )
    report.doc.heading("Overfitting")
    report.doc.paragraph(
        "Dashed: training data, solid: validation. Without dropout the training loss keeps "
        "falling while the validation loss levels off: the widening gap is overfitting. The "
        "training values are measured after each epoch with dropout off, as at test time."
    )
    report.doc.figure(path, "Train and validation loss and accuracy, with and without dropout")


def _double_epochs(report, s, target, plain_epochs, drop_epochs, at_e, twice) -> None:
    report.doc.heading("Do the epochs double?")
    if plain_epochs and drop_epochs:
        ratio = drop_epochs / plain_epochs
        verdict = (
            "close to the notes' doubling"
            if ratio >= 1.8
            else "slower, but less than double"
            if ratio > 1.1
            else "no slower here"
        )
        answer = (
            f"The plain MLP first reaches its best validation accuracy ({target:.2%}) at epoch "
            f"{plain_epochs}; the dropout MLP reaches it at epoch {drop_epochs} "
            f"({ratio:.2f}x the epochs: {verdict})."
        )
    else:
        answer = (
            f"The dropout MLP does not reach the plain MLP's best validation accuracy "
            f"({target:.2%}) within {2 * s.epochs} epochs."
        )
    report.doc.paragraph(
        answer + f" After {s.epochs} epochs the dropout MLP has {at_e['val_accuracy']:.2%} "
        f"validation accuracy, after {2 * s.epochs} epochs {twice['val_accuracy']:.2%}. As the "
        "course's answer notes, masks are drawn anew for every batch, so every weight is "
        "updated many times per epoch: dropout adds noise to the updates, it does not halve them."
    )


def _conventions(ctx: Context, report: Report, s: Settings, model: nn.Module, images) -> None:
    difference, same = conventions(model, images, s.p)
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    with torch.no_grad():
        h = torch.relu(first(images[:64].float().flatten(1) / 255)).double().numpy()
    inverted = expectation_error(h, s.p, s.monte_carlo, "inverted")
    classic = expectation_error(h, s.p, s.monte_carlo, "classic")
    report.doc.heading("Inverted dropout vs test-time scaling")
    report.doc.paragraph(
        "PyTorch and Keras use inverted dropout: kept units are divided by 1 - p in training and "
        "nothing changes at test time. The paper keeps units as they are and multiplies them by "
        "1 - p at test time (the notes' w_test = p W, with p the keep probability). Both make the "
        "test output equal to the expected training output; with weights W' = W / (1 - p) they "
        "are the same network. Checked with cnnlab.reference.dropout on the trained MLP (the two "
        "Monte Carlo errors are equal because, mask for mask, the classic output is 1 - p "
        "times the inverted one):"
    )
    report.doc.table(
        ["check", "value"],
        [
            [
                f"mean of {s.monte_carlo} inverted masks vs test output (relative)",
                f"{inverted:.4f}",
            ],
            [f"mean of {s.monte_carlo} classic masks vs test output (relative)", f"{classic:.4f}"],
            [
                "classic network, max |logit difference| vs PyTorch eval",
                f"{difference:.2e}",
            ],
            ["same predicted class", f"{same:.2%}"],
        ],
    )
    report.check(
        "inverted and test-time-scaled dropout give the same test logits",
        f"max |difference| {difference:.1e}",
        difference < 1e-4,
    )
    report.metrics.update(
        convention_logit_difference=difference,
        inverted_expectation_error=inverted,
        classic_expectation_error=classic,
    )


def _summaries(report: Report, plain: nn.Module, dropped: nn.Module) -> None:
    report.doc.heading("Model summaries")
    for title, model in (("without dropout", plain), ("with dropout", dropped)):
        summary = summarize(model)
        report.doc.paragraph(f"MLP {title}: {summary.total_params:,} parameters.")
        report.doc.table(
            ["layer", "type", "output", "params"],
            [
                [r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}"]
                for r in summary.rows
            ],
        )
