"""TensorBoard logging: a callback that writes a fit as TensorBoard event files.

What Keras' ``TensorBoard`` callback and Lightning's ``TensorBoardLogger`` write, with
TensorBoard's own writer (``torch.utils.tensorboard``):

- ``LOG_DIR/train`` and ``LOG_DIR/validation``: per epoch, every history metric under the
  same tag in both (``epoch/loss`` is the training loss in one and ``val_loss`` in the other),
  so TensorBoard overlays the two curves as Keras' logs do; in ``train``, per step,
  ``step/loss`` (the running loss whenever the trainer reads it back) and ``step/lr``;
- sample inputs (``samples``, when the validation data are images), the model's graph (where
  ``torch.jit.trace`` can follow it; else a text note saying why) and, at the end, the
  hyperparameters beside the final validation metrics (the HPARAMS tab).

A resumed fit purges the events after the step it restarts from (``purge_step``), so the
curves do not double back. Under ``torchrun`` only the main process writes.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch

from cnnlab.errors import CnnlabError
from cnnlab.train.callbacks import Callback
from cnnlab.train.trainer import Trainer

SAMPLES = 16
VALIDATION_PREFIX = "val_"


def summary_writer(log_dir: Path, purge_step: int | None):
    """TensorBoard's ``SummaryWriter`` on ``log_dir``, or one line saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise CnnlabError(
            "TensorBoard logging needs the tensorboard package: "
            "pip install 'cnnlab[tensorboard]' (or pip install tensorboard)"
        ) from None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


class TensorBoardLogger(Callback):
    """Write the fit's curves, samples, graph and hyperparameters for TensorBoard.

    Args:
        log_dir: the folder ``tensorboard --logdir`` is pointed at (created when missing).
        graph: also trace the model's graph once at fit start.

    >>> trainer = Trainer(model, callbacks=[TensorBoardLogger("runs/tb")])  # doctest: +SKIP
    >>> trainer.fit(train, validation)  # then: tensorboard --logdir runs/tb  # doctest: +SKIP
    """

    def __init__(self, log_dir: str | os.PathLike, graph: bool = True) -> None:
        self.log_dir = Path(log_dir)
        self.graph = graph
        self._writers: dict[str, object] = {}

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Open the writers at the first epoch of the fit: after every ``on_fit_start``, so
        a run recorder has restored a resumed fit and ``global_step`` is where it restarts."""
        if self._writers or not trainer.world.is_main:
            return
        purge = trainer.global_step or None  # resuming: drop what followed the checkpoint
        self._writers = {
            part: summary_writer(self.log_dir / part, purge) for part in ("train", "validation")
        }
        if trainer.global_step == 0:
            self._write_samples(trainer)
            if self.graph:
                self._write_graph(trainer)

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        if self._writers and math.isfinite(loss):
            train = self._writers["train"]
            train.add_scalar("step/loss", loss, trainer.global_step)
            train.add_scalar("step/lr", trainer.lr, trainer.global_step)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if not self._writers:
            return
        epoch = int(row.get("epoch", trainer.epoch + 1))
        for key, value in row.items():
            if key == "epoch" or not isinstance(value, int | float):
                continue
            part = "validation" if key.startswith(VALIDATION_PREFIX) else "train"
            tag = f"epoch/{key.removeprefix(VALIDATION_PREFIX)}"
            self._writers[part].add_scalar(tag, value, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if not self._writers:
            return
        final = trainer.validation_result or {}
        metrics = {
            f"hparam/{key}": float(value)
            for key, value in final.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        if metrics:
            self._writers["train"].add_hparams(hyperparameters(trainer), metrics, run_name=".")
        self._close()

    def on_fit_error(self, trainer: Trainer, error: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _write_samples(self, trainer: Trainer) -> None:
        images = _validation_images(trainer)
        if images is None or images.shape[1] > 3:
            return
        shown = images[:SAMPLES].float()
        low, high = shown.amin(), shown.amax()
        shown = shown / 255 if images.dtype == torch.uint8 else (shown - low) / (high - low + 1e-12)
        self._writers["validation"].add_images("samples", shown, 0)

    def _write_graph(self, trainer: Trainer) -> None:
        """The graph traced on one validation image (or zeros of the model's input size);
        a model ``torch.jit.trace`` cannot follow gets a text note instead."""
        spec, model, images = trainer.input_spec, trainer.model, _validation_images(trainer)
        if spec is None or spec.kind != "image" or (images is None and spec.size is None):
            return
        raw = images[:1] if images is not None else torch.zeros(1, spec.channels, *spec.size)
        example = spec.apply(raw).to(trainer.device)
        training = model.training
        model.eval()  # auxiliary heads and dropout as at inference
        try:
            with warnings.catch_warnings():  # TensorBoard's graph needs torch.jit.trace
                warnings.filterwarnings("ignore", "`torch.jit.trace", DeprecationWarning)
                self._writers["train"].add_graph(model, example)
        except Exception as error:  # tracing fails in many model-specific ways
            note = f"graph not traced: {type(error).__name__}: {str(error)[:300]}"
            self._writers["train"].add_text("graph", note, 0)
        finally:
            model.train(training)


def _validation_images(trainer: Trainer) -> torch.Tensor | None:
    """The validation data's N x C x H x W images, when it holds them as one tensor (a
    cnnlab Dataset's ``images``, or the ``inputs`` of arrays given to ``fit``)."""
    data = trainer.validation_data
    images = getattr(data, "images", getattr(data, "inputs", None))
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        return images
    return None


def hyperparameters(trainer: Trainer) -> dict[str, object]:
    """The TrainConfig fields TensorBoard can show (numbers, strings, booleans), and the
    model's class."""
    shown: dict[str, object] = {"model": type(trainer.model).__name__}
    for key, value in vars(trainer.config).items():
        if isinstance(value, bool | int | float | str):
            shown[key] = value
        elif value is None:
            shown[key] = "none"
    return shown
