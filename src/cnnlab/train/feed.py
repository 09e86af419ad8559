"""From the user's data to model-ready batches, with the model checked against the data
before any work: the step between the data sets and the loop.

:func:`fit_data` reads Keras' and cnnlab's call forms into
:class:`~cnnlab.train.data.Samples` (a ``DataLoader`` is kept as given); before any data is
prepared, :func:`check_memory` refuses a fit that cannot fit in memory and
:func:`check_outputs` runs the model on one sample to compare its output with the targets.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from cnnlab.data.disk_cache import DiskCache
from cnnlab.data.loader import InMemoryLoader
from cnnlab.errors import CnnlabError, CnnlabWarning
from cnnlab.models.info import main_output, model_info
from cnnlab.train.balance import balanced_sample_weights, class_weights
from cnnlab.train.batches import LoaderBatches, chunks
from cnnlab.train.config import TrainConfig
from cnnlab.train.data import (
    Samples,
    arrange,
    as_samples,
    is_loader,
    missing_classes,
    split_validation,
    target_task,
)
from cnnlab.train.distributed import World
from cnnlab.train.inputs import InputSpec, prepare_inputs
from cnnlab.train.memory import available_bytes, check_fits, estimate_training
from cnnlab.train.streamed import cache_chunks, stream_preparer, streamed_batches

Feedable = Samples | DataLoader | DiskCache
ROUGH_ACTIVATIONS = 4096  # bytes of activations per input byte, an upper bound for CNNs
HEADROOM = 0.8  # of the available memory; the allocator keeps some freed memory


def is_array(value: object) -> bool:
    return isinstance(value, torch.Tensor | np.ndarray)


def fit_arguments(x, y, validation_data):
    """``(train, validation)`` from ``fit(x, y, validation_data=...)`` (arrays apart, Keras)
    or ``fit(train, validation)`` (a data set, or (inputs, targets), then the validation)."""
    if is_array(x):
        if y is None:
            raise CnnlabError("fit(x) needs the targets too: fit(x, y) or fit((x, y))")
        return (x, y), validation_data
    if y is not None and validation_data is not None:
        raise CnnlabError(
            "validation data given twice: as the second argument and as validation_data"
        )
    return x, y if y is not None else validation_data


def fit_data(
    x, y, validation_data, validation_split: float | None, split: str, seed: int, data_format: str
) -> tuple[Feedable, Feedable | None]:
    """The training and validation data of a ``fit`` call, read (see :meth:`Trainer.fit`)."""
    train, validation = fit_arguments(x, y, validation_data)
    train = read(train, data_format, "training data")
    if validation is None and validation_split:
        if not isinstance(train, Samples):
            raise CnnlabError(
                "validation_split needs data held in memory, not a DataLoader or a disk "
                f"cache. Received: {type(train).__name__}; pass validation_data instead"
            )
        return split_validation(train, validation_split, split, seed)
    if validation is not None:
        validation = read(validation, data_format, "validation data")
    return train, validation


def read(data, data_format: str, role: str) -> Feedable:
    """``data`` as checked tensors, or the user's DataLoader as given."""
    if is_loader(data) or isinstance(data, Samples | DiskCache):
        return data
    return as_samples(data, data_format=data_format, role=role)


def first_batch(data: Feedable, data_format: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A few arranged samples of ``data``: what the spec and the checks are decided from."""
    if isinstance(data, Samples):
        return data.inputs[:2], data.targets[:2]
    if isinstance(data, DiskCache):
        first = np.arange(min(2, len(data)))
        return torch.from_numpy(data.read(first)), torch.from_numpy(data.labels[first])
    inputs, targets = LoaderBatches(data, prepare=None).first()
    samples = as_samples((inputs, targets), data_format=data_format, role="the DataLoader")
    return samples.inputs[:2], samples.targets[:2]


def loader_preparer(spec: InputSpec, data_format: str, device: torch.device, outputs: int):
    """What each batch of a user's DataLoader goes through: the checks and conversions that
    in-memory data get once, and class ids checked against the model's ``outputs``."""

    def prepare(inputs, targets):
        samples = as_samples((inputs, targets), data_format=data_format, role="the DataLoader")
        check_range(samples.targets, outputs)
        return spec.apply(samples.inputs).to(device), samples.targets.to(device)

    return prepare


def held_targets(data: Feedable) -> torch.Tensor | None:
    """The targets of data cnnlab holds (in memory, or a disk cache's labels), else None."""
    if isinstance(data, Samples):
        return data.targets
    if isinstance(data, DiskCache):
        return torch.from_numpy(data.labels)
    return None


def prepare_samples(
    samples: Samples, spec: InputSpec, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    return prepare_inputs(spec, samples.inputs).to(device), samples.targets.to(device)


def prediction_parts(
    data, data_format: str, size: int
) -> tuple[Iterator[torch.Tensor], torch.Tensor, torch.Tensor | None]:
    """The inputs of ``data`` in batches of about ``size``, the first batch's inputs, and its
    targets when the data has them (they decide the spec of a segmentation model).

    ``data``: an array or tensor of inputs, a data set (its targets are not used otherwise),
    or a DataLoader of inputs or (inputs, targets) batches.
    """
    if is_loader(data):
        loader_parts = (
            arrange(_as_tensor(b[0] if isinstance(b, tuple | list) else b), data_format, "predict")
            for b in data
        )
        first = next(loader_parts, None)
        if first is None:
            raise CnnlabError("predict: the DataLoader gave no batches")
        return itertools.chain([first], loader_parts), first, None
    if is_array(data):
        inputs, targets = arrange(_as_tensor(data), data_format, "predict"), None
    else:
        samples = as_samples(data, data_format=data_format, role="predict")
        inputs, targets = samples.inputs, samples.targets[:1]
    return iter(inputs.split(size)), inputs[:1], targets


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))


