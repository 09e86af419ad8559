"""Batching tensors that fit in memory, without per-sample Python work.

:class:`InMemoryLoader` keeps the tensors on the target device and, each epoch, draws ONE
permutation (``torch.randperm`` with a generator seeded from ``(seed, epoch)``) and cuts it into
batches taken with ``index_select``. The same seed and epoch give the same batches on every run,
which makes resuming exact: ``set_epoch(e, skip=k)`` continues epoch ``e`` after ``k`` batches.
:func:`make_loader` switches to ``torch.utils.data.DataLoader`` for data that is not in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from cnnlab.data.dataset import Dataset
from cnnlab.errors import CnnlabError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator seeded from the pair ``(seed, epoch)`` (numpy ``SeedSequence`` mixes them,
    so neighbouring seeds or epochs do not give related streams)."""
    (state,) = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state))


def epoch_order(
    n: int, seed: int, epoch: int, shuffle: bool = True, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The sample order of ``epoch`` over ``n`` samples: a seeded permutation (seeded weighted
    draws with replacement with ``weights``), or 0..n-1 without shuffling. Every loader that
    must give the same batches for the same seed draws its order here."""
    if weights is not None:
        generator = epoch_generator(seed, epoch)
        return torch.multinomial(weights.cpu(), n, True, generator=generator)
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=epoch_generator(seed, epoch))


class EpochLoader:
    """What the loaders share: their length in batches and ``set_epoch``, the exact-resume
    hook (epoch ``e`` continued after its first ``k`` batches). A loader sets ``batch_size``,
    ``drop_last``, ``epoch`` and ``_skip``, and says how many samples it holds; with
    ``world_size`` above 1 each batch it yields is only one process's share."""

    batch_size: int
    drop_last: bool
    epoch: int
    _skip: int
    world_size: int = 1

    @property
    def num_samples(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def global_batch_size(self, b: int) -> int:
        """The samples of batch ``b`` of an epoch (counted from its start) over all processes:
        a process given only its share needs it to scale its loss and draw its augmentation."""
        if not 0 <= b < len(self):
            raise CnnlabError(f"batch b must be in 0..{len(self) - 1}. Received: b={b}")
        return min(self.batch_size, self.num_samples - b * self.batch_size)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Make the next iteration epoch ``epoch``, starting after its first ``skip`` batches."""
        if epoch < 0 or skip < 0:
            raise CnnlabError(f"epoch and skip must be >= 0. Received: epoch={epoch}, skip={skip}")
        self.epoch, self._skip = epoch, skip


class InMemoryLoader(EpochLoader):
    """Shuffled whole-tensor batches of ``tensors`` (all with the same first dimension).

    Args:
        *tensors: e.g. images N x C x H x W and labels N.
        batch_size: samples per batch.
        shuffle: a new permutation per epoch; else the stored order.
        seed: seeds the permutations.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        device: where the tensors are moved (once) and the batches are made.
        weights: instead of a permutation, draw N samples per epoch with replacement, sample
            i with probability weights[i] / sum(weights) (a balanced sampler), seeded alike.

    Iterating runs one epoch, then advances the epoch counter (``epoch`` starts at 0).

    >>> loader = InMemoryLoader(torch.zeros(10, 1, 4, 4), torch.arange(10), batch_size=4)
    >>> len(loader), [len(y) for _, y in loader]
    (3, [4, 4, 2])
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        device: str | torch.device | None = None,
        weights: torch.Tensor | None = None,
    ) -> None:
        if not tensors:
            raise CnnlabError("InMemoryLoader needs at least one tensor. Received: none")
        sizes = [len(t) for t in tensors]
        if len(set(sizes)) > 1:
            raise CnnlabError(f"all tensors must have the same length. Received: lengths={sizes}")
        if batch_size < 1:
            raise CnnlabError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
        self.device = torch.device(device) if device is not None else tensors[0].device
        self.tensors = tuple(t.to(self.device) for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        if weights is not None and len(weights) != sizes[0]:
            raise CnnlabError(
                f"weights must have one value per sample ({sizes[0]}). Received: {len(weights)}"
            )
        self.weights = weights
        self.epoch = 0
        self._skip = 0

    @property
    def num_samples(self) -> int:
        return len(self.tensors[0])

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (:func:`epoch_order`), on the loader's device."""
        return epoch_order(self.num_samples, self.seed, epoch, self.shuffle, self.weights).to(
            self.device
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self.order(self.epoch)
        skip, self._skip = self._skip, 0
        self.epoch += 1
        for b in range(skip, len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield tuple(t.index_select(0, index) for t in self.tensors)


def make_loader(
    data: Dataset | tuple[torch.Tensor, ...] | TorchDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    device: str | torch.device | None = None,
    in_memory: bool = True,
    num_workers: int = 0,
) -> InMemoryLoader | DataLoader:
    """An :class:`InMemoryLoader`, or a ``DataLoader`` when ``in_memory=False`` or ``data`` is a
    ``torch.utils.data.Dataset`` (data read sample by sample, e.g. from disk).

    With a ``DataLoader``, batches stay on the CPU (move them in the training loop; ``device``
    only turns on ``pin_memory`` for CUDA) and ``num_workers`` reader processes are used.
    """
    if isinstance(data, Dataset):
        data = data.tensors()
    if isinstance(data, tuple) and in_memory:
        return InMemoryLoader(
            *data,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            device=device,
        )
    source = TensorDataset(*data) if isinstance(data, tuple) else data
    pin = device is not None and torch.device(device).type == "cuda"
    return DataLoader(
        source,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=pin,
    )
