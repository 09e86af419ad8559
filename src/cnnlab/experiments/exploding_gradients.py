"""Exploding gradients: a deep plain network with too-large initial weights (the course notes,
"Residual Networks": "EXPLODING GRADIENT ... variazioni dei pesi molto elevate").

The same deep ReLU MLP three times, all by SGD with momentum: He initialization scaled by
``gain`` (each layer multiplies the backpropagated signal by about ``gain``), once as is and
once with gradient clipping (Pascanu, Mikolov & Bengio, ICML 2013), then with plain He
initialization (He et al., ICCV 2015). A callback records, at every step, the norm of the
gradient backpropagation carries into each layer and the global gradient norm before
clipping. Quick and full: the bundled 8x8 digits (full: more epochs). Run times are in
docs/experiments.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.plots import Line, Panel, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model
from cnnlab.train import Callback, Trainer, TrainingDiverged

Rows = list[dict[str, float]]


@dataclass(frozen=True)
class Settings:
    """A ``depth``-hidden-layer MLP of ``width`` units; ``gain`` scales He's standard deviation
    ``sqrt(2 / fan_in)`` in the bad variants. ``grad_clip`` is the clipped run's maximum global
    gradient norm. A run converges when its last training loss is below ``converged``."""

    epochs: int
    depth: int = 8
    width: int = 64
    gain: float = 2.0
    lr: float = 0.02
    momentum: float = 0.9
    batch_size: int = 64
    grad_clip: float = 1.0
    converged: float = 1.0
    seed: int = 0


QUICK = Settings(epochs=15)
FULL = Settings(epochs=40)


@dataclass
class GradientProbe(Callback):
    """Per training step: ``signal[l]`` = ``||dL/dz_l||``, the gradient backpropagation
    carries into the output ``z_l`` of linear layer ``l`` (input side first), and ``norm``, the
    global gradient norm of all parameters before any clipping; ``losses``: the running mean
    training loss of the epoch at each step (read with ``sync_every=1``).

    Hooks fire during ``backward``, before the update clips, so a clipped run's records are
    the gradients as computed, before clipping scaled them.
    """

    steps: list[dict[str, object]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def on_fit_start(self, trainer: Trainer) -> None:
        layers = [m for m in trainer.model.modules() if isinstance(m, nn.Linear)]
        self._pending: dict[str, object] = {"signal": [0.0] * len(layers), "squares": 0.0}
        self._handles = [m.register_forward_hook(self._watch(i)) for i, m in enumerate(layers)]
        self._handles += [p.register_hook(self._square) for p in trainer.model.parameters()]

    def _watch(self, index: int):
        def hook(module: nn.Module, args, output: torch.Tensor) -> None:
            if output.requires_grad:  # training steps only, not evaluation
                output.register_hook(lambda g: self._signal(index, g))

        return hook

    def _signal(self, index: int, grad: torch.Tensor) -> None:
        self._pending["signal"][index] = float(grad.norm())

    def _square(self, grad: torch.Tensor) -> None:
        self._pending["squares"] += float(grad.double().pow(2).sum())

    def _flush(self, trainer: Trainer) -> None:
        signal, squares = self._pending["signal"], self._pending["squares"]
        self.steps.append(
            {"step": trainer.global_step, "signal": list(signal), "norm": math.sqrt(squares)}
        )
        self._pending = {"signal": [0.0] * len(signal), "squares": 0.0}

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        self.losses.append(loss)

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        self._flush(trainer)

    def on_fit_error(self, trainer: Trainer, error: BaseException) -> None:
        self._flush(trainer)  # the step that diverged: its backward ran, its sync raised
        self._release()

    def on_fit_end(self, trainer: Trainer) -> None:
        self._release()

    def _release(self) -> None:
        for handle in self._handles:
            handle.remove()


@dataclass
class Outcome:
    """One run: the probe's records, the history, and the divergence message (or "")."""

    probe: GradientProbe
    rows: Rows
    diverged: str


def _model(s: Settings, gain: float) -> nn.Module:
    """The MLP with every linear layer drawn from ``N(0, (gain * sqrt(2 / fan_in))^2)``, bias 0:
    the same draws for every gain (one seed), only their scale differs."""
    model = create_model("mlp", in_channels=1, image_size=8, hidden=(s.width,) * s.depth)
    generator = torch.Generator().manual_seed(s.seed)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                std = gain * math.sqrt(2 / layer.in_features)
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.zero_()
    return model


