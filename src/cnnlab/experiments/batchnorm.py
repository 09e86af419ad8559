"""Batch normalization: the same CNN with and without it (Ioffe & Szegedy, ICML 2015).

Time (this 2-core CPU, one torch thread, shared machine): four runs (two learning rates, with
and without batch norm). Quick: the bundled digits in MNIST layout, 6 epochs per run at about
1 s, about 25 s. Full: MNIST (8,000 / 2,000 of the test images), 15 epochs per run at about
5 s, about 5 minutes; under a minute on a GPU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.data import Dataset
from cnnlab.data.augment import to_float
from cnnlab.experiments.base import Context, Report, first_epoch
from cnnlab.experiments.data import describe_source, image_pair
from cnnlab.experiments.plots import Line, Panel, epochs_of, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.train import TrainingDiverged


@dataclass(frozen=True)
class Settings:
    """Plain mini-batch gradient descent (no momentum) at a usual and a high learning rate."""

    source: str
    epochs: int
    lr: float = 0.05
    high_lr: float = 0.5
    batch_size: int = 64
    target: float = 0.9
    seed: int = 0


QUICK = Settings(source="digits", epochs=6)
FULL = Settings(source="mnist", epochs=15)
VARIANTS = (("no BN", None), ("BN", "batch"))


def _fit(
    ctx: Context, s: Settings, norm: str | None, lr: float, train: Dataset, val: Dataset
) -> tuple[nn.Module, list[dict[str, float]], str]:
    """Train mnist-cnn (dropout off, so BN is the only difference); a divergence is a result."""
    torch.manual_seed(s.seed)
    model = create_model("mnist-cnn", norm_layer=norm, dropout=0.0)
    variant = f"{'bn' if norm else 'plain'}-lr{lr:g}"
    trainer = ctx.trainer(
        model,
        variant,
        epochs=s.epochs,
        batch_size=s.batch_size,
        optimizer="sgd",
        momentum=0.0,
        lr=lr,
        seed=s.seed,
    )
    try:
        trainer.fit(train, val)
        note = ""
    except TrainingDiverged as error:
        note = str(error)
    return model, trainer.history.rows, note


@register_experiment
def batchnorm(ctx: Context) -> Report:
    """Batch norm: convergence speed, stability at a high learning rate, running statistics."""
    s = ctx.pick(QUICK, FULL)
    train, val = image_pair(ctx, s.source)
    runs = {
        (label, lr): _fit(ctx, s, norm, lr, train, val)
        for lr in (s.lr, s.high_lr)
        for label, norm in VARIANTS
    }
    report = Report(
        ctx,
        "Batch normalization: the same CNN with and without it",
        "The notes' simple CNN (two 3x3 convolutions with max pooling, dense head, dropout off) "
        "trained by plain mini-batch gradient descent, once as is and once with batch norm "
        "after each convolution, at a usual and at a high learning rate. "
        + describe_source(s.source, len(train), len(val)),
        settings=s,
    )
    speed = {
        label: first_epoch(runs[label, s.lr][1], "val_accuracy", s.target) for label, _ in VARIANTS
    }
    finals = {key: rows[-1]["val_accuracy"] if rows else 0.0 for key, (_, rows, _) in runs.items()}
    for label, _ in VARIANTS:
        epochs = speed[label]
        report.result(
            f"epochs to {s.target:.0%} validation accuracy, {label}, lr {s.lr:g}",
            epochs or float("nan"),
            "{:.0f}",
            "BN: same accuracy in 14x fewer steps (Inception, Ioffe & Szegedy 2015)"
            if label == "BN"
            else "",
            headline=True,
            text=None if epochs else f"not within {s.epochs}",
        )
    for lr in (s.lr, s.high_lr):
        for label, _ in VARIANTS:
            report.result(
                f"validation accuracy, {label}, lr {lr:g}",
                finals[label, lr],
                headline=lr == s.high_lr,
                literature="BN allows much higher learning rates (Ioffe & Szegedy 2015)"
                if lr == s.high_lr and label == "BN"
                else "",
            )
    _curves(ctx, report, s, runs)
    model = runs["BN", s.lr][0]
    _running_statistics(report, model, train, val)
    plain_epochs, bn_epochs = speed["no BN"], speed["BN"]
    report.check(
        f"with BN the CNN reaches {s.target:.0%} in fewer epochs (lr {s.lr:g})",
        f"{bn_epochs or 'never'} vs {plain_epochs or 'never'} epochs",
        bn_epochs is not None and (plain_epochs is None or bn_epochs < plain_epochs),
    )
    high_bn, high_plain = finals["BN", s.high_lr], finals["no BN", s.high_lr]
    report.check(
        f"at lr {s.high_lr:g} only the BN network learns",
        f"{high_bn:.2%} vs {high_plain:.2%} validation accuracy",
        high_bn > 0.8 and high_plain < high_bn - 0.3,
    )
    report.metrics.update(
        epochs_to_target_bn=bn_epochs or -1,
        epochs_to_target_plain=plain_epochs or -1,
        high_lr_accuracy_bn=high_bn,
        high_lr_accuracy_plain=high_plain,
    )
    return report


def _curves(ctx: Context, report: Report, s: Settings, runs) -> None:
    panels = []
    for lr in (s.lr, s.high_lr):
        lines = []
        for (label, _), color in zip(VARIANTS, ("tab:blue", "tab:red"), strict=True):
            rows = runs[label, lr][1]
            if rows:
                lines.append(
                    Line(
                        f"{label}, train",
                        *epochs_of(rows, "loss"),
                        {"color": color, "linestyle": "--"},
                    )
                )
                lines.append(
                    Line(f"{label}, validation", *epochs_of(rows, "val_loss"), {"color": color})
                )
        panels.append(Panel(f"lr {lr:g}", "epoch", "cross-entropy", lines, log=True))
    path = plot_panels(panels, ctx.figure("curves"))
    report.doc.heading("Convergence and stability")
    notes = [f"{label} at lr {lr:g}: {note}" for (label, lr), (_, _, note) in runs.items() if note]
    report.doc.paragraph(
        "Batch norm re-centres and re-scales each channel over the mini-batch, so a layer's "
        "input keeps the same distribution while earlier weights change (the notes' internal "
        "covariate shift) and the gradient size does not depend on the weights' scale. At the "
        "high learning rate the network without it falls into a dead state (every ReLU off, "
        "loss stuck at ln 10 = 2.30) or diverges; the normalized one keeps learning."
        + (" Stopped runs: " + "; ".join(notes) if notes else "")
    )
    report.doc.figure(path, "Loss per epoch (dashed: train, solid: validation)")


def _alone_vs_batched(model: nn.Module, x: torch.Tensor) -> float:
    """Max |logit difference| between each image of ``x`` alone and all of ``x`` as a batch."""
    with torch.no_grad():
        alone = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
        return float((alone - model(x)).abs().max())


def _batch_statistics_accuracy(model: nn.Module, data: Dataset, group: int) -> float:
    """Accuracy when each batch of ``group`` images is normalized with its own statistics
    (train-mode BN, as if ``model.eval()`` were forgotten)."""
    x = to_float(data.images)
    with torch.no_grad():
        pred = torch.cat([model(part).argmax(1) for part in x.split(group)])
    return float((pred == data.labels).float().mean())


def _running_statistics(report: Report, model: nn.Module, train: Dataset, val: Dataset) -> None:
    model.eval()
    x_val = to_float(val.images)
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    seen: list[torch.Tensor] = []
    handle = norm.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        accuracy = float((model(x_val).argmax(1) == val.labels).float().mean())
        model(to_float(train.images))
    handle.remove()
    channel_mean = seen[-1].mean(dim=(0, 2, 3))
    mean_gap = float((norm.running_mean - channel_mean).abs().max())
    spread = float(channel_mean.abs().max())
    eval_gap = _alone_vs_batched(model, x_val[:16])
    in_training = copy.deepcopy(model).train()  # batch statistics; the copy's averages move
    train_gap = _alone_vs_batched(in_training, x_val[:16])
    one_by_one = _batch_statistics_accuracy(in_training, val, 1)
    report.doc.heading("Running statistics at evaluation")
    report.doc.paragraph(
        "In training each batch is normalized with its own mean and variance; the layer also "
        "keeps moving averages of them (momentum 0.1), and evaluation uses those, so a "
        "prediction does not depend on which other images share the batch."
    )
    report.doc.table(
        ["measurement (BN network, first BN layer)", "value"],
        [
            [
                f"max |running mean - mean over the training images| (means up to {spread:.3f})",
                f"{mean_gap:.4f}",
            ],
            ["validation accuracy, running statistics (eval mode)", f"{accuracy:.2%}"],
            ["validation accuracy, batch statistics, one image at a time", f"{one_by_one:.2%}"],
            ["max |logit change|, image alone vs in a batch of 16, eval mode", f"{eval_gap:.1e}"],
            ["the same with batch statistics (train mode)", f"{train_gap:.3f}"],
        ],
    )
    report.check(
        "with running statistics a prediction does not depend on the batch",
        f"logit change {eval_gap:.1e} (eval) vs {train_gap:.2f} (batch statistics)",
        eval_gap < 1e-4 < train_gap,
    )
    report.metrics.update(
        running_mean_gap=mean_gap,
        eval_accuracy_running=accuracy,
        eval_accuracy_one_by_one=one_by_one,
        eval_logit_change=eval_gap,
        batch_statistics_logit_change=train_gap,
    )
