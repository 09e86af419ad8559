"""The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural
Networks", 2017; fastai's ``lr_find``): train a few steps while the learning rate grows
exponentially, and read off where the loss falls fastest.

    lr_i = start * (end / start) ** (i / (steps - 1)),   i = 0 .. steps - 1
    s_i  = m_i / (1 - beta ** (i + 1)),   m_i = beta * m_(i-1) + (1 - beta) * loss_i

(``s``: the loss smoothed by a bias-corrected exponential moving average, beta = 0.98.) The
test stops once s_i > stop_factor x min_(j <= i) s_j (4 by default) or the loss is not
finite: past that point training diverges.

The suggestion is the steepest descent: the learning rate where the smoothed loss falls
fastest against log(lr), ds / dlog(lr) most negative, looked for between the first tenth of
the steps and the minimum (fastai's ``steep``). ``minimum / 10`` (fastai v1's ``lr_min``) is
given beside it.

The test trains the model, so everything it changes is put back: weights and buffers
(bit-identical), every RNG state, the training mode and what the trainer learnt of the data.
It builds its own optimizer; the trainer's is never touched.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cnnlab.display import block, facts, figure, heading
from cnnlab.errors import CnnlabError
from cnnlab.train.augmentation import step_generator
from cnnlab.train.environment import rng_state, seed_everything, set_rng_state
from cnnlab.train.feed import read
from cnnlab.train.objective import float_output
from cnnlab.train.optim import build_optimizer
from cnnlab.train.update import Update

if TYPE_CHECKING:
    from cnnlab.train.trainer import Trainer


@dataclass(frozen=True)
class LRFind:
    """What the range test measured: per step the learning rate, the loss and the smoothed
    loss, and why it stopped; :attr:`suggestion` is the learning rate to train with.

    >>> result = trainer.lr_find(x, y)  # doctest: +SKIP
    >>> result.suggestion, result.minimum  # doctest: +SKIP
    >>> result.plot("lr_find.png")  # doctest: +SKIP
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stopped: str

    @property
    def minimum(self) -> float:
        """The learning rate of the lowest smoothed loss."""
        return self.lrs[int(np.argmin(self.smoothed))]

    @property
    def steepest(self) -> float:
        """The learning rate where the smoothed loss falls fastest against log(lr), before
        the minimum (``minimum / 10`` when the loss never falls)."""
        low = int(np.argmin(self.smoothed))
        start = len(self.lrs) // 10
        if low - start < 2:
            return self.minimum / 10
        s, log_lr = np.asarray(self.smoothed), np.log(self.lrs)
        slope = np.diff(s[start : low + 1]) / np.diff(log_lr[start : low + 1])
        return self.lrs[start + int(np.argmin(slope))]

    @property
    def suggestion(self) -> float:
        """The steepest descent (see the module's docstring)."""
        return self.steepest

    def plot(self, path: str | os.PathLike | None = None) -> Path | bytes:
        """Loss against learning rate (log scale), the suggestion marked: the PNG at
        ``path``, or its bytes (:func:`cnnlab.viz.plot_lr_find`)."""
        from cnnlab.viz import plot_lr_find  # matplotlib is loaded only to draw

        return plot_lr_find(self.lrs, self.losses, self.smoothed, self.suggestion, path)

    def __repr__(self) -> str:
        low = int(np.argmin(self.smoothed))
        return (
            f"LRFind(suggestion {self.suggestion:.2e} (steepest descent), minimum "
            f"{self.minimum:.2e} (loss {self.smoothed[low]:.4f}), {len(self.lrs)} steps, "
            f"{self.stopped})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("suggestion (steepest descent)", f"{self.suggestion:.2e}"),
            ("minimum of the smoothed loss", f"{self.minimum:.2e}"),
            ("minimum / 10", f"{self.minimum / 10:.2e}"),
            ("steps", f"{len(self.lrs)} ({self.stopped})"),
        ]
        caption = "smoothed training loss against learning rate; the suggestion marked"
        return block(heading(repr(self)), facts(rows), figure(self.plot(), caption, width=560))


def _cycle(batches) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """(epoch, batch, inputs, targets) over as many epochs as asked for."""
    for epoch in itertools.count():
        batches.set_epoch(epoch)
        for index, (inputs, targets) in enumerate(batches):
            yield epoch, index, inputs, targets