def check_outputs(
    model: nn.Module, spec: InputSpec, inputs: torch.Tensor, targets: torch.Tensor
) -> int:
    """The number of outputs (classes) of ``model``, after checking that its output fits
    ``targets``: class scores N x K for class ids, score maps N x K x H x W for masks. A zoo
    model's card says both; any other model runs on one sample (eval mode, no gradients: no
    random numbers drawn, no statistics updated).

    Raises:
        CnnlabError: one line naming the mismatch and the fix.
    """
    name = type(model).__name__
    info = model_info(model)
    if info.task is not None and info.num_classes is not None:  # a zoo model: no forward
        _check_task(name, 2 if info.task == "classification" else 4, target_task(targets))
        return info.num_classes
    device = next(iter(model.parameters()), inputs).device
    sample = spec.apply(inputs[:1]).to(device)
    mode = model.training
    try:
        with torch.no_grad():
            model.eval()
            logits = main_output(model(sample))
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        shape = "x".join(map(str, sample.shape))
        raise CnnlabError(f"{name} cannot run on the data's input {shape}: {reason}") from error
    finally:
        model.train(mode)
    _check_task(name, logits.ndim, target_task(targets))
    return int(logits.shape[1])


def _check_task(name: str, output_dims: int, task: str) -> None:
    """Class scores (N x K) for class ids, score maps (N x K x H x W) for masks."""
    if output_dims == 2 and task == "segmentation":
        raise CnnlabError(
            f"{name} gives class scores N x K but the targets are masks N x H x W; "
            "segmentation needs a model with N x K x H x W outputs (e.g. unet)"
        )
    if output_dims == 4 and task == "classification":
        raise CnnlabError(
            f"{name} gives score maps N x K x H x W (segmentation) but the targets are class "
            "ids N; pass masks N x H x W, or use a classification model"
        )
    if output_dims not in (2, 4):
        raise CnnlabError(
            f"{name} must return N x K class scores or N x K x H x W score maps. Received: "
            f"an output with {output_dims} dimensions"
        )


def check_memory(
    model: nn.Module, spec: InputSpec, inputs: torch.Tensor, config: TrainConfig, samples: int
) -> None:
    """Refuse, before any data is prepared, a fit whose memory cannot fit: the prepared data,
    the weights with their gradients and optimizer state, and one batch's activations.

    A rough bound decides first (activations at most :data:`ROUGH_ACTIVATIONS` bytes per
    input byte, far above the zoo's models); only when it does not fit are the activations
    measured exactly on the ``meta`` device (:func:`cnnlab.train.memory.estimate_training`).
    """
    shape = (spec.channels, *spec.size) if spec.kind == "image" and spec.size else inputs.shape[1:]
    dtype = torch.int64 if spec.kind == "tokens" else torch.float32
    per_sample = math.prod(shape) * dtype.itemsize
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    rough = samples * per_sample + 4 * weights + config.batch_size * per_sample * ROUGH_ACTIVATIONS
    available = available_bytes()
    if rough <= HEADROOM * available:
        return
    estimate = estimate_training(
        model,
        tuple(shape),
        config.batch_size,
        input_dtype=dtype,
        optimizer=config.optimizer,
        momentum=config.momentum,
        data_bytes=samples * per_sample,
    )
    check_fits(estimate, available, headroom=HEADROOM)


