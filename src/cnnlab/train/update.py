"""One parameter update, the course notes' steps 6-7 ("Addestramento di una CNN":
backpropagation, then the update): zero the gradients, backpropagate the loss, clip the
global gradient norm, step the optimizer and the per-batch schedule; per-epoch schedules
(``plateau``, a factory's) step at :meth:`Update.end_epoch`.

With float16 autocast (CUDA only) the loss is scaled before backpropagation
(``torch.amp.GradScaler``) so that small gradients do not underflow to zero in float16.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.config import TrainConfig
from cnnlab.train.execution import Execution
from cnnlab.train.metrics import higher_is_better
from cnnlab.train.optim import (
    Factories,
    Scheduler,
    build_optimizer,
    build_schedule,
    current_lr,
)
from cnnlab.train.state import optimizer_from_state, optimizer_to_state

Section = Callable[[str], AbstractContextManager[None]]
ReduceLROnPlateau = torch.optim.lr_scheduler.ReduceLROnPlateau


class Update:
    """Turn a loss into a step of the parameters.

    Args:
        optimizer: the optimizer of the model's parameters.
        scheduler: a learning-rate schedule, or None.
        grad_clip: clip the global gradient norm to this value (None: off).
        fp16: scale the loss for float16 autocast (CUDA).
        section: the profiler's ``section`` (``backward`` and ``optimizer`` are timed).
        per_batch: step ``scheduler`` after every update (else at :meth:`end_epoch`).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: Scheduler | None,
        grad_clip: float | None,
        fp16: bool,
        section: Section,
        per_batch: bool = True,
    ) -> None:
        self.optimizer, self.scheduler, self.grad_clip = optimizer, scheduler, grad_clip
        self.per_batch = per_batch and not isinstance(scheduler, ReduceLROnPlateau)
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.section = section

    @classmethod
    def from_config(
        cls,
        config: TrainConfig,
        parameters: Iterable[nn.Parameter],
        steps_per_epoch: int,
        execution: Execution,
        section: Section,
        factories: Factories | None = None,
        monitor: str = "val_loss",
    ) -> Update:
        """The optimizer, schedule and loss scaling that ``config`` and ``execution`` ask for,
        or that the ``factories`` build; ``monitor`` decides whether ``plateau`` waits for a
        lower or a higher value."""
        factories = factories or Factories()
        if factories.optimizer is not None:
            optimizer = factories.build_optimizer(parameters)
        else:
            optimizer = build_optimizer(
                config.optimizer,
                parameters,
                config.lr,
                config.weight_decay,
                config.momentum,
                fused=execution.fused_optimizer,
            )
        if factories.schedule is not None:
            schedule = factories.build_schedule(optimizer)
        else:
            schedule = build_schedule(
                config.schedule,
                optimizer,
                config.epochs,
                steps_per_epoch,
                config.step_epochs,
                config.gamma,
                config.plateau_patience,
                "max" if higher_is_better(monitor) else "min",
            )
        fp16 = execution.precision == "fp16"
        per_batch = factories.schedule is None
        return cls(optimizer, schedule, config.grad_clip, fp16, section, per_batch)

    @property
    def lr(self) -> float:
        return current_lr(self.optimizer)

    def __call__(self, loss: torch.Tensor) -> None:
        with self.section("backward"):
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
        with self.section("optimizer"):
            if self.grad_clip is not None:
                parameters = [p for g in self.optimizer.param_groups for p in g["params"]]
                nn.utils.clip_grad_norm_(parameters, self.grad_clip)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            if self.scheduler is not None and self.per_batch:
                self.scheduler.step()

    def end_epoch(self, row: dict[str, float], monitor: str) -> None:
        """Step a per-epoch schedule after the epoch's validation; a ``ReduceLROnPlateau``
        with ``row[monitor]``.

        Raises:
            CnnlabError: the plateau schedule's monitor is not in the history row.
        """
        if self.scheduler is None or self.per_batch:
            return
        if not isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step()
            return
        if monitor not in row:
            columns = ", ".join(k for k in row if k not in ("epoch", "lr", "time"))
            raise CnnlabError(
                f"the plateau schedule watches {monitor!r}, which the history does not have; "
                f"set monitor to one of: {columns}"
            )
        self.scheduler.step(row[monitor])

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict]:
        """The optimizer's tensors (``optim.``-named) and the JSON-able rest."""
        tensors, optimizer_meta = optimizer_to_state(self.optimizer)
        meta = {
            "optimizer": optimizer_meta,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        optimizer_from_state(self.optimizer, tensors, meta["optimizer"])
        if self.scheduler is not None and meta["scheduler"] is not None:
            self.scheduler.load_state_dict(meta["scheduler"])
        if self.scaler is not None and meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
