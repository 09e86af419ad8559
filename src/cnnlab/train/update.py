"""One parameter update, the course notes' steps 6-7 ("Addestramento di una CNN":
backpropagation, then the update): zero the gradients, backpropagate the loss, clip the
global gradient norm, step the optimizer and the per-batch schedule.

With float16 autocast (CUDA only) the loss is scaled before backpropagation
(``torch.amp.GradScaler``) so that small gradients do not underflow to zero in float16.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

import torch
from torch import nn

from cnnlab.train.config import TrainConfig
from cnnlab.train.execution import Execution
from cnnlab.train.optim import build_optimizer, build_schedule, current_lr
from cnnlab.train.state import optimizer_from_state, optimizer_to_state

Section = Callable[[str], AbstractContextManager[None]]


class Update:
    """Turn a loss into a step of the parameters.

    Args:
        optimizer: the optimizer of the model's parameters.
        scheduler: a per-batch learning-rate schedule, or None.
        grad_clip: clip the global gradient norm to this value (None: off).
        fp16: scale the loss for float16 autocast (CUDA).
        section: the profiler's ``section`` (``backward`` and ``optimizer`` are timed).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        grad_clip: float | None,
        fp16: bool,
        section: Section,
    ) -> None:
        self.optimizer, self.scheduler, self.grad_clip = optimizer, scheduler, grad_clip
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
    ) -> Update:
        """The optimizer, schedule and loss scaling that ``config`` and ``execution`` ask for."""
        optimizer = build_optimizer(
            config.optimizer,
            parameters,
            config.lr,
            config.weight_decay,
            config.momentum,
            fused=execution.fused_optimizer,
        )
        schedule = build_schedule(
            config.schedule,
            optimizer,
            config.epochs,
            steps_per_epoch,
            config.step_epochs,
            config.gamma,
        )
        fp16 = execution.precision == "fp16"
        return cls(optimizer, schedule, config.grad_clip, fp16, section)

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
            if self.scheduler is not None:
                self.scheduler.step()

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
