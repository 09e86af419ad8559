"""The hyperparameters of a fit, checked before any work starts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from cnnlab.errors import CnnlabError
from cnnlab.train.execution import check_channels_last, check_precision
from cnnlab.train.optim import OPTIMIZERS, SCHEDULES


@dataclass
class TrainConfig:
    """Everything that decides how a model is trained (``config.json`` stores it).

    Args:
        epochs: passes over the training data.
        batch_size: samples per update (the GLOBAL batch when distributed).
        optimizer: ``sgd`` (with ``momentum``), ``adam`` or ``adamw``.
        lr: (peak) learning rate.
        weight_decay: L2 (SGD, Adam) or decoupled (AdamW) weight decay.
        schedule: ``constant``, ``step`` (x ``gamma`` every ``step_epochs``), ``cosine`` or
            ``one-cycle``; every schedule steps per batch.
        grad_clip: clip the global gradient norm to this value (None: off).
        aux_weight: weight of auxiliary heads' losses (GoogLeNet: 0.3).
        label_smoothing: cross-entropy label smoothing.
        seed: seeds initialization, shuffling, dropout and augmentation.
        deterministic: deterministic kernels only (bit-identical CPU runs).
        device: ``auto`` (CUDA, then MPS, then CPU) or a torch device string.
        amp: float16 autocast with loss scaling, on CUDA only (ignored elsewhere).
        precision: ``auto`` (bfloat16 autocast on CPUs that multiply bfloat16 natively,
            else float32), ``fp32`` or ``bf16``; training steps only (see
            :mod:`cnnlab.train.execution`).
        checkpoint_every: also checkpoint every N steps (0: at epoch ends only).
        early_stopping: patience in epochs (0: off), on ``monitor``.
        monitor: history column deciding the best checkpoint and early stopping.
        eval_batch_size: batch size of evaluation and prediction.
        verbose: 0 silent, 1 a progress bar per epoch and a summary line, 2 the line only
            (logs and CI).
        sync_every: read the running loss from the device every N steps (progress, NaN guard).
        channels_last: NHWC memory format for 2-D convolutions: True, False or ``auto``
            (on for convolutional models on CPU).
        top_k: also report top-k accuracy when the model has more than k classes.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"
    step_epochs: int = 30
    gamma: float = 0.1
    grad_clip: float | None = None
    aux_weight: float = 0.3
    label_smoothing: float = 0.0
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: bool = False
    precision: str = "auto"
    checkpoint_every: int = 0
    early_stopping: int = 0
    monitor: str = "val_loss"
    eval_batch_size: int = 512
    verbose: int = 1
    sync_every: int = 25
    channels_last: bool | str = "auto"
    top_k: int = 5

    def __post_init__(self) -> None:
        positive_ints = ("epochs", "batch_size", "eval_batch_size", "sync_every", "step_epochs")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise CnnlabError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
        for name in ("checkpoint_every", "early_stopping", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise CnnlabError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
        if self.verbose not in (0, 1, 2):
            raise CnnlabError(f"verbose must be 0, 1 or 2. Received: verbose={self.verbose!r}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise CnnlabError(f"lr must be a positive finite number. Received: lr={self.lr!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise CnnlabError(f"grad_clip must be > 0. Received: grad_clip={self.grad_clip!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise CnnlabError(
                f"label_smoothing must be in [0, 1). Received: {self.label_smoothing!r}"
            )
        check_precision(self.precision)
        check_channels_last(self.channels_last)
        if self.optimizer.lower() not in OPTIMIZERS:
            raise CnnlabError(
                f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}"
            )
        if self.schedule.lower().replace("_", "-") not in SCHEDULES:
            raise CnnlabError(
                f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CnnlabError(f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**data)
