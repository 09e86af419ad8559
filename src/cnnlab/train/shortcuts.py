"""Keras-style one-call forms of the trainer's methods, for a model and data in one line.

>>> history = fit(model, x, y, epochs=5, validation_split=0.2)  # doctest: +SKIP
>>> lr_find(model, x, y).suggestion  # doctest: +SKIP
"""

from __future__ import annotations

from torch import nn

from cnnlab.train.history import History
from cnnlab.train.lr_range import LRFind
from cnnlab.train.trainer import Trainer


def fit(
    model: nn.Module,
    x,
    y=None,
    validation_data=None,
    validation_split: float | None = None,
    *,
    split: str = "stratified",
    **settings,
) -> History:
    """Keras-style one call: ``Trainer(model, **settings).fit(x, y, validation_data, ...)``;
    ``settings`` are TrainConfig fields and Trainer arguments (``epochs=5``, ``verbose=0``,
    ``data_format="channels_last"``, ``callbacks=[...]``)."""
    trainer = Trainer(model, **settings)
    return trainer.fit(x, y, validation_data, validation_split, split=split)


def lr_find(
    model: nn.Module,
    x,
    y=None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    **settings,
) -> LRFind:
    """``Trainer(model, **settings).lr_find(x, y, ...)``: the learning-rate range test
    (:mod:`cnnlab.train.lr_range`) with the optimizer, batch size and seed of ``settings``;
    the model is left as it was."""
    trainer = Trainer(model, **{"verbose": 0, **settings})
    return trainer.lr_find(x, y, start_lr=start_lr, end_lr=end_lr, steps=steps)
