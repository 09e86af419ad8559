"""The hyperparameters of a fit: everything that decides its result, checked before any work.

How a fit is run and shown (device, verbosity, how often the loss is read, evaluation batch
size) does not change the result; those are arguments of :class:`~cnnlab.train.Trainer`, and
writing checkpoints is the run recorder's business. The command line's training options are
generated from this class (:mod:`cnnlab.cli.settings`): a new setting is added here only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from cnnlab.errors import CnnlabError
from cnnlab.train.balance import SAMPLERS, class_weight_setting
from cnnlab.train.execution import (
    CHANNELS_LAST,
    PRECISIONS,
    channels_last_setting,
    check_precision,
)
from cnnlab.train.optim import OPTIMIZERS, SCHEDULES, optimizer_name, schedule_name

# Settings that older run folders stored with the hyperparameters; they are runtime options now.
MOVED_TO_RUNTIME = ("device", "verbose", "sync_every", "eval_batch_size", "checkpoint_every")
RECORDER_OPTIONS = ("run_dir", "run_info", "checkpoint_every", "resume")


def choices(values: tuple, default):
    """A field whose value is one of ``values`` (the command line offers exactly these)."""
    return field(default=default, metadata={"choices": values})


@dataclass
class TrainConfig:
    """Everything that decides how a model is trained (``config.json`` stores it).

    Args:
        epochs: passes over the training data.
        batch_size: samples per update (the GLOBAL batch when distributed).
        optimizer: sgd (with momentum), adam or adamw (custom: a factory given in Python).
        lr: (peak) learning rate.
        weight_decay: L2 (SGD, Adam) or decoupled (AdamW) weight decay.
        momentum: SGD momentum.
        schedule: learning-rate schedule: constant, step (x gamma every step_epochs), cosine
            or one-cycle, stepped per batch; plateau (x gamma when monitor has not improved
            for plateau_patience epochs), stepped per epoch.
        step_epochs: epochs between the step schedule's decays.
        gamma: the step and plateau schedules' decay factor.
        plateau_patience: epochs without improvement of monitor before plateau decays.
        grad_clip: clip the global gradient norm to this value (off when not given).
        aux_weight: weight of auxiliary heads' losses (GoogLeNet: 0.3).
        label_smoothing: cross-entropy label smoothing, in [0, 1).
        class_weight: weigh the training cross-entropy per class: balanced (n_samples /
            (n_classes * count of the class), scikit-learn's), per-class weights 1,6.5 or
            class=weight pairs spam=6.5 (others 1); a list or dict in Python.
        sampler: how training batches are drawn: shuffle (a seeded permutation per epoch)
            or balanced (seeded draws with replacement, each class equally likely).
        seed: seeds initialization, shuffling, dropout and augmentation.
        deterministic: deterministic kernels only (bit-identical CPU runs).
        amp: float16 autocast with loss scaling, on CUDA only (ignored elsewhere).
        precision: training arithmetic: auto (bfloat16 autocast on CPUs that multiply
            bfloat16 natively, else float32), fp32 or bf16; training steps only (see
            cnnlab.train.execution).
        channels_last: NHWC memory format for 2-D convolutions: auto (on for convolutional
            models on CPU), yes or no.
        early_stopping: stop after this many epochs without improvement of monitor (0: off).
        monitor: history column deciding the best checkpoint and early stopping.
        top_k: also report top-k accuracy when the model has more than k classes.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = choices(OPTIMIZERS, "adam")
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = choices(SCHEDULES, "constant")
    step_epochs: int = 30
    gamma: float = 0.1
    plateau_patience: int = 5
    grad_clip: float | None = None
    aux_weight: float = 0.3
    label_smoothing: float = 0.0
    class_weight: str | None = None
    sampler: str = choices(SAMPLERS, "shuffle")
    seed: int = 0
    deterministic: bool = False
    amp: bool = False
    precision: str = choices(PRECISIONS, "auto")
    channels_last: bool | str = choices(CHANNELS_LAST, "auto")
    early_stopping: int = 0
    monitor: str = "val_loss"
    top_k: int = 5

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise CnnlabError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
        for name in ("early_stopping", "seed", "plateau_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise CnnlabError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise CnnlabError(f"lr must be a positive finite number. Received: lr={self.lr!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise CnnlabError(f"grad_clip must be > 0. Received: grad_clip={self.grad_clip!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise CnnlabError(
                f"label_smoothing must be in [0, 1). Received: {self.label_smoothing!r}"
            )
        check_precision(self.precision)
        self.channels_last = channels_last_setting(self.channels_last)
        self.optimizer = optimizer_name(self.optimizer)
        schedule_name(self.schedule)
        self.class_weight = class_weight_setting(self.class_weight)
        if self.sampler not in SAMPLERS:
            raise CnnlabError(
                f"sampler must be one of {', '.join(SAMPLERS)}. Received: sampler={self.sampler!r}"
            )

    def to_json(self) -> dict:
        return asdict(self)

    def updated(self, **settings) -> TrainConfig:
        """A copy with ``settings`` changed (checked like the constructor's)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(settings) - known)
        if unknown:
            hint = ""
            if set(unknown) & set(RECORDER_OPTIONS):
                hint = (
                    " (run folders, checkpoints and resuming are the run recorder's: "
                    "callbacks=[cnnlab.runs.RunRecorder(run_dir, checkpoint_every=N)])"
                )
            raise CnnlabError(
                f"unknown training settings {unknown}{hint}. Known: {', '.join(sorted(known))}"
            )
        return replace(self, **settings)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        """The config stored in a run's ``config.json`` (older runs' runtime options, such as
        ``verbose``, are skipped)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - set(MOVED_TO_RUNTIME))
        if unknown:
            raise CnnlabError(f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in data.items() if k in known})