def check_range(targets: torch.Tensor, outputs: int) -> None:
    """Every class id below the model's number of outputs."""
    beyond = targets >= outputs
    if bool(beyond.any()):
        where = beyond.flatten(1).any(1) if beyond.ndim > 1 else beyond
        value = targets[beyond].flatten()[0].item()
        raise CnnlabError(
            f"class id {value} (sample {int(where.nonzero()[0])}) is out of range for a "
            f"model with {outputs} outputs; build it with num_classes={int(targets.max()) + 1}"
            ", or fix the targets"
        )


@dataclass(frozen=True)
class Feed:
    """How data reaches one model: the spec, the layout of arrays, the device, the model's
    number of outputs (to check class ids), the processes, the evaluation batch size, the
    settings (batch size, seed, sampler, class weights), and whether every process must read
    whole global batches (an augmentation that cannot augment a share alone)."""

    spec: InputSpec
    data_format: str
    device: torch.device
    outputs: int
    world: World
    eval_batch_size: int
    config: TrainConfig
    whole_batches: bool = False

    def preparer(self):
        return loader_preparer(self.spec, self.data_format, self.device, self.outputs)


def training_batches(
    data: Feedable, feed: Feed, classes: list[str] | None = None
) -> tuple[InMemoryLoader | LoaderBatches, dict[str, object]]:
    """The training batches (drawn balanced with ``sampler="balanced"``), and the run's
    record: where they came from, whether a resume replays them exactly, and the class
    weights (``class_weight``, :mod:`cnnlab.train.balance`; ``classes`` name them)."""
    config = feed.config
    balanced = config.sampler == "balanced"
    targets = held_targets(data)
    weights = class_weights(config.class_weight, targets, feed.outputs, classes)
    record = {"class_weight": weights.tolist()} if weights is not None else {}
    if targets is not None:
        check_range(targets, feed.outputs)
        draws = balanced_sample_weights(targets) if balanced else None
    if isinstance(data, Samples):
        x, y = prepare_samples(data, feed.spec, feed.device)
        loader = InMemoryLoader(x, y, batch_size=config.batch_size, seed=config.seed, weights=draws)
        return loader, {
            "train": data.source,
            "data_path": "in-memory",
            "exact_resume": True,
            **record,
        }
    if isinstance(data, DiskCache):
        world = World() if feed.whole_batches else feed.world
        batches = streamed_batches(
            data, feed.spec, feed.device, config.batch_size, config.seed, draws, world
        )
        source = f"stream from {data.folder}"
        return batches, {"train": source, "data_path": "stream", "exact_resume": True, **record}
    if balanced:
        raise CnnlabError(
            "sampler='balanced' draws from data cnnlab holds, not a DataLoader; give your "
            "DataLoader a torch.utils.data.WeightedRandomSampler instead"
        )
    if feed.world.distributed:
        raise CnnlabError(
            "under torchrun, pass a map-style torch Dataset or tensors (cnnlab shards them by "
            "rank), not a DataLoader"
        )
    source = f"DataLoader of {type(data.dataset).__name__}"
    return LoaderBatches(data, feed.preparer()), {"train": source, "exact_resume": False, **record}


class EvaluationBatches:
    """This process's share of evaluation batches, re-read at every pass."""

    def __init__(self, data: Feedable, feed: Feed) -> None:
        if isinstance(data, Samples):
            check_range(data.targets, feed.outputs)
            x, y = prepare_samples(data, feed.spec, feed.device)
            part = feed.world.share(len(x))
            self._batches = lambda: chunks(x[part], y[part], feed.eval_batch_size)
            self.num_samples = len(x)
        elif isinstance(data, DiskCache):
            check_range(torch.from_numpy(data.labels), feed.outputs)
            part, prepare = feed.world.share(len(data)), stream_preparer(feed.spec, feed.device)
            self._batches = lambda: cache_chunks(data, part, feed.eval_batch_size, prepare)
            self.num_samples = len(data)
        else:
            loader = LoaderBatches(data, feed.preparer())
            self._batches = lambda: iter(loader)
            self.num_samples = loader.num_samples

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self._batches()


def warn_missing_classes(
    train: Feedable, validation: Feedable | None, classes: list[str] | None
) -> None:
    """Warn when the validation data lacks classes that the training data has: their recall
    and F1 cannot be measured (a split of data sorted by class keeps one class only)."""
    if not isinstance(train, Samples) or not isinstance(validation, Samples):
        return
    if train.task != "classification":
        return
    absent = missing_classes(train.targets, validation.targets)
    if absent:
        names = [classes[c] if classes and c < len(classes) else str(c) for c in absent]
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        warnings.warn(
            CnnlabWarning(
                f"the validation data has no samples of {len(absent)} of the training "
                f"classes ({shown}); their recall cannot be measured"
            ),
            stacklevel=3,
        )
