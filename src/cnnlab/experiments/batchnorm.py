"""Batch normalization: the same CNN with and without it (Ioffe & Szegedy, ICML 2015).

Plain mini-batch gradient descent throughout. The notes' CNN with and without batch norm at a
usual learning rate (epochs to a target accuracy, then the BN model's running statistics), and
a learning-rate ladder: the largest rate at which a three-block version of the CNN still
learns, with and without batch norm. Quick: the bundled digits in MNIST layout. Full: MNIST
(8,000 / 2,000 of the test images). Run times are in docs/experiments.md.
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
from cnnlab.train import Callback, Trainer, TrainingDiverged

Rows = list[dict[str, float]]


@dataclass(frozen=True)
class Settings:
    """Plain mini-batch gradient descent (no momentum).

    ``widths``, ``lr``, ``target``: the notes' CNN at a usual rate and the accuracy it is
    timed to. ``ladder``: increasing rates tried on the CNN with ``ladder_widths``; a network
    learns at a rate when its validation accuracy reaches ``learns`` within ``epochs``.
    ``gain``: BN's largest such rate must be at least this many times the plain network's
    (one rung of the ladder).
    """

    source: str
    epochs: int
    widths: tuple[int, ...] = (32, 64)
    lr: float = 0.05
    target: float = 0.9
    ladder_widths: tuple[int, ...] = (32, 64, 64)
    ladder: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
    learns: float = 0.5
    gain: float = 2.0
    batch_size: int = 64
    seed: int = 0


QUICK = Settings(source="digits", epochs=6)
FULL = Settings(source="mnist", epochs=15, target=0.97)  # both pass 90% in the first MNIST epoch
VARIANTS = (("no BN", None), ("BN", "batch"))


class _StopWhenLearned(Callback):
    """End the fit once validation accuracy reaches ``level`` (all the ladder asks)."""

    def __init__(self, level: float) -> None:
        self.level = level

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if row.get("val_accuracy", 0.0) >= self.level:
            trainer.stop_training = True


def _fit(
    ctx: Context,
    s: Settings,
    norm: str | None,
    lr: float,
    widths: tuple[int, ...],
    data: tuple[Dataset, Dataset],
    stop_at: float | None = None,
) -> tuple[nn.Module, Rows, str]:
    """Train mnist-cnn (dropout off, so BN is the only difference); a divergence is a result.
    With ``stop_at`` the fit ends once validation accuracy reaches it."""
    torch.manual_seed(s.seed)
    model = create_model("mnist-cnn", widths=widths, norm_layer=norm, dropout=0.0)
    blocks = "" if widths == s.widths else f"-{len(widths)}blocks"
    trainer = ctx.trainer(
        model,
        f"{'bn' if norm else 'plain'}{blocks}-lr{lr:g}",
        epochs=s.epochs,
        batch_size=s.batch_size,
        optimizer="sgd",
        momentum=0.0,
        lr=lr,
        seed=s.seed,
        callbacks=[] if stop_at is None else [_StopWhenLearned(stop_at)],
    )
    try:
        trainer.fit(*data)
        note = ""
    except TrainingDiverged as error:
        note = str(error)
    return model, trainer.history.rows, note


def _ladder(
    ctx: Context, s: Settings, norm: str | None, data: tuple[Dataset, Dataset]
) -> dict[float, tuple[Rows, str]]:
    """Climb ``s.ladder`` with the ``s.ladder_widths`` CNN, each fit ending once it learns;
    the climb ends at the first rate where it does not learn within ``s.epochs``."""
    rungs: dict[float, tuple[Rows, str]] = {}
    for lr in s.ladder:
        _, rows, note = _fit(ctx, s, norm, lr, s.ladder_widths, data, stop_at=s.learns)
        rungs[lr] = (rows, note)
        if first_epoch(rows, "val_accuracy", s.learns) is None:
            break
    return rungs


def _largest(s: Settings, rungs: dict[float, tuple[Rows, str]]) -> float | None:
    """The largest rate of the ladder at which the network learned, or None."""
    learned = [lr for lr, (rows, _) in rungs.items() if first_epoch(rows, "val_accuracy", s.learns)]
    return max(learned, default=None)


def _rate(s: Settings, lr: float | None) -> str:
    """A largest learning rate as the report shows it."""
    if lr is None:
        return "none"
    return f"{lr:g} (top of the ladder)" if lr == s.ladder[-1] else f"{lr:g}"


@register_experiment
def batchnorm(ctx: Context) -> Report:
    """Batch norm: convergence speed, the largest trainable learning rate, running
    statistics."""
    s = ctx.pick(QUICK, FULL)
    data = image_pair(ctx, s.source)
    train, val = data
    runs = {label: _fit(ctx, s, norm, s.lr, s.widths, data) for label, norm in VARIANTS}
    ladders = {label: _ladder(ctx, s, norm, data) for label, norm in VARIANTS}
    report = Report(
        ctx,
        "Batch normalization: the same CNN with and without it",
        "The notes' simple CNN (two 3x3 convolutions with max pooling, dense head, dropout off) "
        "trained by plain mini-batch gradient descent, once as is and once with batch norm "
        f"after each convolution, at a usual learning rate; then a learning-rate ladder "
        f"({', '.join(f'{lr:g}' for lr in s.ladder)}) for the same CNN with a third "
        "convolution block, with and without batch norm. "
        + describe_source(s.source, len(train), len(val)),
        settings=s,
    )
    speed = {label: first_epoch(runs[label][1], "val_accuracy", s.target) for label, _ in VARIANTS}
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
    for label, _ in VARIANTS:
        rows = runs[label][1]
        report.result(
            f"validation accuracy, {label}, lr {s.lr:g}",
            rows[-1]["val_accuracy"] if rows else 0.0,
        )
    largest = {label: _largest(s, ladders[label]) for label, _ in VARIANTS}
    blocks = len(s.ladder_widths)
    for label, _ in VARIANTS:
        report.result(
            f"largest learning rate at which the {blocks}-block CNN learns, {label}",
            largest[label] or float("nan"),
            "{:g}",
            "much higher rates: BN-Inception trained at 5x and 30x (Ioffe & Szegedy 2015)"
            if label == "BN"
            else "",
            headline=True,
            text=_rate(s, largest[label]),
        )
    _convergence(ctx, report, s, runs)
    _ladder_section(ctx, report, s, ladders)
    _running_statistics(report, runs["BN"][0], train, val)
    plain_epochs, bn_epochs = speed["no BN"], speed["BN"]
    report.check(
        f"with BN the CNN reaches {s.target:.0%} in fewer epochs (lr {s.lr:g})",
        f"{bn_epochs or 'never'} vs {plain_epochs or 'never'} epochs",
        bn_epochs is not None and (plain_epochs is None or bn_epochs < plain_epochs),
    )
    top_bn, top_plain = largest["BN"], largest["no BN"]
    report.check(
        f"with BN the {blocks}-block CNN learns at learning rates where it fails without "
        f"(largest rate at least {s.gain:g}x higher)",
        f"largest rate {_rate(s, top_bn)} vs {_rate(s, top_plain)}",
        top_plain is not None and top_bn is not None and top_bn >= s.gain * top_plain,
    )
    report.metrics.update(
        epochs_to_target_bn=bn_epochs or -1,
        epochs_to_target_plain=plain_epochs or -1,
        largest_lr_bn=top_bn or 0.0,
        largest_lr_plain=top_plain or 0.0,
    )
    return report


def _convergence(
    ctx: Context, report: Report, s: Settings, runs: dict[str, tuple[nn.Module, Rows, str]]
) -> None:
    lines = []
    for (label, _), color in zip(VARIANTS, ("tab:blue", "tab:red"), strict=True):
        rows = runs[label][1]
        if rows:
            lines.append(
                Line(
                    f"{label}, train", *epochs_of(rows, "loss"), {"color": color, "linestyle": "--"}
                )
            )
            lines.append(
                Line(f"{label}, validation", *epochs_of(rows, "val_loss"), {"color": color})
            )
    path = plot_panels(
        [Panel(f"lr {s.lr:g}", "epoch", "cross-entropy", lines, log=True)], ctx.figure("curves")
    )
    report.doc.heading("Convergence")
    notes = [f"{label}: {note}" for label, (_, _, note) in runs.items() if note]
    report.doc.paragraph(
        "Batch norm re-centres and re-scales each channel over the mini-batch, so a layer's "
        "input keeps the same distribution while earlier weights change (the notes' internal "
        "covariate shift), and a layer's gradient does not depend on the scale of its weights."
        + (" Stopped runs: " + "; ".join(notes) if notes else "")
    )
    report.doc.figure(path, "Loss per epoch (dashed: train, solid: validation)")


def _ladder_section(
    ctx: Context, report: Report, s: Settings, ladders: dict[str, dict[float, tuple[Rows, str]]]
) -> None:
    report.doc.heading("Learning-rate ladder")
    notes_in, notes_dense, notes_total = _dense_layer(s.widths)
    report.doc.paragraph(
        f"A network learns at a rate when its validation accuracy reaches {s.learns:.0%} "
        f"(chance is 10%) within {s.epochs} epochs; each fit stops once it does, and the climb "
        "stops at the first rate where it does not. One run per rate, with the settings' "
        "seed. The ladder uses a third convolution block (widths "
        f"{', '.join(map(str, s.ladder_widths))}), which brings the maps to 1x1, so the dense "
        f"layer sees {_dense_layer(s.ladder_widths)[0]:,} features instead of "
        f"{notes_in:,}. In the notes' CNN that dense layer holds "
        f"{notes_dense:,} of the {notes_total:,} weights and no batch norm protects it: its "
        "step grows with the squared size of its input, and at high rates its first updates "
        "throw both networks, with or without batch norm, into a dead state (every ReLU off, "
        "loss stuck at ln 10 = 2.30; with batch norm, its shifts pushed far negative), so the "
        "notes' CNN would measure the dense layer, not batch norm. With the third block "
        "nearly every weight feeds a batch norm, which makes the layer's output independent "
        "of the weights' scale and shrinks their gradient as they grow (Ioffe & Szegedy, "
        "sec. 3.3)."
    )
    cells = {}
    for label, rungs in ladders.items():
        for lr in s.ladder:
            if lr not in rungs:
                cells[label, lr] = "not tried (failed at a lower rate)"
                continue
            rows, note = rungs[lr]
            epoch = first_epoch(rows, "val_accuracy", s.learns)
            best = max((r["val_accuracy"] for r in rows), default=0.0)
            cells[label, lr] = (
                f"learns: {rows[-1]['val_accuracy']:.0%} at epoch {epoch}"
                if epoch is not None
                else f"fails: at most {best:.0%} in {len(rows)} epochs"
                + (" (diverged)" if note else "")
            )
    report.doc.table(
        ["learning rate", *(label for label, _ in VARIANTS)],
        [[f"{lr:g}", *(cells[label, lr] for label, _ in VARIANTS)] for lr in s.ladder],
    )
    colors = dict(zip(s.ladder, ("tab:green", "tab:blue", "tab:orange", "tab:red"), strict=False))
    panels = []
    for label, rungs in ladders.items():
        lines = [
            Line(
                f"lr {lr:g}",
                *epochs_of(rows, "val_accuracy"),
                {"color": colors.get(lr), "marker": "o"},
            )
            for lr, (rows, _) in rungs.items()
            if rows
        ]
        level = [s.learns, s.learns]
        lines.append(Line("learns", [1, s.epochs], level, {"color": "gray", "linestyle": ":"}))
        panels.append(Panel(f"{label}, {len(s.ladder_widths)} blocks", "epoch", "accuracy", lines))
    path = plot_panels(panels, ctx.figure("ladder"))
    report.doc.figure(path, "Validation accuracy per epoch at each rate of the ladder")


def _dense_layer(widths: tuple[int, ...]) -> tuple[int, int, int]:
    """(input features, parameters) of mnist-cnn's dense layer with ``widths`` on 28x28
    images, and the parameters of the whole network."""
    model = create_model("mnist-cnn", widths=widths, dropout=0.0)
    dense = model.head[-1]
    return (
        dense.in_features,
        sum(p.numel() for p in dense.parameters()),
        sum(p.numel() for p in model.parameters()),
    )


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
