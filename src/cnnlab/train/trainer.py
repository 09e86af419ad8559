"""The training loop: the notes' steps (forward, error, backpropagation, update, repeat, then
evaluate on unseen data) with checkpoints that resume exactly and data-parallel workers.

>>> trainer = Trainer(model, epochs=5, lr=1e-3, run_dir="runs/lenet")  # doctest: +SKIP
>>> train, val = load("mnist", "test[:8000]"), load("mnist", "test[8000:]")  # doctest: +SKIP
>>> history = trainer.fit(train, val)  # doctest: +SKIP
>>> trainer.evaluate(val)["accuracy"]  # doctest: +SKIP

Exact resume: batches come from an :class:`~cnnlab.data.InMemoryLoader` whose order depends
only on (seed, epoch); augmentations draw from a generator seeded by (seed, epoch, step); the
checkpoint holds weights, optimizer and schedule state, the partial epoch's metric counts, the
position in the epoch and every RNG state. Resuming replays nothing and skips nothing.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from cnnlab.data.dataset import Dataset
from cnnlab.data.loader import InMemoryLoader
from cnnlab.data.splits import validation_split as split_last
from cnnlab.errors import CnnlabError
from cnnlab.models.info import main_output
from cnnlab.train import checkpoint as ckpt
from cnnlab.train.augmentation import Augment, step_generator
from cnnlab.train.callbacks import BestCheckpoint, Callback, EarlyStopping, NanGuard
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import World, all_reduce_sum, init_world
from cnnlab.train.environment import auto_device, rng_state, seed_everything, set_rng_state
from cnnlab.train.execution import resolve_execution
from cnnlab.train.history import History
from cnnlab.train.inputs import InputSpec, spec_for
from cnnlab.train.metrics import MetricState, scalar_metrics
from cnnlab.train.objective import LossFunction, Objective, float_output, match_target
from cnnlab.train.optim import build_optimizer, build_schedule, current_lr
from cnnlab.train.progress import EpochProgress, epoch_line

Data = Dataset | tuple[torch.Tensor, torch.Tensor]


class Prediction(NamedTuple):
    """``probabilities`` N x K (x H x W) and ``classes`` N (x H x W): the argmax."""

    probabilities: torch.Tensor
    classes: torch.Tensor


def _raw_tensors(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = data.tensors() if isinstance(data, Dataset) else tuple(data)
    if len(tensors) != 2 or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise CnnlabError(
            "training data must be a cnnlab Dataset or (inputs, targets) tensors. "
            f"Received: {type(data).__name__} with {len(tensors)} parts"
        )
    inputs, targets = tensors
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise CnnlabError(
            f"inputs and targets must be non-empty and of equal length. Received: "
            f"{len(inputs)} inputs, {len(targets)} targets"
        )
    return inputs, targets


class Trainer:
    """Fit, evaluate and predict with one model.

    Args:
        model: any ``nn.Module`` returning logits N x K (classification) or N x K x H x W
            (segmentation), or a tuple whose first entry is the logits (auxiliary heads).
        config: a :class:`TrainConfig`; keyword ``settings`` override its fields.
        loss: per-head loss (default cross-entropy).
        callbacks: extra :class:`Callback` objects (a :class:`NanGuard` is always on).
        augment: ``augment(inputs, targets, generator)`` applied to each training batch.
        input_spec: how stored samples become inputs (default: from ``model.input_size``).
        run_dir: where the run is written (None: nothing is written).
        run_info: JSON-able facts saved with the run (model name and kwargs, dataset, ...).
        classes: class names for reports (default: from the dataset).
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
        run_dir: str | Path | None = None,
        run_info: dict | None = None,
        classes: list[str] | None = None,
        **settings,
    ) -> None:
        self.config = replace(config or TrainConfig(), **settings)
        cfg = self.config
        self.device = auto_device(cfg.device)
        self.world: World = init_world(self.device.type)
        if self.world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        seed_everything(cfg.seed, cfg.deterministic)
        self.model = model.to(self.device)
        self.execution = resolve_execution(
            self.model, self.device, cfg.precision, cfg.channels_last, cfg.amp
        )
        if self.execution.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.objective = Objective(loss, cfg.aux_weight, cfg.label_smoothing)
        fp16 = self.execution.precision == "fp16"
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.augment = augment
        self.input_spec = input_spec
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_info = dict(run_info or {})
        self.classes = list(classes) if classes else None
        self.callbacks: list[Callback] = [NanGuard(), *(callbacks or [])]
        self.history = History()
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.stop_training = False
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self._train_state: MetricState | None = None
        self._segmentation = False
        self._synced_at = -1
        self.monitor = self.config.monitor

    @property
    def lr(self) -> float:
        return current_lr(self.optimizer) if self.optimizer else self.config.lr

    @property
    def task(self) -> str:
        return "segmentation" if self._segmentation else "classification"

    def _writes(self) -> bool:
        return self.run_dir is not None and self.world.is_main

    def _prepare(self, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
        """Model-ready inputs and targets on the device (converted once, in chunks)."""
        inputs, targets = _raw_tensors(data)
        if self.input_spec is None:
            tokens = inputs.dtype == torch.int64 and inputs.ndim == 2
            kind = "tokens" if tokens else "image"
            self.input_spec = spec_for(self.model, kind, resize=targets.ndim == 1)
        if self.classes is None and isinstance(data, Dataset):
            self.classes = list(data.classes)
        self._segmentation = targets.ndim == 3
        if self.input_spec.resizes(inputs):  # resampling in chunks bounds its scratch memory
            prepared = torch.cat([self.input_spec.apply(part) for part in inputs.split(4096)])
        else:
            prepared = self.input_spec.apply(inputs)
        may_be_nonfinite = inputs.is_floating_point() or self.input_spec.std is not None
        if may_be_nonfinite and not bool(torch.isfinite(prepared).all()):
            bad = (~torch.isfinite(prepared)).flatten(1).any(1).nonzero().flatten()
            raise CnnlabError(
                f"the inputs hold NaN or Inf in {len(bad)} samples (first: index "
                f"{int(bad[0])}); clean or drop them before training"
            )
        return prepared.to(self.device), targets.to(self.device, torch.int64)

    def _forward(self, net: nn.Module, inputs: torch.Tensor):
        if self.execution.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return net(inputs)

    def fit(
        self,
        train: Data,
        validation: Data | None = None,
        validation_split: float | None = None,
        resume: bool = False,
    ) -> History:
        """Train for ``config.epochs`` epochs (or until a callback stops); returns the history.

        Args:
            train: a Dataset or (inputs, targets).
            validation: data evaluated after every epoch.
            validation_split: instead of ``validation``, the LAST fraction of ``train`` (Keras).
            resume: continue from ``run_dir/checkpoints/last.safetensors``.
        """
        cfg = self.config
        if validation is None and validation_split:
            train, validation = split_last(train, validation_split)
        x, y = self._prepare(train)
        val = self._prepare(validation) if validation is not None else None
        self._setup_callbacks(has_validation=val is not None)
        loader = InMemoryLoader(x, y, batch_size=cfg.batch_size, seed=cfg.seed)
        self.optimizer = build_optimizer(
            cfg.optimizer,
            self.model.parameters(),
            cfg.lr,
            cfg.weight_decay,
            cfg.momentum,
            fused=self.execution.fused_optimizer,
        )
        self.scheduler = build_schedule(
            cfg.schedule, self.optimizer, cfg.epochs, len(loader), cfg.step_epochs, cfg.gamma
        )
        if not (resume and self._restore()) and self._writes():
            self._write_config(len(x), len(val[0]) if val else 0)
        net = self.model
        if self.world.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(self.model, device_ids=device_ids)
        for callback in self.callbacks:
            callback.on_fit_start(self)
        started = time.perf_counter()
        self.stop_training = False
        while self.epoch < cfg.epochs and not self.stop_training:
            self._run_epoch(net, loader, val)
        for callback in self.callbacks:
            callback.on_fit_end(self)
        final = self._evaluate_prepared(*val) if val is not None else None  # all processes
        if self._writes():
            self._finish(validation, final, time.perf_counter() - started)
        return self.history

    def _setup_callbacks(self, has_validation: bool) -> None:
        cfg = self.config
        monitor = cfg.monitor if has_validation or not cfg.monitor.startswith("val_") else "loss"
        have = {type(c) for c in self.callbacks}
        if self.run_dir is not None and BestCheckpoint not in have:
            self.callbacks.append(BestCheckpoint(monitor))
        if cfg.early_stopping and EarlyStopping not in have:
            self.callbacks.append(EarlyStopping(monitor, patience=cfg.early_stopping))
        self.monitor = monitor

    def _run_epoch(self, net: nn.Module, loader: InMemoryLoader, val) -> None:
        cfg = self.config
        started = time.perf_counter()
        self.model.train()
        loader.set_epoch(self.epoch, skip=self.step_in_epoch)
        state = self._train_state
        done = min(self.step_in_epoch * cfg.batch_size, loader.num_samples)
        bar = EpochProgress(self.epoch, cfg.epochs, loader.num_samples, done, self._bar_on())
        for inputs, targets in loader:
            if self.augment is not None:
                generator = step_generator(cfg.seed, self.epoch, self.step_in_epoch)
                inputs, targets = self.augment(inputs, targets, generator)
            state = self._train_step(net, inputs, targets, state)
            self._train_state = state
            bar.update(len(targets))
            if self.step_in_epoch % cfg.sync_every == 0 or self.global_step == 1:
                self._sync(state, bar)
            if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                self._save_last()
        self._sync(state, bar)
        bar.close()
        train_result = self._reduced(state).result()
        row: dict[str, float] = {"epoch": self.epoch + 1, **scalar_metrics(train_result)}
        if val is not None:
            val_result = self._evaluate_prepared(*val)
            row.update({f"val_{k}": v for k, v in scalar_metrics(val_result).items()})
        row["lr"] = self.lr
        row["time"] = time.perf_counter() - started
        self.history.append(row)
        self.epoch += 1
        self.step_in_epoch = 0
        self._train_state = None
        for callback in self.callbacks:
            callback.on_epoch_end(self, row)
        self._save_last()
        if self._writes():
            self.history.to_csv(self.run_dir / "history.csv")
        if cfg.verbose and self.world.is_main:
            tqdm.write(epoch_line(row, cfg.epochs, loader.num_samples))

    def _bar_on(self) -> bool:
        return self.config.verbose == 1 and self.world.is_main

    def _train_step(self, net, inputs, targets, state: MetricState | None) -> MetricState:
        cfg = self.config
        n_global = len(targets)
        if self.world.distributed:
            part = self.world.share(n_global)
            inputs, targets = inputs[part], targets[part]
        with self.execution.autocast(self.device):
            output = self._forward(net, inputs)
        output = float_output(output)  # the loss and metrics see float32 logits
        loss = self.objective(output, targets)
        scale = len(targets) * self.world.size / n_global
        scaled = loss * scale if scale != 1.0 else loss
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(scaled).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            scaled.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        logits = main_output(output).detach()
        if state is None:
            state = MetricState(logits.shape[1], self.task, cfg.top_k).to(self.device)
        state.update(loss.detach(), logits.float(), match_target(logits, targets))
        self.step_in_epoch += 1
        self.global_step += 1
        return state

    def _sync(self, state: MetricState | None, bar: EpochProgress) -> None:
        """Read the running loss (one host sync) and let callbacks see it."""
        if state is None or self._synced_at == self.global_step or int(state.count) == 0:
            return
        self._synced_at = self.global_step
        loss = float(state.loss_sum) / int(state.count)
        bar.show_loss(loss)
        for callback in self.callbacks:
            callback.on_sync(self, loss)

    def _reduced(self, state: MetricState) -> MetricState:
        """The state summed over all processes (a copy; the local state is unchanged)."""
        total = MetricState(state.num_classes, state.task, self.config.top_k)
        total.load_state_dict(state.state_dict())
        all_reduce_sum(list(total.state_dict().values()), self.world)
        return total

    @torch.inference_mode()
    def _evaluate_prepared(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, object]:
        self.model.eval()
        part = self.world.share(len(x))
        state: MetricState | None = None
        for inputs, targets in zip(
            x[part].split(self.config.eval_batch_size),
            y[part].split(self.config.eval_batch_size),
            strict=True,
        ):
            output = self._forward(self.model, inputs)
            logits = main_output(output).float()
            if state is None:
                state = MetricState(logits.shape[1], self.task, self.config.top_k)
                state.to(self.device)
            target = match_target(logits, targets)
            state.update(self.objective.loss(logits, target), logits, target)
        if state is None:
            with torch.no_grad():
                probe = main_output(self._forward(self.model, x[:1]))
            state = MetricState(probe.shape[1], self.task, self.config.top_k).to(self.device)
        return self._reduced(state).result()

    def evaluate(self, data: Data) -> dict[str, object]:
        """Loss and metrics (with per-class values and the confusion matrix) on ``data``."""
        return self._evaluate_prepared(*self._prepare(data))

    @torch.inference_mode()
    def predict(self, inputs: torch.Tensor | Dataset) -> Prediction:
        """Class probabilities (softmax) and classes for stored samples (uint8 images or
        token ids), or for a Dataset."""
        if isinstance(inputs, Dataset):
            x, _ = self._prepare(inputs)
        else:
            if self.input_spec is None:
                kind = "tokens" if inputs.dtype == torch.int64 and inputs.ndim == 2 else "image"
                self.input_spec = spec_for(self.model, kind)
            x = self.input_spec.apply(inputs).to(self.device)
        self.model.eval()
        batches = [
            torch.softmax(main_output(self._forward(self.model, part)).float(), dim=1)
            for part in x.split(self.config.eval_batch_size)
        ]
        probabilities = torch.cat(batches).cpu()
        return Prediction(probabilities, probabilities.argmax(1))

    # --- the run directory -------------------------------------------------------------------

    def _checkpoint_meta(self) -> dict:
        return {
            "run": self.run_info,
            "task": self.task,
            "classes": self.classes,
            "input_spec": self.input_spec.to_json() if self.input_spec else None,
            "epoch": self.epoch,
            "step": self.step_in_epoch,
            "global_step": self.global_step,
        }

    def _save_last(self) -> None:
        """Checkpoint everything needed to resume (all processes join the metric reduction;
        the main one writes)."""
        state = self._reduced(self._train_state) if self._train_state is not None else None
        if not self._writes():
            return
        tensors = ckpt.prefixed("model.", self.model.state_dict())
        optim_tensors, optim_meta = ckpt.optimizer_to_checkpoint(self.optimizer)
        tensors.update(optim_tensors)
        if state is not None:
            tensors.update(ckpt.prefixed("metrics.", state.state_dict()))
        rng_tensors, rng_values = rng_state()
        tensors.update(rng_tensors)
        meta = self._checkpoint_meta() | {
            "config": self.config.to_json(),
            "optimizer": optim_meta,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rng_values,
            "callbacks": {key: c.state_dict() for key, c in self._keyed_callbacks()},
            "history": self.history.rows,
        }
        ckpt.save_checkpoint(self.run_dir / "checkpoints" / "last.safetensors", tensors, meta)

    def _keyed_callbacks(self) -> list[tuple[str, Callback]]:
        """Callbacks keyed ``ClassName:n`` (n-th of its class), so a resumed fit matches
        states to callbacks even when the list differs."""
        seen: dict[str, int] = {}
        keyed = []
        for callback in self.callbacks:
            name = type(callback).__name__
            seen[name] = seen.get(name, 0) + 1
            keyed.append((f"{name}:{seen[name]}", callback))
        return keyed

    def save_best(self, monitor: str, value: float) -> None:
        """Write the current weights as ``checkpoints/best.safetensors``."""
        if not self._writes():
            return
        meta = self._checkpoint_meta() | {"monitor": monitor, "value": value}
        tensors = ckpt.prefixed("model.", self.model.state_dict())
        ckpt.save_checkpoint(self.run_dir / "checkpoints" / "best.safetensors", tensors, meta)

    def _restore(self) -> bool:
        """Load the last checkpoint; False when the run never reached one."""
        from cnnlab.files import remove_stale_temporaries

        if self.run_dir is None:
            raise CnnlabError("resume needs a run directory (run_dir=...)")
        if self.world.is_main:
            remove_stale_temporaries(self.run_dir)
        path = self.run_dir / "checkpoints" / "last.safetensors"
        if not path.exists():
            if (self.run_dir / "config.json").exists():
                return False  # stopped before its first checkpoint: start it over
            raise CnnlabError(f"nothing to resume: {path} does not exist")
        tensors, meta = ckpt.load_checkpoint(path)
        ckpt.load_weights(self.model, ckpt.unprefixed("model.", tensors), str(path))
        ckpt.optimizer_from_checkpoint(self.optimizer, tensors, meta["optimizer"])
        if self.scheduler is not None and meta["scheduler"] is not None:
            self.scheduler.load_state_dict(meta["scheduler"])
        if self.scaler is not None and meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        metric_tensors = ckpt.unprefixed("metrics.", tensors)
        if metric_tensors:
            k = metric_tensors["matrix"].shape[0]
            state = MetricState(k, meta["task"], self.config.top_k).to(self.device)
            if self.world.is_main:
                state.load_state_dict({n: t.to(self.device) for n, t in metric_tensors.items()})
            self._train_state = state
        saved = meta["callbacks"]
        for key, callback in self._keyed_callbacks():
            if key in saved:
                callback.load_state_dict(saved[key])
        self.history = History(meta["history"])
        self.epoch, self.step_in_epoch = meta["epoch"], meta["step"]
        self.global_step = meta["global_step"]
        set_rng_state(tensors, meta["rng"])
        return True

    def _write_config(self, n_train: int, n_val: int) -> None:
        from cnnlab.runs.layout import write_config

        write_config(
            self.run_dir,
            run=self.run_info,
            train=self.config.to_json(),
            task=self.task,
            classes=self.classes,
            input_spec=self.input_spec.to_json(),
            samples={"train": n_train, "validation": n_val},
            execution=self.execution.to_json(),
        )

    def _finish(self, validation: Data | None, final: dict | None, seconds: float) -> None:
        from cnnlab.runs.outputs import write_outputs

        prediction = self.predict(validation) if isinstance(validation, Dataset) else None
        write_outputs(
            self.run_dir,
            history=self.history,
            validation=final,
            monitor=self.monitor,
            seconds=seconds,
            classes=self.classes,
            validation_data=validation,
            prediction=prediction,
            model=self.model,
            input_size=self._diagram_input(),
        )

    def _diagram_input(self) -> tuple[int, ...] | None:
        spec = self.input_spec
        if spec is not None and spec.kind == "image" and spec.size is not None:
            return (spec.channels, *spec.size)
        return None


def fit(model: nn.Module, train: Data, validation: Data | None = None, **settings) -> History:
    """Keras-style one call: ``Trainer(model, **settings).fit(train, validation)``."""
    resume = settings.pop("resume", False)
    validation_split = settings.pop("validation_split", None)
    trainer = Trainer(model, **settings)
    return trainer.fit(train, validation, validation_split=validation_split, resume=resume)