def _fit(ctx: Context, s: Settings, variant: str, gain: float, clip: float | None) -> Outcome:
    probe = GradientProbe()
    trainer = ctx.trainer(
        _model(s, gain),
        variant,
        callbacks=[probe],
        sync_every=1,
        epochs=s.epochs,
        batch_size=s.batch_size,
        optimizer="sgd",
        lr=s.lr,
        momentum=s.momentum,
        grad_clip=clip,
        seed=s.seed,
    )
    try:
        trainer.fit(ctx.load("digits", "train"), ctx.load("digits", "test"))
        diverged = ""
    except TrainingDiverged as error:
        diverged = str(error)
    return Outcome(probe, trainer.history.rows, diverged)


def growth_factor(signal: list[float]) -> float:
    """Mean factor by which the backpropagated gradient grows per layer toward the input:
    ``(||dL/dz_1|| / ||dL/dz_L||)^(1 / (L - 1))`` (1: neither explodes nor vanishes)."""
    return (signal[0] / signal[-1]) ** (1 / (len(signal) - 1))


@register_experiment
def exploding_gradients(ctx: Context) -> Report:
    """Exploding gradients: too-large initial weights diverge; clipping or He init converge."""
    s = ctx.pick(QUICK, FULL)
    runs = {
        "too large": _fit(ctx, s, f"gain{s.gain:g}", s.gain, None),
        "too large, clipped": _fit(
            ctx, s, f"gain{s.gain:g}-clip{s.grad_clip:g}", s.gain, s.grad_clip
        ),
        "He init": _fit(ctx, s, "he", 1.0, None),
    }
    report = Report(
        ctx,
        "Exploding gradients: too-large initialization, clipping, He initialization",
        f"A plain MLP of {s.depth} hidden ReLU layers of {s.width} units on scikit-learn's 8x8 "
        f"digits (1,437 train / 360 test), trained by SGD (lr {s.lr:g}, momentum "
        f"{s.momentum:g}, batch {s.batch_size}) three times from the same random draws: scaled "
        f"to {s.gain:g} times He's standard deviation sqrt(2 / fan_in), the same with the global "
        f"gradient norm clipped to {s.grad_clip:g}, and at He's scale. The trainer's divergence "
        "guard stops a run whose loss becomes infinite, NaN, or 10,000 times its first value.",
        settings=s,
    )
    factors = {label: growth_factor(run.probe.steps[0]["signal"]) for label, run in runs.items()}
    bad, clipped, good = runs.values()
    diverged_at = bad.probe.steps[-1]["step"] if bad.diverged else None
    final = {label: run.rows[-1]["loss"] if run.rows else math.inf for label, run in runs.items()}
    report.result(
        f"gradient growth per layer toward the input at initialization, {s.gain:g}x He",
        factors["too large"],
        "{:.2f}",
        "gradients explode when the per-layer factor exceeds 1 (Bengio et al. 1994; "
        "Pascanu et al. 2013)",
        headline=True,
    )
    report.result(
        "gradient growth per layer at initialization, He init", factors["He init"], "{:.2f}"
    )
    report.result(
        f"step at which the loss diverged, {s.gain:g}x He, no clipping",
        diverged_at or math.nan,
        "{:.0f}",
        headline=True,
        text=None if diverged_at else "did not diverge",
    )
    for label in ("too large, clipped", "He init"):
        rows = runs[label].rows
        report.result(
            f"final training loss, {label}",
            final[label],
            "{:.3f}",
            "clipping the norm keeps training stable (Pascanu et al. 2013)"
            if label == "too large, clipped"
            else "He init keeps the signal's scale in deep ReLU nets (He et al. 2015)",
            headline=True,
        )
        report.result(f"validation accuracy, {label}", rows[-1]["val_accuracy"] if rows else 0.0)
    _figures(ctx, report, s, runs)
    first, last = bad.probe.steps[0], bad.probe.steps[-1]
    step_growth = last["norm"] / first["norm"]
    report.check(
        f"at {s.gain:g}x He the gradient grows layer after layer toward the input, "
        "at He's scale it does not",
        f"{factors['too large']:.2f} vs {factors['He init']:.2f} per layer",
        factors["too large"] > 1.5 and 0.7 < factors["He init"] < 1.3,
    )
    report.check(
        "without clipping the gradient grows step after step and the loss diverges",
        f"diverged at step {diverged_at}; gradient norm {first['norm']:.3g} at step 1, "
        f"{last['norm']:.3g} at step {last['step']}"
        if diverged_at
        else "no divergence",
        diverged_at is not None and not step_growth < 100,
    )
    report.check(
        f"clipped to {s.grad_clip:g}, the same network converges "
        f"(final training loss < {s.converged:g})",
        f"{final['too large, clipped']:.3f}" + (" (diverged)" if clipped.diverged else ""),
        not clipped.diverged and final["too large, clipped"] < s.converged,
    )
    report.check(
        f"with He initialization it converges (final training loss < {s.converged:g})",
        f"{final['He init']:.3f}" + (" (diverged)" if good.diverged else ""),
        not good.diverged and final["He init"] < s.converged,
    )
    report.metrics.update(
        growth_factor_large=factors["too large"],
        growth_factor_clipped=factors["too large, clipped"],
        growth_factor_he=factors["He init"],
        diverged_step=diverged_at or -1,
        gradient_norm_growth=step_growth,
        final_loss_clipped=final["too large, clipped"],
        final_loss_he=final["He init"],
        diverged_clipped=float(bool(clipped.diverged)),
        diverged_he=float(bool(good.diverged)),
        val_accuracy_clipped=clipped.rows[-1]["val_accuracy"] if clipped.rows else 0.0,
        val_accuracy_he=good.rows[-1]["val_accuracy"] if good.rows else 0.0,
    )
    return report


