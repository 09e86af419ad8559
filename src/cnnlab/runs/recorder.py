"""The run recorder: the callback that turns a fit into a run directory (as Lightning's
checkpoint callback, it owns its folder and file names; the trainer only hands over its state).

At fit start it writes ``config.json`` (or, resuming, restores the last checkpoint); during
the fit the last checkpoint every ``checkpoint_every`` steps; at each epoch end the best
checkpoint when the monitored value improved, the last checkpoint and ``history.csv``; at
fit end the metrics, figures and report. Under ``torchrun`` every process runs it (saving
the state is a collective step) and only the main process writes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cnnlab.errors import CnnlabError
from cnnlab.files import remove_stale_temporaries
from cnnlab.models.source import model_record
from cnnlab.runs.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.runs.guard import RunLock, SignalFlag, TrainingInterrupted
from cnnlab.runs.layout import RunLayout, new_run_dir, write_config
from cnnlab.runs.outputs import write_outputs
from cnnlab.runs.tensorboard import TensorBoardLogger
from cnnlab.train.callbacks import Callback, Monitor
from cnnlab.train.data import Samples
from cnnlab.train.distributed import broadcast_object
from cnnlab.train.state import TrainingState, prefixed
from cnnlab.train.trainer import Trainer


class RunRecorder(Callback):
    """Write the fit into a run directory.

    Args:
        run_dir: the run's folder (created when missing).
        new_in: instead of ``run_dir``, create a fresh ``new_in/NAME-YYYYmmdd-HHMMSS``.
        name: the fresh folder's name (with ``new_in``).
        run_info: JSON-able facts saved as ``config.json``'s ``run`` section (model name and
            kwargs, dataset, the command that reproduces the run).
        resume: continue the run in ``run_dir`` from its last checkpoint.
        checkpoint_every: also checkpoint every N training steps (0: at epoch ends only).
        tensorboard: also log the fit for TensorBoard into ``RUN/tensorboard``
            (:class:`~cnnlab.runs.tensorboard.TensorBoardLogger`); a resumed run keeps logging.

    One process writes a run at a time (a lock on ``RUN/.lock`` for the life of the fit), and
    SIGINT or SIGTERM during the fit stop it after the current step with its last checkpoint
    written (:mod:`cnnlab.runs.guard`): ``--resume`` continues exactly.

    >>> recorder = RunRecorder("runs/lenet5")  # doctest: +SKIP
    >>> Trainer(model, epochs=5, callbacks=[recorder]).fit(train, val)  # doctest: +SKIP
    >>> recorder.layout.report_html  # doctest: +SKIP
    """

    saves_state = True

    def __init__(
        self,
        run_dir: str | os.PathLike | None = None,
        *,
        new_in: str | os.PathLike | None = None,
        name: str = "run",
        run_info: dict | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
        tensorboard: bool = False,
    ) -> None:
        if (run_dir is None) == (new_in is None):
            raise CnnlabError("RunRecorder needs run_dir or new_in (one of them)")
        if resume and run_dir is None:
            raise CnnlabError("resume needs the run's folder: RunRecorder(run_dir, resume=True)")
        if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
            raise CnnlabError(
                f"checkpoint_every must be an integer >= 0. Received: {checkpoint_every!r}"
            )
        self.layout = RunLayout(Path(run_dir)) if run_dir is not None else None
        self.new_in, self.name = new_in, name
        self.run_info = dict(run_info or {})
        self.resume = resume
        self.checkpoint_every = checkpoint_every
        self.tensorboard = tensorboard
        self._logger: TensorBoardLogger | None = None
        self.best: Monitor | None = None
        self.best_epoch: int | None = None
        self._started = 0.0
        self._lock: RunLock | None = None
        self._signals = SignalFlag()

    def on_fit_start(self, trainer: Trainer) -> None:
        main = trainer.world.is_main
        if self.layout is None:  # the main process names the folder, the others learn it
            folder = new_run_dir(self.new_in, self.name) if main else None
            self.layout = RunLayout(broadcast_object(folder, trainer.world))
        if self.tensorboard:  # it opens at the first epoch: after the restore below
            self._logger = TensorBoardLogger(self.layout.tensorboard)
        if main:
            self.layout.root.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock(self.layout.lock)
            self._lock.acquire()  # before the sweep below: never another writer's temporaries
        self._signals.arm()
        self.best = Monitor(trainer.monitor)
        self._started = time.perf_counter()
        if "model" not in self.run_info:  # your own model: rebuilt from its class, if importable
            self.run_info.update(model_record(trainer.model))
        if self.resume and self._restore(trainer):
            return
        if main:
            write_config(
                self.layout,
                run=self.run_info,
                train=trainer.config.to_json(),
                task=trainer.task,
                classes=trainer.classes,
                input_spec=trainer.input_spec.to_json(),
                samples={
                    "train": trainer.num_train_samples,
                    "validation": trainer.num_validation_samples,
                },
                execution=trainer.execution.to_json(),
                data=trainer.data_source,
                recorder={
                    "checkpoint_every": self.checkpoint_every,
                    "tensorboard": self.tensorboard,
                },
            )

    def _restore(self, trainer: Trainer) -> bool:
        """Load the last checkpoint; False when the run stopped before its first one (it then
        starts over)."""
        if trainer.world.is_main:
            remove_stale_temporaries(self.layout.root)
        last = self.layout.last
        if not last.exists():
            if self.layout.config.exists():
                return False
            raise CnnlabError(f"nothing to resume: {last} does not exist")
        tensors, meta = load_checkpoint(last)
        trainer.load_state_dict(TrainingState(tensors, meta), source=str(last))
        return True

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if self._logger is not None:
            self._logger.on_epoch_begin(trainer, epoch)

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        if self._logger is not None:
            self._logger.on_sync(trainer, loss)

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        stop = self._signals.received
        if stop is not None or (
            self.checkpoint_every and trainer.global_step % self.checkpoint_every == 0
        ):
            self._save_last(trainer)
        if stop is not None:
            raise TrainingInterrupted(
                f"stopped by {stop.name} at epoch {trainer.epoch + 1}, step "
                f"{trainer.step_in_epoch}; the run is saved: cnnlab train --resume "
                f"{self.layout.root}"
            )

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if self.best.improved(row):
            self.best_epoch = int(row["epoch"])
            self._save_best(trainer)
        self._save_last(trainer)
        if trainer.world.is_main:
            trainer.history.to_csv(self.layout.history)
        if self._logger is not None:
            self._logger.on_epoch_end(trainer, row)

    def on_fit_error(self, trainer: Trainer, error: BaseException) -> None:
        if self._logger is not None:
            self._logger.on_fit_error(trainer, error)
        self._release()

    def _release(self) -> None:
        self._signals.disarm()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def on_fit_end(self, trainer: Trainer) -> None:
        try:
            if self._logger is not None:
                self._logger.on_fit_end(trainer)
            self._write_outputs(trainer)
        finally:
            self._release()

    def _write_outputs(self, trainer: Trainer) -> None:
        if not trainer.world.is_main:
            return
        data = trainer.validation_data
        data = data if isinstance(data, Samples) else None  # a DataLoader is not re-read
        prediction = trainer.predict(data) if data is not None else None
        spec = trainer.input_spec
        image = spec.kind == "image" and spec.size is not None
        write_outputs(
            self.layout,
            history=trainer.history,
            validation=trainer.validation_result,
            monitor=trainer.monitor,
            seconds=time.perf_counter() - self._started,
            classes=trainer.classes,
            validation_data=data,
            prediction=prediction,
            model=trainer.model,
            input_size=(spec.channels, *spec.size) if image else None,
        )

    def _described(self, trainer: Trainer) -> dict:
        """What every checkpoint says of its run, besides the training state."""
        spec = trainer.input_spec
        return {
            **trainer.position(),
            "run": self.run_info,
            "task": trainer.task,
            "classes": trainer.classes,
            "input_spec": spec.to_json() if spec else None,
        }

    def _save_last(self, trainer: Trainer) -> None:
        state = trainer.state_dict()  # every process: the metric counts are summed
        if trainer.world.is_main:
            meta = {**state.meta, **self._described(trainer)}
            save_checkpoint(self.layout.last, state.tensors, meta)

    def _save_best(self, trainer: Trainer) -> None:
        if trainer.world.is_main:
            meta = {**self._described(trainer), "monitor": self.best.name, "value": self.best.best}
            tensors = prefixed("model.", trainer.model.state_dict())
            save_checkpoint(self.layout.best, tensors, meta)

    def state_dict(self) -> dict:
        best = self.best.best if self.best is not None else None
        return {"best": best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        if self.best is not None and state["best"] is not None:
            self.best.best = state["best"]
        self.best_epoch = state["best_epoch"]
