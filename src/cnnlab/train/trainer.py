"""The training loop: the course notes' procedure ("Addestramento di una CNN": forward pass,
error, backpropagation, update, repeat until convergence, then evaluate on unseen data),
driven through a callback list as in Keras.

>>> trainer = Trainer(model, epochs=5, lr=1e-3)  # doctest: +SKIP
>>> history = trainer.fit(load("digits", "train"), load("digits", "test"))  # doctest: +SKIP

The loop knows nothing of files: a callback (:class:`cnnlab.runs.RunRecorder`) writes the run
directory from :meth:`Trainer.state_dict` and restores it with :meth:`Trainer.load_state_dict`.
Resume is exact for data cnnlab holds: the batch order depends only on (seed, epoch),
augmentations draw from a generator seeded by (seed, epoch, step), and the state holds
weights, optimizer, schedule, the partial epoch's metric counts, the position, the callbacks'
states and every RNG state. Resuming replays nothing and skips nothing.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cnnlab.data.augment import BatchShare
from cnnlab.data.disk_cache import DiskCache
from cnnlab.data.loader import InMemoryLoader
from cnnlab.errors import CnnlabError
from cnnlab.models.info import main_output
from cnnlab.train.augmentation import Augment, augment_share, step_generator, takes_share
from cnnlab.train.batches import Batch, LoaderBatches
from cnnlab.train.callbacks import Callback, CallbackList, EarlyStopping, NanGuard
from cnnlab.train.config import TrainConfig
from cnnlab.train.data import Data, Samples, check_data_format, target_task
from cnnlab.train.distributed import World, all_reduce_sum, init_world
from cnnlab.train.environment import auto_device, seed_everything
from cnnlab.train.execution import mark_step_heap, resolve_execution
from cnnlab.train.feed import (
    EvaluationBatches,
    Feed,
    Feedable,
    check_memory,
    check_outputs,
    first_batch,
    fit_data,
    read,
    training_batches,
    warn_missing_classes,
)
from cnnlab.train.history import History
from cnnlab.train.inference import chosen_precision, evaluate_batches, predict_samples
from cnnlab.train.inputs import InputSpec, spec_for_data
from cnnlab.train.lr_range import LRFind, range_test
from cnnlab.train.metrics import MetricFunction, MetricState, scalar_metrics, user_metrics
from cnnlab.train.objective import LossFunction, Objective, float_output, match_target
from cnnlab.train.optim import Factories
from cnnlab.train.profiling import Profiler
from cnnlab.train.progress import ProgressBar
from cnnlab.train.results import Evaluation, Prediction
from cnnlab.train.state import TrainingState, capture, restore
from cnnlab.train.update import Update

SYNC_SECONDS = 1.0  # read the loss at least this often, so progress stays live


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise CnnlabError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
    return value


class Trainer:
    """Fit, evaluate and predict with one model.

    Args:
        model: any ``nn.Module`` returning logits N x K (classification) or N x K x H x W
            (segmentation), or a tuple whose first entry is the logits (auxiliary heads).
        config: a :class:`TrainConfig`; keyword ``settings`` override its fields, and may
            be factories: ``optimizer=f(params)``, ``schedule=f(optimizer)`` (:mod:`.optim`).
        loss: per-head loss (default cross-entropy).
        metrics: your own metrics beside the built-in ones, ``{"name": fn}`` or named
            functions, ``fn(outputs, targets) -> float`` (history ``name``, ``val_name``).
        callbacks: :class:`Callback` objects; a :class:`NanGuard`, the :class:`History`
            and (when ``verbose``) a :class:`ProgressBar` are always there.
        augment: ``augment(inputs, targets, generator)`` applied to each training batch;
            with a ``share`` keyword, under torchrun, to this process's share only
            (:mod:`cnnlab.train.augmentation`), else to the whole global batch.
        input_spec: how stored samples become inputs (default: from the model and the data).
        classes: class names (default: those of the training Dataset).
        data_format: ``channels_first`` (N x C x H x W) or ``channels_last`` (N x H x W x C,
            Keras' default) for arrays and tensors given to fit, evaluate and predict.
        device: ``auto`` (CUDA, then MPS, then CPU) or a torch device string.
        verbose: 0 silent, 1 a progress bar per epoch and a summary line, 2 the line only.
        sync_every: read the running loss from the device every N steps (progress, NaN guard).
        eval_batch_size: batch size of evaluation and prediction.
        eval_precision: arithmetic of evaluation (validation included) and prediction:
            ``auto``, ``fp32`` or ``bf16``; None: the ``precision`` setting
            (:mod:`cnnlab.train.inference`).
        profiler: told each part of the work (:mod:`cnnlab.train.profiling`); default none.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        *,
        loss: LossFunction | None = None,
        metrics: dict[str, MetricFunction] | list[MetricFunction] | None = None,
        callbacks: list[Callback] | None = None,
        augment: Augment | None = None,
        input_spec: InputSpec | None = None,
        classes: list[str] | None = None,
        data_format: str = "channels_first",
        device: str = "auto",
        verbose: int = 1,
        sync_every: int = 25,
        eval_batch_size: int = 512,
        eval_precision: str | None = None,
        profiler: Profiler | None = None,
        **settings,
    ) -> None:
        settings, self.factories = Factories.split(settings)
        self.config = (config or TrainConfig()).updated(**settings)
        if verbose not in (0, 1, 2):
            raise CnnlabError(f"verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
        self.sync_every = _positive("sync_every", sync_every)
        self.eval_batch_size = _positive("eval_batch_size", eval_batch_size)
        self.profiler = profiler or Profiler()
        self.data_format = check_data_format(data_format)
        cfg = self.config
        self.device = auto_device(device)
        self.world: World = init_world(self.device.type)
        if self.world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        self.model = model.to(self.device)
        self.execution = resolve_execution(
            self.model, self.device, cfg.precision, cfg.channels_last, cfg.amp, eval_precision
        )
        if self.execution.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.objective = Objective(loss, cfg.aux_weight, cfg.label_smoothing)
        self.metrics = user_metrics(metrics)
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
        self.num_train_samples = self.num_validation_samples = self.num_outputs = 0
        self.data_source: dict[str, object] = {}
        self.validation_data: Data | None = None
        self.validation_result: dict[str, object] | None = None
        self._train_state: MetricState | None = None
        self._synced_at, self._synced_time = -1, time.monotonic()

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        return self.update.optimizer if self.update else None

    @property
    def lr(self) -> float:
        return self.update.lr if self.update else self.config.lr

    def forward(self, net: nn.Module, inputs: torch.Tensor):
        """``net``'s output for model-ready ``inputs``, in the fit's memory format: the one
        forward of training, evaluation, prediction and the learning-rate range test."""
        if self.execution.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return net(inputs)

    def fit(
        self,
        x,
        y=None,
        validation_data=None,
        validation_split: float | None = None,
        *,
        split: str = "stratified",
    ) -> History:
        """Train for ``config.epochs`` epochs (or until a callback stops); returns the history.

        Two forms: ``fit(x, y, validation_data=(xv, yv))`` with inputs and targets apart, as
        Keras; or ``fit(train, validation)`` with data sets (:mod:`cnnlab.train.data` lists
        what is accepted: cnnlab and torch datasets, (inputs, targets), a DataLoader).

        Args:
            x: the training data, or its inputs.
            y: the targets when ``x`` holds only the inputs, else the validation data.
            validation_data: data evaluated after every epoch.
            validation_split: instead of validation data, hold out this fraction of ``x``.
            split: how to hold it out: ``stratified`` (each class's share kept; the default),
                ``random`` or ``last`` (the final samples, as Keras).
        """
        cfg = self.config
        seed_everything(cfg.seed, cfg.deterministic)
        train, validation = fit_data(
            x, y, validation_data, validation_split, split, cfg.seed, self.data_format
        )
        batches = self.batches_for(train)
        warn_missing_classes(train, validation, self.classes)
        with self.profiler.section("prepare"):
            self._validation = EvaluationBatches(validation, self._feed()) if validation else None
        self.num_train_samples = batches.num_samples
        self.num_validation_samples = self._validation.num_samples if validation else 0
        self.validation_data, self.validation_result = validation, None
        self._add_default_callbacks(has_validation=validation is not None)
        self.execution = mark_step_heap(self.execution)
        how = (self.execution, self.profiler.section, self.factories, self.monitor)
        self.update = Update.from_config(cfg, self.model.parameters(), len(batches), *how)
        net = self.model
        if self.world.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(self.model, device_ids=device_ids)
        self.stop_training = False
        try:
            self.callbacks.on_fit_start(self)  # a run recorder restores a resumed fit here
            while self.epoch < cfg.epochs and not self.stop_training:
                self._run_epoch(net, batches)
            if self._validation is not None:  # all processes: the counts are summed
                self.validation_result = self._evaluate(self._validation, self.task)
        except BaseException as error:
            self.callbacks.on_fit_error(self, error)
            raise
        self.callbacks.on_fit_end(self)
        return self.history

    def _set_model_and_data(self, data: Feedable, memory: bool = False) -> None:
        """The input spec, task and number of outputs, with the model checked against the
        data (task, classes, and with ``memory`` the memory of training) before any work."""
        x_first, y_first = first_batch(data, self.data_format)
        self.input_spec = self.input_spec or spec_for_data(self.model, x_first, y_first)
        self.task = target_task(y_first)
        if memory:
            held = len(data) if isinstance(data, Samples) else 0
            check_memory(self.model, self.input_spec, x_first, self.config, held)
        self.num_outputs = check_outputs(self.model, self.input_spec, x_first, y_first)
        if isinstance(data, Samples | DiskCache):
            self.classes = self.classes or (list(data.classes) if data.classes else None)

    def batches_for(self, train: Feedable) -> InMemoryLoader | LoaderBatches:
        """The batches of ``train`` (the model checked against it first), the training loss
        weighted as ``class_weight`` asks."""
        self._set_model_and_data(train, memory=True)
        with self.profiler.section("prepare"):
            batches, self.data_source = training_batches(train, self._feed(), self.classes)
        self.objective.weigh_classes(self.data_source.get("class_weight"), self.device)
        return batches

    def lr_find(self, x, y=None, **options) -> LRFind:
        """The learning-rate range test on training data ``x`` (and targets ``y``), all state
        restored after; ``options`` as :func:`cnnlab.train.lr_range.range_test`'s."""
        return range_test(self, x, y, **options)

    def _feed(self) -> Feed:
        where = (self.device, self.num_outputs, self.world, self.eval_batch_size, self.config)
        whole = self.augment is not None and not takes_share(self.augment)
        return Feed(self.input_spec, self.data_format, *where, whole_batches=whole)

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

    def _run_epoch(self, net: nn.Module, loader: InMemoryLoader | LoaderBatches) -> None:
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
            batch = self.step_in_epoch
            self.callbacks.on_train_batch_begin(self, batch)
            (inputs, targets), n_global = self._share(loader, item, batch)
            state = self._train_step(net, inputs, targets, n_global, state)
            self._train_state = state
            with section("callbacks"):
                due = self.step_in_epoch % self.sync_every == 0 or self.global_step == 1
                if due or time.monotonic() - self._synced_time >= SYNC_SECONDS:
                    self._sync(state)
                self.callbacks.on_train_batch_end(self, batch)
        self._sync(state)
        row: dict[str, float] = {"epoch": self.epoch + 1}
        row.update(scalar_metrics(self._reduced(state).result()))
        if self._validation is not None:
            with section("validation"):
                val_result = self._evaluate(self._validation, self.task)
            row.update({f"val_{k}": v for k, v in scalar_metrics(val_result).items()})
        row["lr"] = self.lr
        row["time"] = time.perf_counter() - started
        self.update.end_epoch(row, self.monitor)  # plateau: the next epoch's rate
        self.epoch += 1
        self.step_in_epoch = 0
        self._train_state = None
        self.callbacks.on_epoch_end(self, row)

    def _share(self, loader, item: Batch, batch: int) -> tuple[Batch, int]:
        """This process's share of global batch ``batch`` (``item``: the loader's whole batch,
        or with ``world_size`` > 1 only the share), augmented, and the global batch size."""
        distributed, (inputs, targets) = self.world.distributed, item
        n_global = loader.global_batch_size(batch) if distributed else len(targets)
        share = BatchShare(n_global, self.world.share(n_global))
        whole = not distributed or loader.world_size == 1
        if self.augment is None:
            return (inputs[share.part], targets[share.part]) if whole else item, n_global
        with self.profiler.section("augment"):
            generator = step_generator(self.config.seed, self.epoch, batch)
            return augment_share(self.augment, inputs, targets, generator, share, whole), n_global

    def _train_step(self, net, inputs, targets, n_global: int, state: MetricState | None):
        """One update on this process's share (``n_global`` samples in all scale its loss);
        returns the running metric state."""
        cfg = self.config
        section = self.profiler.section
        with section("forward"), self.execution.autocast(self.device):
            output = self.forward(net, inputs)
        with section("loss"):
            output = float_output(output)  # the loss and metrics see float32 logits
            loss = self.objective(output, targets)
            scale = len(targets) * self.world.size / n_global
            scaled = loss * scale if scale != 1.0 else loss
        self.update(scaled)
        with section("metrics"):
            logits = main_output(output).detach()
            if state is None:
                state = MetricState(logits.shape[1], self.task, cfg.top_k, self.metrics)
                state = state.to(self.device)
            state.update(loss.detach(), logits.float(), match_target(logits, targets))
        self.step_in_epoch += 1
        self.global_step += 1
        return state

    def _sync(self, state: MetricState | None) -> None:
        """Read the running loss (one host sync) and let callbacks see it."""
        if state is None or self._synced_at == self.global_step or int(state.count) == 0:
            return
        self._synced_at, self._synced_time = self.global_step, time.monotonic()
        self.callbacks.on_sync(self, float(state.loss_sum) / int(state.count))

    def _reduced(self, state: MetricState) -> MetricState:
        """The state summed over all processes (a copy; the local state is unchanged)."""
        total = MetricState(state.num_classes, state.task, self.config.top_k, self.metrics)
        total.load_state_dict(state.state_dict())
        all_reduce_sum(list(total.state_dict().values()), self.world)
        return total

    def _evaluate(self, batches, task: str, precision: str | None = None) -> Evaluation:
        """Loss and metrics over ``batches`` of model-ready (inputs, targets), summed over
        all processes, in ``precision`` (default: ``eval_precision``)."""
        return evaluate_batches(self, batches, task, chosen_precision(self, precision))

    def evaluate(self, x, y=None, *, precision: str | None = None) -> Evaluation:
        """Loss and metrics (with per-class values and the confusion matrix) on ``x`` (any
        data :meth:`fit` takes), or on inputs ``x`` and targets ``y``; ``precision`` (auto,
        fp32, bf16) overrides ``eval_precision`` and is named in the result."""
        data = read((x, y) if y is not None else x, self.data_format, "evaluation data")
        fitted = (self.input_spec, self.task, self.classes)
        precision = chosen_precision(self, precision)  # refused before any work
        self._set_model_and_data(data)
        result = self._evaluate(EvaluationBatches(data, self._feed()), self.task, precision)
        if fitted[0] is not None:  # evaluating other data does not change what fit set
            self.input_spec, self.task, self.classes = fitted
        return result

    def predict(self, x, *, precision: str | None = None) -> Prediction:
        """Class probabilities (softmax) and classes for inputs ``x``: an array or tensor of
        samples (uint8 images, float images, token ids), a data set, or a DataLoader;
        ``precision`` (auto, fp32, bf16) overrides ``eval_precision``."""
        return predict_samples(self, x, chosen_precision(self, precision))

    def position(self) -> dict[str, int]:
        """Where the fit is: completed epochs, steps into the current epoch, steps in all."""
        return {"epoch": self.epoch, "step": self.step_in_epoch, "global_step": self.global_step}

    def state_dict(self) -> TrainingState:
        """Everything needed to continue this fit exactly (:func:`cnnlab.train.state.capture`).
        Under ``torchrun`` every process calls it together: the partial epoch's metric counts
        are summed over them."""
        return capture(self)

    def load_state_dict(self, state: TrainingState, source: str = "the saved state") -> None:
        """Continue from what :meth:`state_dict` returned (call it once the optimizer exists:
        from a callback's ``on_fit_start``). ``source`` names the state in error messages."""
        restore(self, state, source)
