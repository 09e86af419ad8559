"""Training: ``Trainer`` / ``fit``, metrics, callbacks, checkpoints, history, jobs.

>>> from cnnlab.train import Trainer, fit  # doctest: +SKIP
>>> history = fit(model, train, validation, epochs=5, lr=1e-3)  # doctest: +SKIP
"""

from cnnlab.train.callbacks import (
    BestCheckpoint,
    Callback,
    EarlyStopping,
    LearningRateLogger,
    NanGuard,
    TrainingDiverged,
)
from cnnlab.train.config import TrainConfig
from cnnlab.train.environment import auto_device, seed_everything
from cnnlab.train.history import History
from cnnlab.train.inputs import InputSpec
from cnnlab.train.metrics import MetricState, confusion_matrix
from cnnlab.train.trainer import Prediction, Trainer, fit

__all__ = [
    "BestCheckpoint",
    "Callback",
    "EarlyStopping",
    "History",
    "InputSpec",
    "LearningRateLogger",
    "MetricState",
    "NanGuard",
    "Prediction",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "auto_device",
    "confusion_matrix",
    "fit",
    "seed_everything",
]