def _figures(ctx: Context, report: Report, s: Settings, runs: dict[str, Outcome]) -> None:
    colors = dict(zip(runs, ("tab:red", "tab:orange", "tab:blue"), strict=True))
    layers = range(1, s.depth + 2)
    dashes = {"too large, clipped": "--"}  # at step 1 it is the unclipped run: same weights
    at_init = [
        Line(
            label,
            layers,
            run.probe.steps[0]["signal"],
            {"color": colors[label], "marker": "o", "linestyle": dashes.get(label, "-")},
        )
        for label, run in runs.items()
    ]
    bad = runs["too large"].probe
    by_step = [
        Line(
            f"layer {layer}",
            [step["step"] for step in bad.steps],
            [step["signal"][layer - 1] for step in bad.steps],
            {"marker": "o", "color": f"C{(layer - 1) % 10}"},
        )
        for layer in layers
    ]
    losses = [
        Line(label, range(1, len(run.probe.losses) + 1), run.probe.losses, {"color": colors[label]})
        for label, run in runs.items()
    ]
    path = plot_panels(
        [
            Panel(
                "at initialization (step 1)",
                "linear layer (input side first)",
                "||dL/dz|| into the layer",
                at_init,
                log=True,
            ),
            Panel(
                f"{s.gain:g}x He, no clipping: step by step",
                "training step",
                "||dL/dz|| into the layer",
                by_step,
                log=True,
            ),
            Panel("training loss", "training step", "running mean of the epoch", losses, log=True),
        ],
        ctx.figure("gradients"),
    )
    report.doc.heading("Per-layer gradient norms, step by step")
    report.doc.paragraph(
        "Backpropagation multiplies the gradient by each layer's transposed weights and the "
        "ReLU's derivative (0 or 1) on its way to the input. He's scale sqrt(2 / fan_in) makes "
        f"that product keep its size on average; {s.gain:g} times that scale multiplies it by "
        f"about {s.gain:g} per layer, so the first layer receives about {s.gain:g}^"
        f"{s.depth} = {s.gain**s.depth:,.0f} times the signal of the last. The weight updates are "
        "as outsized, each step makes the weights larger still, and after a few steps the loss "
        "overflows: the notes' exploding gradient. Clipping bounds each step's size without "
        "changing its direction, so the clipped run, with the same too-large weights, takes "
        "bounded steps downhill and learns; He's initialization avoids the problem at its source."
    )
    report.doc.figure(path, "Gradient norm into each layer, per step, and the training loss")
    report.doc.table(
        [
            "run",
            "growth per layer at step 1",
            "global gradient norm, step 1 / last step",
            "outcome",
        ],
        [
            [
                label,
                f"{growth_factor(run.probe.steps[0]['signal']):.2f}",
                f"{run.probe.steps[0]['norm']:.3g} / {run.probe.steps[-1]['norm']:.3g}",
                run.diverged
                or f"final training loss {run.rows[-1]['loss']:.3f}, validation "
                f"accuracy {run.rows[-1]['val_accuracy']:.2%}",
            ]
            for label, run in runs.items()
        ],
    )