def _check(start_lr: float, end_lr: float, steps: int, stop_factor: float, beta: float) -> None:
    if not (0 < start_lr < end_lr < math.inf):
        raise CnnlabError(
            f"lr_find needs 0 < start_lr < end_lr. Received: start_lr={start_lr}, end_lr={end_lr}"
        )
    if not isinstance(steps, int) or steps < 2:
        raise CnnlabError(f"steps must be an integer >= 2. Received: steps={steps!r}")
    if not stop_factor > 1 or not 0 <= beta < 1:
        raise CnnlabError(
            f"stop_factor must be > 1 and beta in [0, 1). Received: stop_factor={stop_factor}, "
            f"beta={beta}"
        )


def range_test(
    trainer: Trainer,
    x,
    y=None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    stop_factor: float = 4.0,
    beta: float = 0.98,
) -> LRFind:
    """Run the range test with ``trainer``'s model, settings and augmentation on training
    data ``x`` (and targets ``y``; any form :meth:`Trainer.fit` takes), then restore.

    Args:
        start_lr, end_lr: the first and last learning rate of the sweep.
        steps: training steps of the sweep (the data is cycled through as needed).
        stop_factor: stop when the smoothed loss exceeds this multiple of its minimum.
        beta: smoothing of the loss (exponential moving average).

    Raises:
        CnnlabError: impossible arguments, or a distributed run (the test runs in one
            process).
    """
    _check(start_lr, end_lr, steps, stop_factor, beta)
    if trainer.world.distributed:
        raise CnnlabError("lr_find runs in one process; run it without torchrun")
    model, cfg = trainer.model, trainer.config
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rngs, mode = rng_state(), model.training
    learnt = (trainer.input_spec, trainer.task, trainer.classes, trainer.num_outputs)
    kept = (trainer.data_source, trainer.objective.training_loss)
    try:
        seed_everything(cfg.seed, cfg.deterministic)
        data = read((x, y) if y is not None else x, trainer.data_format, "training data")
        batches = trainer.batches_for(data)
        return _sweep(trainer, batches, start_lr, end_lr, steps, stop_factor, beta)
    finally:
        model.load_state_dict(weights)
        model.train(mode)
        for parameter in model.parameters():
            parameter.grad = None  # the sweep's last gradients, not the trainer's
        set_rng_state(*rngs)
        trainer.input_spec, trainer.task, trainer.classes, trainer.num_outputs = learnt
        trainer.data_source, trainer.objective.training_loss = kept


def _sweep(trainer: Trainer, batches, start_lr, end_lr, steps, stop_factor, beta) -> LRFind:
    """The steps of the test (see the module's docstring for the formulas)."""
    model, cfg = trainer.model, trainer.config
    parameters = list(model.parameters())
    factories = trainer.factories
    if factories.optimizer is not None:
        optimizer = factories.build_optimizer(parameters)
    else:
        fused = trainer.execution.fused_optimizer
        optimizer = build_optimizer(
            cfg.optimizer, parameters, start_lr, cfg.weight_decay, cfg.momentum, fused=fused
        )
    ratios = [g["lr"] / optimizer.param_groups[0]["lr"] for g in optimizer.param_groups]
    fp16 = trainer.execution.precision == "fp16"
    update = Update(optimizer, None, cfg.grad_clip, fp16, trainer.profiler.section)
    lrs, losses, smoothed = [], [], []
    average, best, stopped = 0.0, math.inf, f"all {steps} steps"
    model.train()
    for step, (epoch, index, inputs, targets) in enumerate(_cycle(batches)):
        lr = start_lr * (end_lr / start_lr) ** (step / (steps - 1))
        for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
            group["lr"] = lr * ratio  # a factory's groups keep their proportions
        if trainer.augment is not None:
            generator = step_generator(cfg.seed, epoch, index)
            inputs, targets = trainer.augment(inputs, targets, generator)
        with trainer.execution.autocast(trainer.device):
            output = trainer.forward(model, inputs)
        loss = trainer.objective(float_output(output), targets)
        update(loss)
        value = float(loss.detach())
        if not math.isfinite(value):
            stopped = f"stopped at step {step + 1}: the loss became {value}"
            break
        average = beta * average + (1 - beta) * value
        lrs.append(lr)
        losses.append(value)
        smoothed.append(average / (1 - beta ** (step + 1)))
        best = min(best, smoothed[-1])
        if smoothed[-1] > stop_factor * best:
            stopped = f"stopped at step {step + 1}: loss over {stop_factor:g}x its minimum"
            break
        if step + 1 == steps:
            break
    if len(lrs) < 2:
        raise CnnlabError(
            f"lr_find: the loss diverged at once ({stopped}); lower start_lr. "
            f"Received: start_lr={start_lr}"
        )
    return LRFind(lrs, losses, smoothed, stopped)
