"""Model ensembles, and dropout as an ensemble (the course notes, "Model Ensemble";
Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, JMLR 2014).

k LeNet-5 trained on the same MNIST images from k seeds and averaged as one
:class:`~cnnlab.models.Ensemble` (:func:`~cnnlab.runs.ensemble_runs`: each member's mistakes,
the ensemble's, their overlap). Then one dropout network, the notes' 784-512-512-10 MLP with
p = 0.5, tested three ways beside the explicit ensemble: weight scaling (eval mode, one pass;
PyTorch's inverted dropout scales in training, which is the same rule), and Monte Carlo
dropout, the mean probability of T passes with dropout on, i.e. an explicit average of T of
its 2^1024 thinned networks. Quick and full: MNIST's 10,000 test images split 8,000 / 2,000.
Run times are in docs/experiments.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.data import MNIST_SPLITS, describe_source
from cnnlab.experiments.plots import Line, Panel, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import Ensemble
from cnnlab.runs import EnsembleEvaluation, TrainJob, ensemble_runs, load_run
from cnnlab.runs.ensemble import HEADER
from cnnlab.train import TrainConfig

SRIVASTAVA_MC = "weight scaling matches a Monte Carlo average of about 50 thinned nets "
SRIVASTAVA_MC += "(Srivastava et al. 2014, sec. 7.5, Fig. 11)"


@dataclass(frozen=True)
class Settings:
    """``members`` LeNet-5 (seeds ``seed``, ``seed + 1``, ...) of ``epochs`` each; the
    dropout MLP trains ``dropout_epochs`` (dropout slows learning: the notes' "the epochs
    double") and is averaged over up to ``passes`` Monte Carlo passes. Every run is tested
    with its last weights: no checkpoint is chosen on the held-out images."""

    members: int
    epochs: int
    dropout_epochs: int
    passes: int
    batch_size: int = 64
    lr: float = 1e-3
    p: float = 0.5
    seed: int = 0


QUICK = Settings(members=5, epochs=2, dropout_epochs=4, passes=50)
FULL = Settings(members=10, epochs=15, dropout_epochs=30, passes=200)


@dataclass
class Cost:
    """One way to predict: its held-out error, forward passes per image, networks trained,
    training seconds and seconds to predict the held-out images."""

    method: str
    error: float
    passes: int
    trained: int
    train_seconds: float
    predict_seconds: float

    def row(self) -> list[str]:
        return [
            self.method,
            f"{self.error:.2%}",
            str(self.passes),
            str(self.trained),
            f"{self.train_seconds:.1f} s",
            f"{1000 * self.predict_seconds:.0f} ms",
        ]


def _train(ctx: Context, job: TrainJob, variant: str) -> tuple[Path, float]:
    """Train ``job`` into ``runs/<variant>``; its run directory and the seconds it took."""
    started = time.perf_counter()
    run, _ = ctx.run_job(job, variant)
    return run.root, time.perf_counter() - started


def _job(s: Settings, model: str, epochs: int, seed: int, **kwargs) -> TrainJob:
    """``model`` on MNIST's 8,000 / 2,000 test images, trained by Adam."""
    config = TrainConfig(epochs=epochs, batch_size=s.batch_size, lr=s.lr, seed=seed)
    return TrainJob(model, "mnist", *MNIST_SPLITS, train=config, model_kwargs=kwargs)


def _timed(function: Callable[..., torch.Tensor], *args) -> tuple[torch.Tensor, float]:
    """``function(*args)`` without gradients, and the seconds it took."""
    started = time.perf_counter()
    with torch.no_grad():
        out = function(*args)
    return out, time.perf_counter() - started


def monte_carlo_dropout(model: nn.Module, x: torch.Tensor, passes: int, seed: int) -> torch.Tensor:
    """``passes`` x N x K softmax probabilities of ``model`` with its dropout layers in
    training mode (fresh masks each pass) and every other layer in eval mode; the mean over
    the first T passes is Monte Carlo dropout with T samples (Gal & Ghahramani 2016)."""
    model.eval()
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    for layer in dropouts:
        layer.train()
    try:
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(seed)
            return torch.stack([torch.softmax(model(x), dim=1) for _ in range(passes)])
    finally:
        model.eval()


def running_errors(probabilities: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Error of the mean of the first T rows of ``probabilities`` (T x N x K), T = 1, 2, ..."""
    counts = torch.arange(1, len(probabilities) + 1).view(-1, 1, 1)
    means = probabilities.cumsum(0) / counts  # T x N x K
    return (means.argmax(2) != labels).float().mean(1).tolist()


@register_experiment
def ensemble(ctx: Context) -> Report:
    """Model ensembles: k LeNet-5 averaged, their error overlap; dropout as an ensemble."""
    s = ctx.pick(QUICK, FULL)
    seeds = [s.seed + i for i in range(s.members)]
    trained = [_train(ctx, _job(s, "lenet5", s.epochs, i), f"lenet5-seed{i}") for i in seeds]
    result = ensemble_runs(
        [run for run, _ in trained],
        checkpoint="last",
        data_dir=ctx.data_dir,
        download=ctx.download,
    )
    dropout_run = _train(ctx, _job(s, "mlp", s.dropout_epochs, s.seed, dropout=s.p), "mlp-dropout")
    held_out = ctx.load("mnist", MNIST_SPLITS[1])
    report = Report(
        ctx,
        "Model ensembles, and dropout as an ensemble",
        f"{s.members} LeNet-5 trained on the same images for {s.epochs} epochs each, from "
        f"seeds {seeds[0]} to {seeds[-1]} (initial weights and batch order differ), then "
        "averaged: the ensemble's probability is the mean of the members' softmax "
        "probabilities. Then the notes' dropout MLP (784-512-512-10, p = 0.5, "
        f"{s.dropout_epochs} epochs) tested with weight scaling and with Monte Carlo dropout. "
        + describe_source("mnist", 8000, len(held_out)),
        settings=s,
    )
    x, labels = result.input_spec.apply(held_out.images), held_out.labels
    members = result.model.members
    train_seconds = [seconds for _, seconds in trained]
    by_size = [_error(Ensemble(list(members[:j])), x, labels) for j in range(1, s.members + 1)]
    mc_errors, dropout_costs = _dropout(s, *dropout_run, held_out.images, labels)
    costs = [
        Cost(
            "one LeNet-5 (mean member)",
            result.mean_member_error,
            1,
            1,
            sum(train_seconds) / s.members,
            _timed(members[0], x)[1],
        ),
        Cost(
            f"ensemble of {s.members} LeNet-5",
            result.ensemble_error,
            s.members,
            s.members,
            sum(train_seconds),
            _timed(result.model, x)[1],
        ),
        *dropout_costs,
    ]
    _results(report, s, result, costs)
    _sections(ctx, report, s, result, by_size, costs, mc_errors)
    _checks(report, s, result, costs, mc_errors)
    report.metrics.update(
        mean_member_error=result.mean_member_error,
        ensemble_error=result.ensemble_error,
        all_wrong=result.all_wrong,
        any_wrong=result.any_wrong,
        mean_member_wrong=result.mean_member_wrong,
        weight_scaling_error=costs[2].error,
        mc_error_one_pass=mc_errors[0],
        mc_error_at_members=mc_errors[s.members - 1],
        mc_error=mc_errors[-1],
        ensemble_train_seconds=sum(train_seconds),
        dropout_train_seconds=dropout_run[1],
    )
    return report


def _error(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``labels`` that ``model`` (in eval mode) misclassifies."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) != labels).float().mean())


def _dropout(
    s: Settings, run_dir: Path, train_seconds: float, images: torch.Tensor, labels: torch.Tensor
) -> tuple[list[float], list[Cost]]:
    """The dropout MLP's Monte Carlo error for T = 1 ... ``passes``, and its costs with weight
    scaling and with Monte Carlo dropout at T = ``members`` (the ensemble's passes) and
    T = ``passes``."""
    run = load_run(run_dir, "last")
    x = run.input_spec.apply(images)
    scaled_seconds = _timed(run.model, x)[1]
    probabilities, mc_seconds = _timed(monte_carlo_dropout, run.model, x, s.passes, s.seed)
    errors = running_errors(probabilities, labels)
    per_pass = mc_seconds / s.passes
    method = "dropout MLP, Monte Carlo, T = {}"
    return errors, [
        Cost(
            "dropout MLP, weight scaling (eval mode)",
            _error(run.model, x, labels),
            1,
            1,
            train_seconds,
            scaled_seconds,
        ),
        *(
            Cost(method.format(t), errors[t - 1], t, 1, train_seconds, per_pass * t)
            for t in (s.members, s.passes)
        ),
    ]


COST_HEADER = [
    "method",
    "held-out error",
    "forward passes per image",
    "networks trained",
    "training time",
    "prediction time (held-out images)",
]


def _results(report: Report, s: Settings, result: EnsembleEvaluation, costs: list[Cost]) -> None:
    report.result(
        f"mean member error, {s.members} LeNet-5", result.mean_member_error, headline=True
    )
    report.result(
        f"ensemble error, {s.members} LeNet-5 (mean probability)",
        result.ensemble_error,
        literature="below the mean member's when members err on different samples (Hansen & "
        "Salamon 1990; the notes)",
        headline=True,
    )
    report.result(
        f"held-out images wrong by all {s.members} / by at least one member",
        result.all_wrong,
        text=f"{result.all_wrong:,} / {result.any_wrong:,} of {result.samples:,}",
        headline=True,
    )
    for name, error in zip(result.names, result.member_errors, strict=True):
        report.result(f"error, {name}", error)
    scaled, at_members, at_passes = costs[2:]
    report.result(
        "dropout MLP error, weight scaling (eval mode)",
        scaled.error,
        literature="1.35% on full MNIST (dropout net; Srivastava et al. 2014, Table 2)",
        headline=True,
    )
    report.result(f"dropout MLP error, Monte Carlo dropout T = {s.members}", at_members.error)
    report.result(
        f"dropout MLP error, Monte Carlo dropout T = {s.passes}",
        at_passes.error,
        literature=SRIVASTAVA_MC,
        headline=True,
    )


def _sections(
    ctx: Context,
    report: Report,
    s: Settings,
    result: EnsembleEvaluation,
    by_size: list[float],
    costs: list[Cost],
    mc_errors: list[float],
) -> None:
    doc = report.doc
    doc.heading("Members, ensemble, and where they err")
    doc.table(list(HEADER), result.rows())
    doc.paragraph(
        f"A member gets {result.mean_member_wrong:.1f} of the {result.samples:,} held-out images "
        f"wrong on average; only {result.all_wrong} are wrong for all {s.members}, while "
        f"{result.any_wrong} are wrong for at least one. Most mistakes are a minority's, and a "
        f"minority is outvoted by the mean: the ensemble gets {result.ensemble_wrong} wrong. "
        "This is the notes' argument: one model errs on one part of the test data, another "
        "on another part, and the parts most models get right do not change."
    )
    ensemble_error = costs[1].error
    lines = [
        Line("ensemble of the first k", range(1, s.members + 1), by_size, {"marker": "o"}),
        Line(
            "mean member",
            [1, s.members],
            [result.mean_member_error] * 2,
            {"color": "gray", "linestyle": "--"},
        ),
    ]
    mc = [
        Line("Monte Carlo dropout, mean of T passes", range(1, s.passes + 1), mc_errors),
        Line(
            "weight scaling (1 pass)",
            [1, s.passes],
            [costs[2].error] * 2,
            {"color": "tab:red", "linestyle": "--"},
        ),
        Line(
            f"ensemble of {s.members} LeNet-5",
            [1, s.passes],
            [ensemble_error] * 2,
            {"color": "tab:green", "linestyle": ":"},
        ),
    ]
    path = plot_panels(
        [
            Panel("Explicit ensemble of LeNet-5", "members k", "held-out error", lines),
            Panel("Dropout MLP: Monte Carlo vs weight scaling", "passes T", "held-out error", mc),
        ],
        ctx.figure("ensemble"),
    )
    doc.figure(path, "Held-out error against the number of members and of dropout passes")
    doc.heading("Dropout as an ensemble: weight scaling, Monte Carlo, explicit")
    doc.paragraph(
        "Training with dropout samples one thinned network per batch from the 2^H that share "
        "the weights (H = 1,024 hidden units here). Their exact average is out of reach; the "
        "paper's weight scaling approximates it in one pass, keeping every unit and scaling "
        "its outgoing weights by the keep probability (PyTorch's inverted dropout divides by "
        "it in training instead: the same rule). Monte Carlo dropout averages T thinned "
        "networks explicitly at T times the cost; the explicit ensemble trains k separate "
        "networks and pays k passes too."
    )
    doc.table(COST_HEADER, [c.row() for c in costs])
    doc.paragraph(
        f"Times were measured once on a shared CPU (Monte Carlo at T = {s.members}: the time of "
        f"{s.passes} passes times {s.members} / {s.passes}); the forward passes per image are "
        "the dependable measure of prediction cost. Training times include each run's "
        "report."
    )


def _checks(
    report: Report,
    s: Settings,
    result: EnsembleEvaluation,
    costs: list[Cost],
    mc_errors: list[float],
) -> None:
    report.check(
        "the ensemble errs less than its mean member",
        f"{result.ensemble_error:.2%} < {result.mean_member_error:.2%}",
        result.ensemble_error < result.mean_member_error,
    )
    report.check(
        "the members err on different images: fewer than half of the images some member "
        "gets wrong are wrong for all",
        f"{result.all_wrong} wrong for all, {result.any_wrong} for at least one "
        f"({result.mean_member_wrong:.1f} per member)",
        result.all_wrong < result.any_wrong / 2,
    )
    scaled = costs[2].error
    report.check(
        "one thinned network (T = 1) errs more than weight scaling",
        f"{mc_errors[0]:.2%} > {scaled:.2%}",
        mc_errors[0] > scaled,
    )
    report.check(
        f"Monte Carlo dropout with T = {s.passes} matches weight scaling (within 0.5 points)",
        f"{mc_errors[-1]:.2%} vs {scaled:.2%}",
        abs(mc_errors[-1] - scaled) <= 0.005,
    )
