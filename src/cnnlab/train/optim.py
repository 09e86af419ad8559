"""Optimizers and learning-rate schedules by name, or from factories given in Python.

The named schedules step once per batch (not per epoch), so a run resumed in the middle of an
epoch continues the schedule exactly where it stopped; ``plateau`` steps once per epoch.

- ``step``: lr * gamma^floor(epoch / step_epochs) (the ResNet paper divides by 10).
- ``cosine``: lr * (1 + cos(pi t / T)) / 2 over the T steps of the fit (Loshchilov & Hutter,
  SGDR, 2017, without restarts).
- ``one-cycle``: warm up from lr/25 to lr over the first 30% of steps, then anneal to
  lr/25e4 (Smith & Topin, Super-Convergence, 2018).
- ``plateau``: lr * gamma each time the monitored value (``val_loss`` by default) has not
  improved for ``plateau_patience`` epochs (Keras' and PyTorch's ``ReduceLROnPlateau``).
- ``constant``: no schedule.

Factories, for what the names do not cover: ``optimizer=lambda params: torch.optim.SGD(params,
lr=0.1, nesterov=True, momentum=0.9)`` and ``schedule=lambda optimizer: MultiStepLR(optimizer,
[5, 8])``. A factory's scheduler steps once per epoch, after validation (PyTorch's and
Lightning's habit); a ``ReduceLROnPlateau`` gets the monitored value. The settings record
``custom`` for them; the checkpoint holds their state, so resuming with the same factories is
exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.errors import CnnlabError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "one-cycle", "plateau")
CUSTOM = "custom"  # what the settings record for a factory given in Python
Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
ScheduleFactory = Callable[[torch.optim.Optimizer], Scheduler]


def optimizer_name(optimizer: str | type) -> str:
    """The name of ``optimizer``: one of :data:`OPTIMIZERS`, given as such or as the torch
    class (``torch.optim.SGD``), so that a run's settings stay plain, reproducible data.

    Raises:
        CnnlabError: any other optimizer or factory, with the accepted forms.
    """
    classes = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw"}
    if isinstance(optimizer, type) and optimizer in classes:
        return classes[optimizer]
    if isinstance(optimizer, str) and optimizer.lower() in (*OPTIMIZERS, CUSTOM):
        return optimizer.lower()
    shown = getattr(optimizer, "__qualname__", None) or repr(optimizer)
    raise CnnlabError(
        f"optimizer must be one of {', '.join(OPTIMIZERS)}, the torch class "
        f"(torch.optim.SGD, Adam, AdamW) or, given to the Trainer, a factory "
        f"(optimizer=lambda params: torch.optim.RMSprop(params, lr=1e-3)). Received: {shown}"
    )


def schedule_name(schedule: str) -> str:
    """``schedule`` as one of :data:`SCHEDULES` (``one_cycle`` is ``one-cycle``), or
    ``custom`` (a factory's record).

    Raises:
        CnnlabError: any other value, with the accepted forms.
    """
    key = schedule.lower().replace("_", "-") if isinstance(schedule, str) else None
    if key in (*SCHEDULES, CUSTOM):
        return key
    shown = getattr(schedule, "__qualname__", None) or repr(schedule)
    raise CnnlabError(
        f"schedule must be one of {', '.join(SCHEDULES)} or, given to the Trainer, a factory "
        f"(schedule=lambda optimizer: torch.optim.lr_scheduler.MultiStepLR(optimizer, [5, 8]))."
        f" Received: {shown}"
    )


@dataclass(frozen=True)
class Factories:
    """An optimizer factory ``f(params) -> Optimizer`` and a scheduler factory
    ``f(optimizer) -> LRScheduler`` given to the Trainer (None: built from the settings)."""

    optimizer: OptimizerFactory | None = None
    schedule: ScheduleFactory | None = None

    @classmethod
    def split(cls, settings: dict) -> tuple[dict, Factories]:
        """``settings`` with each factory replaced by ``custom`` (the settings stay data),
        and the factories. A class is a name (torch.optim.SGD), not a factory."""
        found = {}
        for key in ("optimizer", "schedule"):
            value = settings.get(key)
            if callable(value) and not isinstance(value, type):
                found[key] = value
        return {**settings, **dict.fromkeys(found, CUSTOM)}, cls(**found)

    def build_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        optimizer = self.optimizer(params)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise CnnlabError(
                "the optimizer factory must return a torch.optim.Optimizer. Received: "
                f"{type(optimizer).__name__}"
            )
        return optimizer

    def build_schedule(self, optimizer: torch.optim.Optimizer) -> Scheduler:
        scheduler = self.schedule(optimizer)
        if not isinstance(scheduler, Scheduler):
            raise CnnlabError(
                "the schedule factory must return a torch.optim.lr_scheduler scheduler. "
                f"Received: {type(scheduler).__name__}"
            )
        return scheduler


def build_optimizer(
    name: str,
    params: Iterable[nn.Parameter],
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """``sgd`` (with ``momentum``, Nesterov off), ``adam`` or ``adamw`` (decoupled decay).

    ``fused``: one kernel per step for all parameters (same update rule; the parameters must
    be on a CPU or CUDA device), instead of PyTorch's default multi-tensor implementation.
    """
    key = name.lower()
    if not (lr > 0 and lr < float("inf")):
        raise CnnlabError(f"learning rate must be a positive number. Received: lr={lr}")
    if weight_decay < 0:
        raise CnnlabError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay}")
    if key == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused or None
        )
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if key == CUSTOM:
        raise CnnlabError(
            "optimizer 'custom' stands for a factory given in Python; pass it again: "
            "Trainer(model, optimizer=lambda params: ...)"
        )
    raise CnnlabError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def build_schedule(
    name: str,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    step_epochs: int = 30,
    gamma: float = 0.1,
    patience: int = 5,
    mode: str = "min",
) -> Scheduler | None:
    """The scheduler for ``name``: per batch over ``epochs * steps_per_epoch`` steps, or for
    ``plateau`` per epoch (``gamma`` the factor, ``patience`` in epochs, ``mode`` ``min`` or
    ``max`` as the monitored value improves)."""
    key = name.lower().replace("_", "-")
    total = max(1, epochs * steps_per_epoch)
    if key == "constant":
        return None
    if key == "step":
        if step_epochs < 1:
            raise CnnlabError(f"step_epochs must be >= 1. Received: step_epochs={step_epochs}")
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=step_epochs * steps_per_epoch, gamma=gamma
        )
    if key == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if key == "one-cycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total)
    if key == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=gamma, patience=patience
        )
    if key == CUSTOM:
        raise CnnlabError(
            "schedule 'custom' stands for a factory given in Python; pass it again: "
            "Trainer(model, schedule=lambda optimizer: ...)"
        )
    raise CnnlabError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
