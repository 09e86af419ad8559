"""The degradation problem and residual learning (He, Zhang, Ren & Sun, CVPR 2016).

Plain and residual CIFAR-style networks (3x3 conv 16, three stages of 16/32/64 channels, batch
norm) at depths 20 and 56 on the same data with the same budget, and the gradient reaching
each layer at initialization for sigmoid, ReLU and residual networks (the vanishing gradient
and the degradation problem of the course notes' "Residual Networks").

Quick: the bundled 8x8 digits, 8 epochs (Adam, cosine schedule). Full: CIFAR-10 (download),
the paper's SGD (lr 0.1, momentum 0.9, weight decay 1e-4, batch 128) for 164 epochs, with a
cosine schedule instead of the two steps. Run times are in docs/experiments.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data.augment import to_float
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.plots import Line, Panel, epochs_of, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.runs import TrainJob
from cnnlab.train import History, TrainConfig


@dataclass(frozen=True)
class Settings:
    """The same data, optimizer, schedule and epochs for all four networks."""

    dataset: str
    train_split: str
    val_split: str
    depths: tuple[int, int] = (20, 56)
    epochs: int = 8
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    schedule: str = "cosine"
    gradient_batch: int = 256
    seed: int = 0


QUICK = Settings(dataset="digits", train_split="train", val_split="test")
FULL = Settings(
    dataset="cifar10",
    train_split="train",
    val_split="test",
    epochs=164,
    optimizer="sgd",
    lr=0.1,
    weight_decay=1e-4,
    batch_size=128,
)
FAMILIES = (("plain", "plain"), ("residual", "resnet"))
PAPER_TEST_ERROR = {20: "8.75%", 56: "6.97%"}


def _fit(ctx: Context, s: Settings, model: str) -> History:
    train = TrainConfig(
        epochs=s.epochs,
        batch_size=s.batch_size,
        optimizer=s.optimizer,
        lr=s.lr,
        momentum=0.9,
        weight_decay=s.weight_decay,
        schedule=s.schedule,
        seed=s.seed,
        monitor="val_accuracy",
    )
    job = TrainJob(model, s.dataset, s.train_split, s.val_split, train=train)
    return ctx.run_job(job, model)[1]


def conv_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Norm of the loss gradient of every convolution's weight, input side first."""
    model.train()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [float(m.weight.grad.norm()) for m in model.modules() if isinstance(m, nn.Conv2d)]


def gradient_study(ctx: Context, s: Settings, depth: int) -> dict[str, dict[str, list[float]]]:
    """Per-layer gradient norms at initialization on one batch: sigmoid plain, ReLU plain and
    ReLU residual networks of ``depth`` layers, without and with batch norm."""
    data = ctx.load(s.dataset, f"{s.train_split}[:{s.gradient_batch}]")
    x, y = to_float(data.images), data.labels
    kwargs = {"in_channels": x.shape[1], "image_size": x.shape[-1], "num_classes": 10}
    nets = (("sigmoid, plain", "plain", "sigmoid"), ("ReLU, plain", "plain", "relu"))
    nets += (("ReLU, residual", "resnet", "relu"),)
    study: dict[str, dict[str, list[float]]] = {}
    for norm in (None, "batch"):
        key = "with batch norm" if norm else "no normalization"
        study[key] = {}
        for label, family, activation in nets:
            torch.manual_seed(s.seed)
            model = create_model(
                f"{family}{depth}", activation=activation, norm_layer=norm, **kwargs
            )
            study[key][label] = conv_gradient_norms(model, x, y)
    return study


def _ratio(norms: list[float]) -> float:
    """Gradient norm at the first convolution over the last one (1: no vanishing)."""
    return max(norms[0], 1e-30) / max(norms[-1], 1e-30)


def _ratio_text(norms: list[float]) -> str:
    return "0 (underflow)" if norms[0] == 0 else f"{_ratio(norms):.1e}"


