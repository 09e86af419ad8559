"""Callbacks: small objects the trainer calls at fixed points of a fit (Keras' design).

Hooks: ``on_fit_start(trainer)``, ``on_sync(trainer, loss)`` (each time the trainer reads the
running loss back from the device, every few steps: per-step reads would stall the device),
``on_epoch_end(trainer, row)`` with the epoch's history row, ``on_fit_end(trainer)``.
A callback stops training by setting ``trainer.stop_training = True``. Its ``state_dict`` is
saved in checkpoints, so a resumed fit continues with the same patience and best value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    from cnnlab.train.trainer import Trainer


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        """Called with the running mean training loss of the epoch so far."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        """Called after validation with the epoch's history row."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


class TrainingDiverged(CnnlabError):
    """The loss became NaN or infinite."""


class NanGuard(Callback):
    """Stop with a clear message when training diverges: the running loss is NaN or infinite,
    or ``max_ratio`` times the loss of the first step.

    Without it a diverged run keeps going and writes garbage weights over good checkpoints.
    The ratio test matters with saturating activations (LeNet-5's tanh), where an absurd
    learning rate gives a loss of 1e10 that never becomes NaN.
    """

    def __init__(self, max_ratio: float = 1e4) -> None:
        self.max_ratio = max_ratio
        self.reference: float | None = None

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        where = f"at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch} (lr={trainer.lr:g})"
        advice = "lower the learning rate or clip gradients (--grad-clip)"
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss} {where}; {advice}; the last good checkpoint is kept"
            )
        if self.reference is None:
            self.reference = loss
        elif self.reference > 0 and loss > self.max_ratio * self.reference:
            raise TrainingDiverged(
                f"training diverged: loss {loss:.3g} {where} is over {self.max_ratio:g} times "
                f"the first step's {self.reference:.3g}; {advice}"
            )

    def state_dict(self) -> dict:
        return {"reference": self.reference}

    def load_state_dict(self, state: dict) -> None:
        self.reference = state["reference"]


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: a history column, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (max for accuracy-like names).
        min_delta: smallest change that counts as an improvement.
    """

    def __init__(
        self, monitor: str = "val_loss", patience: int = 5, mode: str = "auto", min_delta=0.0
    ) -> None:
        if patience < 1:
            raise CnnlabError(f"patience must be >= 1. Received: patience={patience}")
        self.monitor = monitor
        self.patience = patience
        self.mode = monitor_mode(monitor) if mode == "auto" else mode
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.stopped_epoch: int | None = None

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        value = row.get(self.monitor, math.nan)
        if math.isfinite(value) and self.improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(row["epoch"])
            trainer.stop_training = True

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait = state["best"], state["wait"]
        self.stopped_epoch = state["stopped_epoch"]


class BestCheckpoint(Callback):
    """Save the weights of the best epoch by ``monitor`` to ``checkpoints/best.safetensors``."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto") -> None:
        self.monitor = monitor
        self.mode = monitor_mode(monitor) if mode == "auto" else mode
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        value = row.get(self.monitor, math.nan)
        if not math.isfinite(value):
            return
        better = value < self.best if self.mode == "min" else value > self.best
        if better:
            self.best, self.best_epoch = value, int(row["epoch"])
            trainer.save_best(self.monitor, value)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class LearningRateLogger(Callback):
    """Record the learning rate at every sync point (``steps`` and ``values``) for plotting
    warm-ups and per-batch schedules; the history already has the rate per epoch."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: list[float] = []

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        self.steps.append(trainer.global_step)
        self.values.append(trainer.lr)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "values": self.values}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.values = list(state["steps"]), list(state["values"])


def monitor_mode(monitor: str) -> str:
    """``"max"`` for accuracy-like metrics, ``"min"`` for losses and errors."""
    higher = ("accuracy", "precision", "recall", "f1", "iou", "dice")
    return "max" if any(word in monitor for word in higher) else "min"
