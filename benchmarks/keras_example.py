"""The Keras "Simple MNIST convnet" example's recipe, timed per epoch (runs in .keras-venv).

Started by ``time_budget.py`` with one JSON argument: ``data`` (an .npz of MNIST's test set),
``policy`` (Keras dtype policy), ``budget`` (training seconds, or null) and ``out`` (where the
result JSON goes). As the example (keras.io/examples/vision/mnist_convnet): inputs scaled to
[0, 1] with a channel axis, one-hot labels, Conv(32, 3) - MaxPool - Conv(64, 3) - MaxPool -
Flatten - Dropout(0.5) - Dense(10, softmax), Adam at its default rate, categorical
cross-entropy, batch 128, 15 epochs. Under ``mixed_bfloat16`` the output layer stays float32,
as Keras' mixed-precision guide advises. The one change to the recipe: it trains on
``test[:8000]`` and validates on ``test[8000:]`` after each epoch (the example holds out 10%
of its training set).

An epoch's time runs from ``on_epoch_begin`` to ``on_epoch_end``: its training steps and its
validation (Keras evaluates before calling ``on_epoch_end``), the span cnnlab's history
``time`` covers. Training stops at the first epoch end past the budget.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers


class EpochClock(keras.callbacks.Callback):
    """Validation accuracy and wall seconds of each epoch; stops past the budget."""

    def __init__(self, budget: float | None) -> None:
        super().__init__()
        self.budget = budget
        self.epochs: list[tuple[float, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((float(logs["val_accuracy"]), time.perf_counter() - self.started))
        if self.budget is not None and sum(s for _, s in self.epochs) >= self.budget:
            self.model.stop_training = True


def example_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            # float32 softmax under any policy, as Keras' mixed-precision guide advises
            layers.Dense(10, activation="softmax", dtype="float32"),
        ]
    )


def main(spec: dict) -> None:
    keras.mixed_precision.set_global_policy(spec["policy"])
    with np.load(spec["data"]) as data:
        x = (data["images"].astype("float32") / 255)[..., None]
        y = keras.utils.to_categorical(data["labels"], 10)
    keras.utils.set_random_seed(0)
    model = example_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    clock = EpochClock(spec["budget"])
    model.fit(
        x[:8000],
        y[:8000],
        batch_size=128,
        epochs=15,
        validation_data=(x[8000:], y[8000:]),
        verbose=2,
        callbacks=[clock],
    )
    result = {
        "epochs": clock.epochs,
        "params": int(model.count_params()),
        "keras": keras.__version__,
    }
    Path(spec["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
