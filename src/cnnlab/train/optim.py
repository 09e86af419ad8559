"""Optimizers and learning-rate schedules by name.

Every schedule steps once per batch (not per epoch), so a run resumed in the middle of an
epoch continues the schedule exactly where it stopped.

- ``step``: lr * gamma^floor(epoch / step_epochs) (the ResNet paper divides by 10).
- ``cosine``: lr * (1 + cos(pi t / T)) / 2 over the T steps of the fit (Loshchilov & Hutter,
  SGDR, 2017, without restarts).
- ``one-cycle``: warm up from lr/25 to lr over the first 30% of steps, then anneal to
  lr/25e4 (Smith & Topin, Super-Convergence, 2018).
- ``constant``: no schedule.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from cnnlab.errors import CnnlabError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "one-cycle")


def optimizer_name(optimizer: str | type) -> str:
    """The name of ``optimizer``: one of :data:`OPTIMIZERS`, given as such or as the torch
    class (``torch.optim.SGD``), so that a run's settings stay plain, reproducible data.

    Raises:
        CnnlabError: any other optimizer or factory, with the accepted forms.
    """
    classes = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw"}
    if isinstance(optimizer, type) and optimizer in classes:
        return classes[optimizer]
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return optimizer.lower()
    shown = getattr(optimizer, "__qualname__", None) or repr(optimizer)
    raise CnnlabError(
        f"optimizer must be one of {', '.join(OPTIMIZERS)} or the torch class "
        f"(torch.optim.SGD, Adam, AdamW). Received: {shown}; set its options with lr, "
        "momentum and weight_decay"
    )


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
    raise CnnlabError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def build_schedule(
    name: str,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    step_epochs: int = 30,
    gamma: float = 0.1,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-batch scheduler for ``name`` over ``epochs * steps_per_epoch`` steps."""
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
    raise CnnlabError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
