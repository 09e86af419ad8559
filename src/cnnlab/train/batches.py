"""Batches as the trainer consumes them: model-ready, on the device.

Data that cnnlab holds (tensors, arrays, cnnlab and map-style torch datasets) is prepared
once and batched by :class:`~cnnlab.data.InMemoryLoader`, whose order depends only on
(seed, epoch): resuming mid-epoch is exact. A user's own ``DataLoader`` is used as given,
through :class:`LoaderBatches`: every batch is arranged, checked and prepared as in-memory
data would be. Its order is the loader's: resuming skips the batches the interrupted epoch
had trained (reading them again), and lands on the same samples only when the loader's
order is the same each time the epoch is read (a sampler seeded per epoch, or no shuffle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader

from cnnlab.errors import CnnlabError

Batch = tuple[torch.Tensor, torch.Tensor]


def batch_pair(batch, where: str = "the DataLoader") -> Batch:
    """The ``(inputs, targets)`` of one batch a DataLoader yields."""
    if isinstance(batch, tuple | list) and len(batch) == 2:
        return batch[0], batch[1]
    kind = f"{type(batch).__name__} of {len(batch)}" if isinstance(batch, tuple | list) else ""
    raise CnnlabError(
        f"batches of {where} must be (inputs, targets) pairs. "
        f"Received: {kind or type(batch).__name__}"
    )


class LoaderBatches:
    """A ``DataLoader``'s batches, each passed through ``prepare`` (arrange, check, scale,
    move to the device).

    Args:
        loader: the user's DataLoader.
        prepare: ``(inputs, targets) -> (inputs, targets)`` model-ready.
    """

    def __init__(self, loader: DataLoader, prepare: Callable[[torch.Tensor, torch.Tensor], Batch]):
        self.loader, self.prepare = loader, prepare
        self.epoch, self._skip = 0, 0

    def __len__(self) -> int:
        try:
            return len(self.loader)
        except TypeError as error:
            raise CnnlabError(
                "a DataLoader over an iterable dataset has no length; give the dataset "
                "__len__ so epochs, schedules and progress can be counted"
            ) from error

    @property
    def num_samples(self) -> int:
        try:
            return len(self.loader.dataset)
        except TypeError:
            return len(self) * (self.loader.batch_size or 1)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Make the next iteration epoch ``epoch``, after its first ``skip`` batches; a sampler
        with ``set_epoch`` (``DistributedSampler``, seeded samplers) is told the epoch."""
        self.epoch, self._skip = epoch, skip
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)

    def first(self) -> Batch:
        """The first batch, unprepared, read without moving any random number generator."""
        with torch.random.fork_rng(devices=[]):
            return batch_pair(next(iter(self.loader)))

    def __iter__(self) -> Iterator[Batch]:
        skip, self._skip = self._skip, 0
        self.epoch += 1
        for index, batch in enumerate(self.loader):
            if index >= skip:
                yield self.prepare(*batch_pair(batch))


def chunks(x: torch.Tensor, y: torch.Tensor, size: int) -> Iterator[Batch]:
    """``(x, y)`` in consecutive batches of ``size`` (evaluation order)."""
    return zip(x.split(size), y.split(size), strict=True)


class PreparedBatches:
    """A loader with :class:`~cnnlab.data.InMemoryLoader`'s interface (a
    :class:`~cnnlab.data.stream.StreamLoader`), each batch passed through ``prepare``: the
    uint8 -> float conversion that in-memory data get once, here on the batch tensor."""

    def __init__(self, loader, prepare: Callable[[torch.Tensor, torch.Tensor], Batch]) -> None:
        self.loader, self.prepare = loader, prepare

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_samples(self) -> int:
        return self.loader.num_samples

    @property
    def world_size(self) -> int:
        return self.loader.world_size

    def global_batch_size(self, b: int) -> int:
        return self.loader.global_batch_size(b)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.loader.set_epoch(epoch, skip)

    def __iter__(self) -> Iterator[Batch]:
        return (self.prepare(inputs, targets) for inputs, targets in self.loader)
