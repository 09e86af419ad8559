"""What the trainer accepts as data, and how it becomes two tensors.

Accepted, as PyTorch and Keras users hold their data:

- a cnnlab :class:`~cnnlab.data.Dataset`;
- ``(x, y)`` as torch tensors or NumPy arrays (or ``x`` and ``y`` passed apart, as Keras'
  ``fit(x, y)``);
- a map-style ``torch.utils.data.Dataset`` whose items are ``(input, target)``: read once,
  item by item, into memory (inputs may be tensors, arrays or PIL images);
- a ``torch.utils.data.DataLoader``, used as given, batch by batch (see
  :mod:`cnnlab.train.batches`).

Inputs: images N x C x H x W (``data_format="channels_last"``: N x H x W x C; N x H x W gets
one channel), uint8 0..255 (scaled by 1/255 as the built-in data sets are) or floats (used as
given), or token ids N x L. Targets: class ids N (classification; exact one-hot rows become
ids) or masks N x H x W (segmentation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset
from torch.utils.data import Dataset as TorchDataset

from cnnlab.data.dataset import Dataset
from cnnlab.data.splits import seeded_split, stratified_split
from cnnlab.errors import CnnlabError

Data = Dataset | tuple | TorchDataset | DataLoader
DATA_FORMATS = ("channels_first", "channels_last")


@dataclass(frozen=True)
class Samples:
    """A data set as two tensors, with what is known of it.

    Args:
        inputs: images N x C x H x W (uint8 or float) or token ids N x L (int64).
        targets: class ids N or masks N x H x W (int64).
        classes: class names, when the data carries them.
        source: what the data was, for messages and the run record.
        texts: the raw texts of token ids (a cnnlab text data set), for reports.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    classes: tuple[str, ...] | None = None
    source: str = "tensors"
    texts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def task(self) -> str:
        return target_task(self.targets)


def input_kind(inputs: torch.Tensor) -> str:
    """``tokens`` for N x L integer ids, else ``image``."""
    return "tokens" if inputs.dtype == torch.int64 and inputs.ndim == 2 else "image"


def target_task(targets: torch.Tensor) -> str:
    """``segmentation`` for N x H x W masks, else ``classification``."""
    return "segmentation" if targets.ndim == 3 else "classification"