@register_experiment
def resnet_degradation(ctx: Context) -> Report:
    """Plain vs residual networks at two depths: He et al. Fig. 1 and 6, vanishing gradients."""
    s = ctx.pick(QUICK, FULL)
    histories = {
        (family, depth): _fit(ctx, s, f"{prefix}{depth}")
        for family, prefix in FAMILIES
        for depth in s.depths
    }
    shallow, deep = s.depths
    report = Report(
        ctx,
        "Degradation: plain vs residual networks at two depths",
        f"He et al. observed that a {deep}-layer plain network has HIGHER training error than a "
        f"{shallow}-layer one (Fig. 1), so the problem is optimization, not overfitting, and that "
        "with identity shortcuts the deeper network is the better one (Fig. 6). The four "
        f"networks here differ only in depth and shortcuts; data: {s.dataset} "
        f"({s.train_split} / {s.val_split}), the same optimizer, schedule and epochs for all.",
        settings=s,
    )
    loss = {key: h.rows[-1]["loss"] for key, h in histories.items()}
    shape = {
        ("plain", deep): f"above plain-{shallow} (He et al. Fig. 1 and 6, left)",
        ("residual", deep): f"below residual-{shallow} (He et al. Fig. 6, middle)",
    }
    for (family, depth), history in histories.items():
        report.result(
            f"{family}-{depth}: final training loss",
            loss[family, depth],
            "{:.4f}",
            shape.get((family, depth), ""),
            headline=True,
        )
        report.result(
            f"{family}-{depth}: validation error",
            1 - history.rows[-1]["val_accuracy"],
            literature=f"CIFAR-10 test error {PAPER_TEST_ERROR[depth]} (He et al. Table 6)"
            if family == "residual"
            else "",
        )
    _curves(ctx, report, s, histories)
    study = gradient_study(ctx, s, deep)
    _gradients(ctx, report, study, deep)
    report.check(
        f"degradation: plain-{deep} trains worse than plain-{shallow}",
        f"final training loss {loss['plain', deep]:.4f} > {loss['plain', shallow]:.4f}",
        loss["plain", deep] > loss["plain", shallow],
    )
    report.check(
        f"at depth {deep} the residual network trains better than the plain one",
        f"{loss['residual', deep]:.4f} < {loss['plain', deep]:.4f}",
        loss["residual", deep] < loss["plain", deep],
    )
    report.check(
        f"residual-{deep} trains better than residual-{shallow} (deeper is better)",
        f"{loss['residual', deep]:.4f} < {loss['residual', shallow]:.4f}",
        loss["residual", deep] < loss["residual", shallow],
    )
    ratios = {label: _ratio(n) for label, n in study["no normalization"].items()}
    report.check(
        "without normalization, gradients vanish toward the input with sigmoid, much less "
        "with ReLU, and not with shortcuts",
        ", ".join(
            f"{label} {_ratio_text(norms)}" for label, norms in study["no normalization"].items()
        ),
        ratios["sigmoid, plain"] < ratios["ReLU, plain"] < ratios["ReLU, residual"]
        and 0.1 < ratios["ReLU, residual"] < 10,
    )
    report.metrics.update(
        {f"loss_{family}{depth}": value for (family, depth), value in loss.items()}
        | {f"gradient_ratio_{label}": ratio for label, ratio in ratios.items()}
        | {
            f"epoch_seconds_{family}{depth}": sum(r["time"] for r in h.rows) / len(h.rows)
            for (family, depth), h in histories.items()
        }
    )
    return report


def _curves(ctx: Context, report: Report, s: Settings, histories) -> None:
    colors = dict(zip(s.depths, ("tab:orange", "tab:red"), strict=True))
    panels = []
    for family, _ in FAMILIES:
        lines = []
        for depth in s.depths:
            rows = histories[family, depth].rows
            epochs, accuracy = epochs_of(rows, "accuracy")
            _, val_accuracy = epochs_of(rows, "val_accuracy")
            style = {"color": colors[depth]}
            lines.append(
                Line(f"{family}-{depth} train", epochs, [100 * (1 - a) for a in accuracy], style)
            )
            lines.append(
                Line(
                    f"{family}-{depth} validation",
                    epochs,
                    [100 * (1 - a) for a in val_accuracy],
                    style | {"linewidth": 2.5, "linestyle": "--"},
                )
            )
        panels.append(Panel(f"{family} networks", "epoch", "error (%)", lines))
    loss_lines = [
        Line(
            f"{family}-{depth}",
            *epochs_of(histories[family, depth].rows, "loss"),
            {"color": colors[depth], "linestyle": "-" if family == "residual" else ":"},
        )
        for family, _ in FAMILIES
        for depth in s.depths
    ]
    panels.append(Panel("training loss", "epoch", "cross-entropy", loss_lines, log=True))
    path = plot_panels(panels, ctx.figure("degradation"))
    report.doc.heading("Training curves (He et al. Fig. 1 and 6)")
    report.doc.paragraph(
        "Thin lines: training error, thick dashed: validation error, as in the paper's figures. "
        "Among plain networks the deeper one is worse on the TRAINING data; among residual "
        "networks it is better. Epoch times: "
        + ", ".join(
            f"{family}-{depth} {sum(r['time'] for r in h.rows) / len(h.rows):.1f} s"
            for (family, depth), h in histories.items()
        )
        + "."
    )
    report.doc.figure(path, "Error and training loss per epoch, plain and residual networks")


def _gradients(ctx: Context, report: Report, study, depth: int) -> None:
    panels = []
    for key, nets in study.items():
        lines = [
            Line(label, range(1, len(norms) + 1), norms, {"marker": "."})
            for label, norms in nets.items()
        ]
        panels.append(
            Panel(key, "convolution (input side first)", "gradient norm", lines, log=True)
        )
    path = plot_panels(panels, ctx.figure("gradients"))
    report.doc.heading("Gradient norms per layer at initialization")
    report.doc.paragraph(
        f"One batch through {depth}-layer networks with fresh weights; the norm of the loss "
        "gradient of each convolution's weights. The sigmoid's derivative is at most 0.25, so "
        "backpropagation through many sigmoid layers shrinks the gradient geometrically (the "
        "notes' vanishing gradient); ReLU passes it with slope 1 where active; identity "
        "shortcuts add a path on which it is not multiplied at all, so every layer gets a "
        "gradient of similar size. Batch norm rescales every layer, which removes most of the "
        "vanishing but lets plain ReLU stacks grow gradients toward the input instead."
    )
    report.doc.figure(path, "Gradient norm of each convolution, without and with batch norm")
    report.doc.table(
        ["network", *(f"first / last conv, {key}" for key in study)],
        [
            [label, *(_ratio_text(study[key][label]) for key in study)]
            for label in next(iter(study.values()))
        ],
    )
