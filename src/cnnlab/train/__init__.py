"""Training: ``Trainer`` / ``fit``, callbacks, metrics, history. The loop only: run
directories are written by :class:`cnnlab.runs.RunRecorder`, a callback.

>>> from cnnlab.train import Trainer, fit  # doctest: +SKIP
>>> history = fit(model, train, validation, epochs=5, lr=1e-3)  # doctest: +SKIP
>>> lr_find(model, train).suggestion  # the learning-rate range test  # doctest: +SKIP
>>> fine_tune(pretrained, train, validation)  # frozen, then unfrozen  # doctest: +SKIP
"""

from cnnlab.train.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    LearningRateLogger,
    Monitor,
    NanGuard,
    TrainingDiverged,
)
from cnnlab.train.config import TrainConfig
from cnnlab.train.environment import auto_device, seed_everything
from cnnlab.train.finetune import FineTuned, fine_tune
from cnnlab.train.history import History
from cnnlab.train.inputs import InputSpec
from cnnlab.train.lr_range import LRFind
from cnnlab.train.metrics import MetricState, confusion_matrix, predicted_class
from cnnlab.train.profiling import Profiler, SectionTimer
from cnnlab.train.progress import ProgressBar
from cnnlab.train.results import Evaluation, Prediction
from cnnlab.train.shortcuts import fit, lr_find
from cnnlab.train.state import TrainingState
from cnnlab.train.trainer import Trainer

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "Evaluation",
    "FineTuned",
    "History",
    "InputSpec",
    "LRFind",
    "LearningRateLogger",
    "MetricState",
    "Monitor",
    "NanGuard",
    "Prediction",
    "Profiler",
    "ProgressBar",
    "SectionTimer",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingState",
    "auto_device",
    "confusion_matrix",
    "fine_tune",
    "fit",
    "lr_find",
    "predicted_class",
    "seed_everything",
]