def check_data_format(data_format: str) -> str:
    if data_format not in DATA_FORMATS:
        raise CnnlabError(
            f"data_format must be channels_first or channels_last. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


def is_loader(data: object) -> bool:
    return isinstance(data, DataLoader)


def as_samples(
    data: Data, y=None, *, data_format: str = "channels_first", role: str = "training data"
) -> Samples:
    """``data`` (and ``y``, when the inputs and targets come apart) as checked tensors.

    Raises:
        CnnlabError: one line naming what is wrong and the fix: an unknown container, a
            length mismatch, a layout that looks channels-last, labels that are not ids.
    """
    check_data_format(data_format)
    if isinstance(data, Samples) and y is None:
        return data
    classes, source, texts = None, None, None
    if y is not None:
        x = data
    elif isinstance(data, Dataset):
        (x, y), classes, texts = data.tensors(), tuple(data.classes), data.texts
        source = f"cnnlab dataset {data.info.name} {data.split}"
    elif isinstance(data, tuple | list) and len(data) == 2:
        x, y = data
    elif isinstance(data, DataLoader):
        raise CnnlabError(f"{role}: a DataLoader is read batch by batch, not as tensors")
    elif isinstance(data, TorchDataset) and not isinstance(data, IterableDataset):
        x, y = _read_items(data, role)
        source = f"torch Dataset {type(data).__name__}"
    else:
        parts = f" with {len(data)} parts" if isinstance(data, tuple | list) else ""
        raise CnnlabError(
            f"{role} must be a cnnlab Dataset, (inputs, targets) as tensors or NumPy arrays, "
            f"a map-style torch Dataset of (input, target) items or a DataLoader. "
            f"Received: {type(data).__name__}{parts}"
        )
    inputs, targets = _tensor(x, "inputs", role), _tensor(y, "targets", role)
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise CnnlabError(
            f"{role}: inputs and targets must be non-empty and of equal length. Received: "
            f"{len(inputs)} inputs, {len(targets)} targets"
        )
    kind = source or ("NumPy arrays" if isinstance(x, np.ndarray) else "tensors")
    inputs, targets = arrange(inputs, data_format, role), class_ids(targets, role)
    return Samples(inputs, targets, classes, kind, texts)


def _tensor(value, name: str, role: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        example = array.flat[0] if array.size else None
        fix = (
            "; map names to ids, e.g. classes, y = np.unique(y, return_inverse=True)"
            if name == "targets"
            else ""
        )
        raise CnnlabError(
            f"{role}: {name} must be numbers. Received: dtype {array.dtype} "
            f"(first value {example!r}){fix}"
        )
    return torch.from_numpy(np.ascontiguousarray(array))


def arrange(inputs: torch.Tensor, data_format: str, role: str = "data") -> torch.Tensor:
    """Images as N x C x H x W (token ids as N x L int64), from the layouts users hold."""
    if inputs.dtype == torch.bool:
        inputs = inputs.to(torch.uint8)
    if not inputs.is_floating_point() and inputs.dtype != torch.uint8:
        if inputs.ndim == 2:
            return inputs.to(torch.int64)  # token ids
        inputs = inputs.to(torch.float32)
    if inputs.dtype == torch.float64:
        inputs = inputs.to(torch.float32)
    if inputs.ndim == 3:
        return inputs.unsqueeze(1)  # N x H x W: one channel
    if inputs.ndim != 4:
        raise CnnlabError(
            f"{role}: inputs must be images N x C x H x W (or N x H x W, or N x H x W x C with "
            f"data_format='channels_last') or token ids N x L. "
            f"Received: shape {tuple(inputs.shape)} of {inputs.dtype}"
        )
    if data_format == "channels_last":
        return inputs.permute(0, 3, 1, 2).contiguous()
    if inputs.shape[1] > 4 and inputs.shape[3] in (1, 3, 4):
        shape = "x".join(map(str, inputs.shape))
        raise CnnlabError(
            f"{role}: the inputs ({shape}) look channels-last (N x H x W x C); "
            "pass data_format='channels_last', or permute them to N x C x H x W"
        )
    return inputs


def class_ids(targets: torch.Tensor, role: str = "data") -> torch.Tensor:
    """Targets as int64 class ids (N) or masks (N x H x W), refused with the value at fault.

    Float ids with whole values are accepted; exact one-hot rows (N x K of 0 and 1, one 1 per
    row) become ids, as Keras' ``to_categorical`` undone.
    """
    if targets.dtype == torch.bool:
        targets = targets.to(torch.int64)
    if targets.is_floating_point():
        bad = ~torch.isfinite(targets)
        if bool(bad.any()):
            raise CnnlabError(
                f"{role}: targets hold {targets[bad].flatten()[0].item()} at sample "
                f"{_first(bad)}; every target must be a class id"
            )
        if targets.ndim == 2 and _one_hot(targets):
            return targets.argmax(1)
        if targets.ndim == 2:
            raise CnnlabError(
                f"{role}: targets of shape {tuple(targets.shape)} look like class "
                "probabilities, not one-hot rows; pass class ids instead (y.argmax(1))"
            )
        fractional = targets != targets.round()
        if bool(fractional.any()):
            raise CnnlabError(
                f"{role}: targets must be whole class ids. Received: "
                f"{targets[fractional].flatten()[0].item()} at sample {_first(fractional)}"
            )
    if targets.ndim not in (1, 3):
        raise CnnlabError(
            f"{role}: targets must be class ids N (classification) or masks N x H x W "
            f"(segmentation). Received: shape {tuple(targets.shape)}"
        )
    targets = targets.to(torch.int64)
    negative = targets < 0
    if bool(negative.any()):
        raise CnnlabError(
            f"{role}: class ids must be >= 0. Received: {targets[negative].flatten()[0].item()} "
            f"at sample {_first(negative)}"
        )
    return targets


def _first(mask: torch.Tensor) -> int:
    return int(mask.flatten(1).any(1).nonzero()[0]) if mask.ndim > 1 else int(mask.nonzero()[0])


def _one_hot(rows: torch.Tensor) -> bool:
    return bool(((rows == 0) | (rows == 1)).all() and (rows.sum(1) == 1).all())


def _read_items(dataset: TorchDataset, role: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``(input, target)`` item of a map-style dataset, stacked (PIL images become
    C x H x W arrays)."""
    try:
        count = len(dataset)
    except TypeError as error:
        raise CnnlabError(
            f"{role}: a torch Dataset without len() cannot be read into memory; "
            "wrap it in a DataLoader"
        ) from error
    inputs, targets = [], []
    for index in range(count):
        item = dataset[index]
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise CnnlabError(
                f"{role}: items of {type(dataset).__name__} must be (input, target) pairs. "
                f"Received: item {index} is {type(item).__name__}"
            )
        inputs.append(_item_array(item[0]))
        targets.append(torch.as_tensor(np.asarray(item[1])))
    shapes = {tuple(t.shape) for t in inputs}
    if len(shapes) > 1:
        first = tuple(inputs[0].shape)
        odd = next(i for i, t in enumerate(inputs) if tuple(t.shape) != first)
        raise CnnlabError(
            f"{role}: the items of {type(dataset).__name__} differ in shape (item 0: {first}, "
            f"item {odd}: {tuple(inputs[odd].shape)}); resize them to one size in the Dataset"
        )
    return torch.stack(inputs), torch.stack(targets)


def _item_array(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if hasattr(value, "getbands"):  # a PIL image: H x W (x C) -> C x H x W
        array = np.array(value)
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(array))
    return torch.from_numpy(np.ascontiguousarray(np.asarray(value)))


SPLIT_MODES = ("stratified", "random", "last")


def split_validation(
    samples: Samples, fraction: float, mode: str = "stratified", seed: int = 0
) -> tuple[Samples, Samples]:
    """Hold out ``fraction`` of ``samples`` for validation.

    ``stratified`` (classification; segmentation falls back to ``random``) keeps each class's
    share in both parts; ``random`` is a seeded shuffle; ``last`` takes the final samples as
    Keras' ``validation_split`` does (unrepresentative when the data are sorted by class).
    The same seed gives the same split on every machine.
    """
    if mode not in SPLIT_MODES:
        raise CnnlabError(
            f"split must be one of {', '.join(SPLIT_MODES)}. Received: split={mode!r}"
        )
    if not 0.0 < fraction < 1.0:
        raise CnnlabError(
            f"validation_split must be in (0, 1). Received: validation_split={fraction}"
        )
    n = len(samples)
    if mode == "last":
        cut = math.floor(n * (1.0 - fraction))
        kept, held = torch.arange(cut), torch.arange(cut, n)
    elif mode == "stratified" and samples.task == "classification":
        kept, held = stratified_split(samples.targets, fraction, seed)
    else:
        kept, held = seeded_split(n, fraction, seed)
    if len(kept) == 0 or len(held) == 0:
        raise CnnlabError(
            f"validation_split={fraction} of {n} samples leaves an empty part; "
            "use more data or another fraction"
        )
    return _subset(samples, kept), _subset(samples, held)


def _subset(samples: Samples, index: torch.Tensor) -> Samples:
    texts = [samples.texts[i] for i in index.tolist()] if samples.texts is not None else None
    return replace(
        samples,
        inputs=samples.inputs.index_select(0, index),
        targets=samples.targets.index_select(0, index),
        texts=texts,
    )


def missing_classes(train: torch.Tensor, validation: torch.Tensor) -> list[int]:
    """Class ids present in the training targets and absent from the validation targets."""
    have = set(torch.unique(validation).tolist())
    return [c for c in torch.unique(train).tolist() if c not in have]
