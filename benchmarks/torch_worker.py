"""Benchmark worker for the two PyTorch sides: cnnlab's ``Trainer.fit`` and the textbook loop.

Started by ``bench_train.py`` with the project venv's python and one JSON argument (the spec);
it loads the shared data, builds the model once, answers ``ready`` and then serves the
commands ``train``, ``infer`` and ``exit`` (protocol in ``bench_common.py``).

- ``cnnlab``: ``Trainer(model, epochs=1, batch_size=B, optimizer="adam", lr=1e-3,
  verbose=1)`` then ``.fit((images_uint8_NCHW, labels))``: the uint8 -> float conversion, the
  progress bar, the metrics and the summary line are all inside the timed call. Inference is
  ``Trainer.predict(images_uint8)`` with ``eval_batch_size`` set to the inference batch (in
  the variant's ``precision``: evaluation follows the training's setting).
- ``onnxruntime`` (inference only): the same model exported with cnnlab's export and run by
  ONNX Runtime's CPU provider with torch's thread count (``onnx_peer.py``), on float32 inputs
  in [0, 1] made once before timing.
- ``textbook``: float32 inputs in [0, 1] made once before timing, ``TensorDataset`` +
  ``DataLoader(shuffle=True)``, ``model.train()``, then per batch ``zero_grad``, forward, loss,
  ``backward``, ``step`` and ``loss.item()``. Inference: ``model.eval()``, ``torch.no_grad()``,
  ``DataLoader`` over the inputs, ``argmax``.

Every ``train`` command starts from the same initial weights with a new optimizer, so each
repeat does the same work and each must show a falling loss.
"""

from __future__ import annotations

import ast
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_common import (
    cpu_seconds,
    current_rss_mib,
    from_running_means,
    from_step_losses,
    loss_windows,
    run_worker,
    timed_result,
)
from onnx_peer import (
    export_onnx,
    onnx_session,
    onnxruntime_version,
    predict_classes,
    session_threads,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import cnnlab
from cnnlab.models import create_model
from cnnlab.train import Callback, Trainer


class RunningLoss(Callback):
    """Records the running mean loss cnnlab reports at each sync (every ``sync_every`` steps
    and at the end of the epoch): no extra host syncs, it only listens."""

    def __init__(self) -> None:
        self.means: dict[int, float] = {}

    def on_sync(self, trainer, loss: float) -> None:
        self.means[trainer.step_in_epoch] = loss


def textbook_epoch(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    lr: float,
    fused: bool = False,
) -> tuple[list[float], list[int]]:
    """One epoch of the textbook loop (float ``inputs``): ``TensorDataset`` + shuffled
    ``DataLoader``, Adam (PyTorch's default implementation, or ``fused``), per batch
    ``zero_grad``, forward, cross-entropy, ``backward``, ``step``, ``loss.item()``. Returns
    every step's loss and batch size."""
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)
    loss_fn = nn.CrossEntropyLoss()
    losses, sizes = [], []
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(len(y))
    return losses, sizes


def variant_settings(framework: str) -> dict:
    """Trainer settings of a what-if variant: ``cnnlab[channels_last=True,sync_every=50]``."""
    if "[" not in framework:
        return {}
    inside = framework[framework.index("[") + 1 : framework.rindex("]")]
    settings = {}
    for item in filter(None, inside.split(",")):
        key, value = item.split("=", 1)
        settings[key.strip()] = ast.literal_eval(value.strip())
    return settings


