"""Benchmark worker for Keras 3 on the TensorFlow backend (runs in benchmarks/.keras-venv).

Started by ``bench_train.py`` with one JSON argument (the spec). It builds the same
architectures as cnnlab (matching parameter counts, checked by the orchestrator) and serves
``train``, ``infer`` and ``exit`` (protocol in ``bench_common.py``), answering in JSON.

As the Keras examples do it: float32 NHWC inputs in [0, 1] made once before timing (TensorFlow
has no NCHW convolutions on CPU); ``compile(Adam(lr), SparseCategoricalCrossentropy(
from_logits=True), metrics=["accuracy"])``; timed ``model.fit(x, y, batch_size=B, epochs=1,
shuffle=True, verbose=1)``; inference ``model.predict(x, batch_size=b, verbose=0)``. XLA stays
at Keras' default (``jit_compile="auto"``, which is off on CPU-only machines), and so does the
dtype policy (float32), except in the what-if variant ``keras[mixed_bfloat16]``.

Every ``train`` command restores the initial weights and zeroes the optimizer's state (its
step counter and moments) instead of rebuilding the model, so the traced train function is
reused as in a multi-epoch fit and each repeat still trains from the same starting point.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from bench_common import (
    cpu_seconds,
    current_rss_mib,
    from_running_means,
    loss_windows,
    run_worker,
    timed_result,
)
from keras import layers


def lenet5(num_classes: int = 10) -> keras.Model:
    """LeNet-5 on 28x28 (C1 padded "same"): 61,706 parameters, as cnnlab's lenet5(28)."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="tanh"),
            layers.Dense(84, activation="tanh"),
            layers.Dense(num_classes),
        ],
        name="lenet5",
    )


def mnist_cnn(num_classes: int = 10) -> keras.Model:
    """The Keras "simple MNIST convnet" with logits out: 34,826 parameters."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes),
        ],
        name="mnist_cnn",
    )


def unet(size: int, base_width: int, depth: int = 4, num_classes: int = 2) -> keras.Model:
    """U-Net with "same" 3x3 convolutions, as cnnlab's unet(padding="same")."""

    def double_conv(x, width: int):
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(width, 3, padding="same", activation="relu")(x)

    inputs = keras.Input((size, size, 1))
    x, skips = inputs, []
    for level in range(depth):
        x = double_conv(x, base_width * 2**level)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = double_conv(x, base_width * 2**depth)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_width * 2**level, 2, strides=2)(x)
        x = layers.Concatenate()([skips[level], x])
        x = double_conv(x, base_width * 2**level)
    outputs = layers.Conv2D(num_classes, 1)(x)
    return keras.Model(inputs, outputs, name="unet")


def build(spec: dict) -> keras.Model:
    kwargs = spec["model_kwargs"]
    if spec["model"] == "lenet5":
        return lenet5()
    if spec["model"] == "mnist-cnn":
        return mnist_cnn()
    if spec["model"] == "unet":
        return unet(kwargs["image_size"], kwargs["base_width"], kwargs.get("depth", 4))
    raise ValueError(f"no Keras version of {spec['model']!r}")


class RunningLoss(keras.callbacks.Callback):
    """Records Keras' running mean loss after every batch. ``async_safe`` keeps Keras'
    default asynchronous callback dispatch, as without this callback."""

    async_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.means: dict[int, float] = {}

    def on_train_batch_end(self, batch, logs=None):
        self.means[batch + 1] = float(logs["loss"])


def dtype_policy(framework: str) -> str:
    """The dtype policy of a what-if variant ``keras[mixed_bfloat16]`` (default float32)."""
    return framework[framework.index("[") + 1 : -1] if "[" in framework else "float32"


class Worker:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.framework = spec["framework"]
        self.policy = dtype_policy(self.framework)
        keras.mixed_precision.set_global_policy(self.policy)
        data = Path(spec["data_dir"])
        images = np.load(data / "images.npy")  # N x C x H x W uint8
        self.inputs = images.transpose(0, 2, 3, 1).astype(np.float32) / np.float32(255.0)
        self.labels = np.load(data / "labels.npy").astype(np.int64)
        keras.utils.set_random_seed(0)
        self.model = build(spec)
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=spec["lr"]),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        self.initial = self.model.get_weights()

    def ready(self) -> dict:
        return {
            "framework": self.framework,
            "dtype_policy": self.policy,
            "params": int(self.model.count_params()),
            "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
            "threads": {
                "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                "jit_compile": bool(self.model.jit_compile),
            },
            "rss_after_setup_mib": current_rss_mib(),
        }

    def _reset(self) -> None:
        self.model.set_weights(self.initial)
        for variable in self.model.optimizer.variables:
            if "learning_rate" not in variable.path:
                variable.assign(np.zeros(variable.shape, variable.dtype))

    def train(self, samples: int) -> dict:
        self._reset()
        batch = self.spec["batch_size"]
        recorder = RunningLoss()
        x, y = self.inputs[:samples], self.labels[:samples]
        cpu = cpu_seconds()
        start = time.perf_counter()
        self.model.fit(
            x, y, batch_size=batch, epochs=1, shuffle=True, verbose=1, callbacks=[recorder]
        )
        seconds = time.perf_counter() - start
        steps = -(-samples // batch)
        points = from_running_means(recorder.means, batch, samples)
        return timed_result(samples, seconds, cpu, steps=steps, **loss_windows(points, steps))

    def infer(self, samples: int, batch_size: int) -> dict:
        x = self.inputs[:samples]
        cpu = cpu_seconds()
        start = time.perf_counter()
        classes = self.model.predict(x, batch_size=batch_size, verbose=0).argmax(-1)
        seconds = time.perf_counter() - start
        return timed_result(samples, seconds, cpu, predicted=len(classes))


if __name__ == "__main__":
    run_worker(Worker)
