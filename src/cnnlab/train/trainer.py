"""The training loop: the course notes' procedure ("Addestramento di una CNN": forward pass,
error, backpropagation, update, repeat until convergence, then evaluate on unseen data),
driven through a callback list as in Keras.

>>> trainer = Trainer(model, epochs=5, lr=1e-3)  # doctest: +SKIP
>>> train, val = load("mnist", "test[:8000]"), load("mnist", "test[8000:]")  # doctest: +SKIP
>>> history = trainer.fit(train, val)  # doctest: +SKIP
>>> trainer.evaluate(val)["accuracy"]  # doctest: +SKIP

The loop knows nothing of files: a run directory is written by a callback
(:class:`cnnlab.runs.RunRecorder`), which saves :meth:`Trainer.state_dict` and restores it
with :meth:`Trainer.load_state_dict`. Exact resume: batches come from an
:class:`~cnnlab.data.InMemoryLoader` whose order depends only on (seed, epoch); augmentations
draw from a generator seeded by (seed, epoch, step); the state holds weights, optimizer and
schedule state, the partial epoch's metric counts, the position in the epoch, every callback's
state and every RNG state. Resuming replays nothing and skips nothing.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cnnlab.data.dataset import Dataset
from cnnlab.data.loader import InMemoryLoader
from cnnlab.data.splits import validation_split as split_last
from cnnlab.errors import CnnlabError
from cnnlab.models.info import main_output
from cnnlab.train.augmentation import Augment, step_generator
from cnnlab.train.callbacks import Callback, CallbackList, EarlyStopping, NanGuard
from cnnlab.train.config import TrainConfig
from cnnlab.train.data import Data, as_tensors, input_kind, target_task
from cnnlab.train.distributed import World, all_reduce_sum, init_world
from cnnlab.train.environment import auto_device, rng_state, seed_everything, set_rng_state
from cnnlab.train.execution import resolve_execution
from cnnlab.train.history import History
from cnnlab.train.inputs import InputSpec, prepare_inputs, spec_for, spec_for_data
from cnnlab.train.metrics import MetricState, scalar_metrics
from cnnlab.train.objective import LossFunction, Objective, float_output, match_target
from cnnlab.train.profiling import Profiler
from cnnlab.train.progress import ProgressBar
from cnnlab.train.state import (
    TrainingState,
    load_weights,
    prefixed,
    unprefixed,
)
from cnnlab.train.update import Update


class Prediction(NamedTuple):
    """``probabilities`` N x K (x H x W) and ``classes`` N (x H x W): the argmax."""

    probabilities: torch.Tensor
    classes: torch.Tensor


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise CnnlabError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
    return value


class Trainer:
    """Fit, evaluate and predict with one model.

    Args:
        model: any ``nn.Module`` returning logits N x K (classification) or N x K x H x W
            (segmentation), or a tuple whose first entry is the logits (auxiliary heads).
        config: a :class:`TrainConfig`; keyword ``settings`` override its fields.
        loss: per-head loss (default cross-entropy).
        callbacks: :class:`Callback` objects; a :class:`NanGuard`, the :class:`History`
            and (when ``verbose``) a :class:`ProgressBar` are always there.
        augment: ``augment(inputs, targets, generator)`` applied to each training batch.
        input_spec: how stored samples become inputs (default: from the model and the data).
        classes: class names (default: those of the training Dataset).
        device: ``auto`` (CUDA, then MPS, then CPU) or a torch device string.
        verbose: 0 silent, 1 a progress bar per epoch and a summary line, 2 the line only.
        sync_every: read the running loss from the device every N steps (progress, NaN guard).
        eval_batch_size: batch size of evaluation and prediction.
        profiler: told each part of the work (:mod:`cnnlab.train.profiling`); default none.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        *,
        loss: LossFunction | None = None,
        callbacks: list[Callback] | None = None,
        augment: Augment | None = None,
        input_spec: InputSpec | None = None,
        classes: list[str] | None = None,
        device: str = "auto",
        verbose: int = 1,
        sync_every: int = 25,
        eval_batch_size: int = 512,
        profiler: Profiler | None = None,
        **settings,
    ) -> None:
        self.config = (config or TrainConfig()).updated(**settings)
        if verbose not in (0, 1, 2):
            raise CnnlabError(f"verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
        self.sync_every = _positive("sync_every", sync_every)
        self.eval_batch_size = _positive("eval_batch_size", eval_batch_size)
        self.profiler = profiler or Profiler()
        cfg = self.config
        self.device = auto_device(device)
        self.world: World = init_world(self.device.type)
        if self.world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        self.model = model.to(self.device)
        self.execution = resolve_execution(
            self.model, self.device, cfg.precision, cfg.channels_last, cfg.amp
        )
        if self.execution.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.objective = Objective(loss, cfg.aux_weight, cfg.label_smoothing)
        self.augment = augment
        self.input_spec = input_spec
        self.classes = list(classes) if classes else None
        self.history = History()
        self.callbacks = CallbackList([NanGuard(), self.history, *(callbacks or [])])
        if verbose:
            self.callbacks.append(ProgressBar(bar=verbose == 1))
        self.epoch = self.step_in_epoch = self.global_step = 0
        self.stop_training = False
        self.update: Update | None = None
        self.task = "classification"
        self.monitor = cfg.monitor
        self.num_train_samples = self.num_validation_samples = 0
        self.validation_data: Data | None = None
        self.validation_result: dict[str, object] | None = None
        self._train_state: MetricState | None = None
        self._synced_at = -1

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        return self.update.optimizer if self.update else None

    @property
    def lr(self) -> float:
        return self.update.lr if self.update else self.config.lr

    def _prepare(self, data: Data, spec: InputSpec | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Model-ready inputs and targets on the device (``spec``: default from the data)."""
        inputs, targets = as_tensors(data)
        spec = spec or spec_for_data(self.model, inputs, targets)
        with self.profiler.section("prepare"):
            prepared = prepare_inputs(spec, inputs)
        return prepared.to(self.device), targets.to(self.device, torch.int64)

    def _forward(self, net: nn.Module, inputs: torch.Tensor):
        if self.execution.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return net(inputs)

    def fit(
        self, train: Data, validation: Data | None = None, validation_split: float | None = None
    ) -> History:
        """Train for ``config.epochs`` epochs (or until a callback stops); returns the history.

        Args:
            train: a Dataset or (inputs, targets).
            validation: data evaluated after every epoch.
            validation_split: instead of ``validation``, the LAST fraction of ``train`` (Keras).
        """
        cfg = self.config
        seed_everything(cfg.seed, cfg.deterministic)
        if validation is None and validation_split:
            train, validation = split_last(train, validation_split)
        inputs, targets = as_tensors(train)
        self.input_spec = self.input_spec or spec_for_data(self.model, inputs, targets)
        self.task = target_task(targets)
        if self.classes is None and isinstance(train, Dataset):
            self.classes = list(train.classes)
        x, y = self._prepare(train, self.input_spec)
        val = self._prepare(validation, self.input_spec) if validation is not None else None
        self.validation_data, self.validation_result = validation, None
        self.num_train_samples, self.num_validation_samples = len(x), len(val[0]) if val else 0
        self._add_default_callbacks(has_validation=val is not None)
        loader = InMemoryLoader(x, y, batch_size=cfg.batch_size, seed=cfg.seed)
        self.update = Update.from_config(
            cfg, self.model.parameters(), len(loader), self.execution, self.profiler.section
        )
        net = self.model
        if self.world.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(self.model, device_ids=device_ids)
        self.stop_training = False
        self.callbacks.on_fit_start(self)  # a run recorder restores a resumed fit here
        while self.epoch < cfg.epochs and not self.stop_training:
            self._run_epoch(net, loader, val)
        if val is not None:  # all processes: the metric counts are summed over them
            self.validation_result = self._evaluate_prepared(*val, self.task)
        self.callbacks.on_fit_end(self)
        return self.history

    def _add_default_callbacks(self, has_validation: bool) -> None:
        """Early stopping from the config; without validation data, ``val_*`` monitors fall
        back to the training loss."""
        monitor = self.config.monitor
        if not has_validation and monitor.startswith("val_"):
            monitor = "loss"
        patience = self.config.early_stopping
        if patience and self.callbacks.find(EarlyStopping) is None:
            self.callbacks.append(EarlyStopping(monitor, patience=patience))
        self.monitor = monitor

    def _run_epoch(self, net: nn.Module, loader: InMemoryLoader, val) -> None:
        started = time.perf_counter()
        self.model.train()
        loader.set_epoch(self.epoch, skip=self.step_in_epoch)
        self.callbacks.on_epoch_begin(self, self.epoch)
        state = self._train_state
        section = self.profiler.section
        batches = iter(loader)
        while True:
            with section("batch"):
                item = next(batches, None)
            if item is None:
                break
            inputs, targets = item
            batch = self.step_in_epoch
            self.callbacks.on_train_batch_begin(self, batch)
            if self.augment is not None:
                with section("augment"):
                    generator = step_generator(self.config.seed, self.epoch, batch)
                    inputs, targets = self.augment(inputs, targets, generator)
            state = self._train_step(net, inputs, targets, state)
            self._train_state = state
            with section("callbacks"):
                if self.step_in_epoch % self.sync_every == 0 or self.global_step == 1:
                    self._sync(state)
                self.callbacks.on_train_batch_end(self, batch)
        self._sync(state)
        row: dict[str, float] = {"epoch": self.epoch + 1}
        row.update(scalar_metrics(self._reduced(state).result()))
        if val is not None:
            with section("validation"):
                val_result = self._evaluate_prepared(*val, self.task)
            row.update({f"val_{k}": v for k, v in scalar_metrics(val_result).items()})
        row["lr"] = self.lr
        row["time"] = time.perf_counter() - started
        self.epoch += 1
        self.step_in_epoch = 0
        self._train_state = None
        self.callbacks.on_epoch_end(self, row)

    def _train_step(self, net, inputs, targets, state: MetricState | None) -> MetricState:
        cfg = self.config
        section = self.profiler.section
        n_global = len(targets)
        if self.world.distributed:
            part = self.world.share(n_global)
            inputs, targets = inputs[part], targets[part]
        with section("forward"), self.execution.autocast(self.device):
            output = self._forward(net, inputs)
        with section("loss"):
            output = float_output(output)  # the loss and metrics see float32 logits
            loss = self.objective(output, targets)
            scale = len(targets) * self.world.size / n_global
            scaled = loss * scale if scale != 1.0 else loss
        self.update(scaled)
        with section("metrics"):
            logits = main_output(output).detach()
            if state is None:
                state = MetricState(logits.shape[1], self.task, cfg.top_k).to(self.device)
            state.update(loss.detach(), logits.float(), match_target(logits, targets))
        self.step_in_epoch += 1
        self.global_step += 1
        return state

    def _sync(self, state: MetricState | None) -> None:
        """Read the running loss (one host sync) and let callbacks see it."""
        if state is None or self._synced_at == self.global_step or int(state.count) == 0:
            return
        self._synced_at = self.global_step
        self.callbacks.on_sync(self, float(state.loss_sum) / int(state.count))

    def _reduced(self, state: MetricState) -> MetricState:
        """The state summed over all processes (a copy; the local state is unchanged)."""
        total = MetricState(state.num_classes, state.task, self.config.top_k)
        total.load_state_dict(state.state_dict())
        all_reduce_sum(list(total.state_dict().values()), self.world)
        return total

    @torch.inference_mode()
    def _evaluate_prepared(self, x: torch.Tensor, y: torch.Tensor, task: str) -> dict[str, object]:
        self.model.eval()
        part = self.world.share(len(x))
        size = self.eval_batch_size
        state: MetricState | None = None
        for inputs, targets in zip(x[part].split(size), y[part].split(size), strict=True):
            logits = main_output(self._forward(self.model, inputs)).float()
            if state is None:
                state = MetricState(logits.shape[1], task, self.config.top_k).to(self.device)
            target = match_target(logits, targets)
            state.update(self.objective.loss(logits, target), logits, target)
        if state is None:  # this process's share is empty: contribute zero counts
            with torch.no_grad():
                probe = main_output(self._forward(self.model, x[:1]))
            state = MetricState(probe.shape[1], task, self.config.top_k).to(self.device)
        return self._reduced(state).result()

    def evaluate(self, data: Data) -> dict[str, object]:
        """Loss and metrics (with per-class values and the confusion matrix) on ``data``."""
        x, y = self._prepare(data, self.input_spec)
        return self._evaluate_prepared(x, y, target_task(y))

    @torch.inference_mode()
    def predict(self, inputs: torch.Tensor | Dataset) -> Prediction:
        """Class probabilities (softmax) and classes for stored samples (uint8 images or
        token ids), or for a Dataset."""
        if isinstance(inputs, Dataset):
            x, _ = self._prepare(inputs, self.input_spec)
        else:
            spec = self.input_spec or spec_for(self.model, input_kind(inputs))
            x = spec.apply(inputs).to(self.device)
        self.model.eval()
        batches = [
            torch.softmax(main_output(self._forward(self.model, part)).float(), dim=1)
            for part in x.split(self.eval_batch_size)
        ]
        probabilities = torch.cat(batches).cpu()
        return Prediction(probabilities, probabilities.argmax(1))

    def position(self) -> dict[str, int]:
        """Where the fit is: completed epochs, steps into the current epoch, steps in all."""
        return {"epoch": self.epoch, "step": self.step_in_epoch, "global_step": self.global_step}

    def state_dict(self) -> TrainingState:
        """Everything needed to continue this fit exactly. Under ``torchrun`` every process
        calls it together: the partial epoch's metric counts are summed over them."""
        partial = self._reduced(self._train_state) if self._train_state is not None else None
        tensors = prefixed("model.", self.model.state_dict())
        update_tensors, update_meta = self.update.state_dict()
        tensors.update(update_tensors)
        if partial is not None:
            tensors.update(prefixed("metrics.", partial.state_dict()))
        rng_tensors, rng_values = rng_state()
        tensors.update(rng_tensors)
        meta = {
            **self.position(),
            "task": self.task,
            "classes": self.classes,
            "input_spec": self.input_spec.to_json() if self.input_spec else None,
            "config": self.config.to_json(),
            **update_meta,
            "rng": rng_values,
            "callbacks": {key: c.state_dict() for key, c in self.callbacks.keyed()},
        }
        return TrainingState(tensors, meta)

    def load_state_dict(self, state: TrainingState, source: str = "the saved state") -> None:
        """Continue from what :meth:`state_dict` returned (call it once the optimizer exists:
        from a callback's ``on_fit_start``). ``source`` names the state in error messages."""
        if self.update is None:
            raise CnnlabError("load_state_dict needs the optimizer: call it from on_fit_start")
        tensors, meta = state
        load_weights(self.model, unprefixed("model.", tensors), source)
        self.update.load_state_dict(tensors, meta)
        partial = unprefixed("metrics.", tensors)
        self._train_state = None
        if partial:
            k = partial["matrix"].shape[0]
            counts = MetricState(k, meta["task"], self.config.top_k).to(self.device)
            if self.world.is_main:  # the others start from zero: the counts are summed
                counts.load_state_dict({n: t.to(self.device) for n, t in partial.items()})
            self._train_state = counts
        saved = meta["callbacks"]
        if "history" in meta:  # written before the history was a callback
            saved = {"History:1": {"rows": meta["history"]}, **saved}
        for key, callback in self.callbacks.keyed():
            if key in saved:
                callback.load_state_dict(saved[key])
        self.epoch, self.step_in_epoch = meta["epoch"], meta["step"]
        self.global_step = meta["global_step"]
        set_rng_state(tensors, meta["rng"])


def fit(model: nn.Module, train: Data, validation: Data | None = None, **settings) -> History:
    """Keras-style one call: ``Trainer(model, **settings).fit(train, validation)``."""
    validation_split = settings.pop("validation_split", None)
    trainer = Trainer(model, **settings)
    return trainer.fit(train, validation, validation_split=validation_split)