class Worker:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.framework = spec["framework"]
        self.settings = variant_settings(self.framework)
        data = Path(spec["data_dir"])
        self.images = torch.from_numpy(np.load(data / "images.npy"))  # N x C x H x W uint8
        self.labels = torch.from_numpy(np.load(data / "labels.npy").astype(np.int64))
        if self.framework in ("textbook", "onnxruntime"):  # converted once, outside timing
            self.inputs = self.images.to(torch.float32).div_(255.0)
        torch.manual_seed(0)
        self.model = create_model(spec["model"], **spec["model_kwargs"])
        self.initial = copy.deepcopy(self.model.state_dict())
        self.predictor: Trainer | None = None
        self.session = None
        if self.framework == "onnxruntime":
            self._folder = tempfile.TemporaryDirectory(prefix="cnnlab-bench-onnx-")
            path = export_onnx(self.model, Path(self._folder.name), tuple(self.images.shape[1:]))
            self.session = onnx_session(path)

    def ready(self) -> dict:
        return {
            "framework": self.framework,
            "trainer_settings": self.settings,
            "params": sum(p.numel() for p in self.model.parameters()),
            "versions": {
                "torch": torch.__version__,
                "cnnlab": cnnlab.__version__,
                **({"onnxruntime": onnxruntime_version()} if self.session else {}),
            },
            "threads": {
                "torch_num_threads": torch.get_num_threads(),
                "torch_num_interop_threads": torch.get_num_interop_threads(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
                "mkldnn": torch.backends.mkldnn.is_available(),
                **({"onnxruntime_intra_op": session_threads(self.session)} if self.session else {}),
            },
            "rss_after_setup_mib": current_rss_mib(),
        }

    # --- training ---------------------------------------------------------------------------

    def train(self, samples: int) -> dict:
        if self.session is not None:
            raise RuntimeError("the onnxruntime peer is an inference peer: it does not train")
        self.model.load_state_dict(self.initial)
        run = self._train_textbook if self.framework == "textbook" else self._train_cnnlab
        cpu = cpu_seconds()
        seconds, points, steps = run(samples)
        return timed_result(samples, seconds, cpu, steps=steps, **loss_windows(points, steps))

    def _train_cnnlab(self, n: int) -> tuple[float, list, int]:
        batch = self.spec["batch_size"]
        recorder = RunningLoss()
        trainer = Trainer(
            self.model,
            epochs=1,
            batch_size=batch,
            optimizer="adam",
            lr=self.spec["lr"],
            verbose=1,
            callbacks=[recorder],
            **self.settings,
        )
        data = (self.images[:n], self.labels[:n])
        start = time.perf_counter()
        trainer.fit(data)
        seconds = time.perf_counter() - start
        steps = trainer.global_step
        return seconds, from_running_means(recorder.means, batch, n), steps

    def _train_textbook(self, n: int) -> tuple[float, list, int]:
        start = time.perf_counter()
        losses, sizes = textbook_epoch(
            self.model, self.inputs[:n], self.labels[:n], self.spec["batch_size"], self.spec["lr"]
        )
        seconds = time.perf_counter() - start
        return seconds, from_step_losses(losses, sizes), len(losses)

    # --- inference --------------------------------------------------------------------------

    def infer(self, samples: int, batch_size: int) -> dict:
        cpu = cpu_seconds()
        if self.session is not None:
            inputs = self.inputs[:samples].numpy()
            start = time.perf_counter()
            classes = predict_classes(self.session, inputs, batch_size)
            seconds = time.perf_counter() - start
        elif self.framework != "textbook":
            if self.predictor is None:
                self.predictor = Trainer(
                    self.model, eval_batch_size=batch_size, verbose=0, **self.settings
                )
            images = self.images[:samples]
            start = time.perf_counter()
            classes = self.predictor.predict(images).classes
            seconds = time.perf_counter() - start
        else:
            loader = DataLoader(TensorDataset(self.inputs[:samples]), batch_size=batch_size)
            start = time.perf_counter()
            self.model.eval()
            with torch.no_grad():
                classes = torch.cat([self.model(x).argmax(1) for (x,) in loader])
            seconds = time.perf_counter() - start
        return timed_result(samples, seconds, cpu, predicted=len(classes))


if __name__ == "__main__":
    run_worker(Worker)
