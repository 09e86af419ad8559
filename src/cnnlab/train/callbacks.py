"""Callbacks: the loop dispatches, callbacks act (Keras' ``CallbackList`` design).

The trainer calls, each with the trainer first: ``on_fit_start`` (once, after the optimizer
and schedule exist), ``on_epoch_begin(epoch)``, ``on_train_batch_begin(batch)`` and
``on_train_batch_end(batch)`` around every training step (``batch``: its index in the epoch),
``on_sync(loss)`` each time the running loss is read back from the device (every few steps:
a read per step would stall the device), ``on_epoch_end(row)`` with the epoch's history row,
and ``on_fit_end`` (after the final validation), or ``on_fit_error(error)`` when the fit
stops on an exception. A callback stops training by setting
``trainer.stop_training = True``. Its ``state_dict`` is part of the trainer's, so a resumed
fit continues with the same patience and best value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cnnlab.errors import CnnlabError
from cnnlab.train.metrics import higher_is_better

if TYPE_CHECKING:
    from cnnlab.train.trainer import Trainer


class Callback:
    """Base class: every hook does nothing.

    ``saves_state``: a callback that writes the trainer's state (a run recorder) runs after
    all others at every hook, so what it saves includes their updates (Lightning moves its
    checkpoint callbacks last for the same reason), and what it restores at fit start is not
    reset by another callback's ``on_fit_start``.
    """

    saves_state = False

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Called before the first step of epoch ``epoch`` (0-based)."""

    def on_train_batch_begin(self, trainer: Trainer, batch: int) -> None:
        """Called before training step ``batch`` of the epoch."""

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        """Called after training step ``batch`` of the epoch."""

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        """Called with the running mean training loss of the epoch so far."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        """Called after validation with the epoch's history row."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch and the final validation."""

    def on_fit_error(self, trainer: Trainer, error: BaseException) -> None:
        """Called when the fit stops on an exception (raised again afterwards): release what
        ``on_fit_start`` took."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


class CallbackList:
    """The callbacks of one trainer, state savers last, dispatched in that order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks: list[Callback] = []
        for callback in callbacks:
            self.append(callback)

    def append(self, callback: Callback) -> None:
        if not isinstance(callback, Callback):
            raise CnnlabError(
                f"callbacks must be cnnlab.train.Callback objects. Received: "
                f"{type(callback).__name__}"
            )
        self.callbacks.append(callback)
        self.callbacks.sort(key=lambda c: c.saves_state)  # stable: order kept within groups

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def find(self, kind: type) -> Callback | None:
        """The first callback of class ``kind``, or None."""
        return next((c for c in self.callbacks if isinstance(c, kind)), None)

    def keyed(self) -> list[tuple[str, Callback]]:
        """Callbacks keyed ``ClassName:n`` (n-th of its class), so a resumed fit matches saved
        states to callbacks even when the list differs."""
        seen: dict[str, int] = {}
        keyed = []
        for callback in self.callbacks:
            name = type(callback).__name__
            seen[name] = seen.get(name, 0) + 1
            keyed.append((f"{name}:{seen[name]}", callback))
        return keyed

    def on_fit_start(self, trainer: Trainer) -> None:
        for callback in self.callbacks:
            callback.on_fit_start(trainer)

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(trainer, epoch)

    def on_train_batch_begin(self, trainer: Trainer, batch: int) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_begin(trainer, batch)

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_end(trainer, batch)

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        for callback in self.callbacks:
            callback.on_sync(trainer, loss)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(trainer, row)

    def on_fit_end(self, trainer: Trainer) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(trainer)

    def on_fit_error(self, trainer: Trainer, error: BaseException) -> None:
        for callback in self.callbacks:
            callback.on_fit_error(trainer, error)


class Monitor:
    """The best value so far of one history column.

    Args:
        name: the column, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (max for rates such as accuracy or Dice,
            min for losses and errors).
        min_delta: smallest change that counts as an improvement.
    """

    def __init__(self, name: str, mode: str = "auto", min_delta: float = 0.0) -> None:
        if mode not in ("auto", "min", "max"):
            raise CnnlabError(f"mode must be auto, min or max. Received: mode={mode!r}")
        self.name = name
        self.mode = ("max" if higher_is_better(name) else "min") if mode == "auto" else mode
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def improved(self, row: dict[str, float]) -> bool:
        """Whether ``row``'s value beats the best so far (NaN and missing never do); if it
        does, it becomes the best."""
        value = row.get(self.name, math.nan)
        if not math.isfinite(value):
            return False
        if self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class TrainingDiverged(CnnlabError):
    """The loss became NaN or infinite."""


class NanGuard(Callback):
    """Stop with a clear message when training diverges: the running loss is NaN or infinite,
    or ``max_ratio`` times the loss of the first step.

    Without it a diverged run keeps going and writes garbage weights over good checkpoints.
    The ratio test matters with saturating activations (LeNet-5's tanh), where an absurd
    learning rate gives a huge loss that never becomes NaN.
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
        self.monitor = Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if self.monitor.improved(row):
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(row["epoch"])
            trainer.stop_training = True

    def state_dict(self) -> dict:
        return {"best": self.monitor.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.monitor.best, self.wait = state["best"], state["wait"]
        self.stopped_epoch = state["stopped_epoch"]


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
