"""Batches streamed from a :mod:`~cnnlab.data.disk_cache`, exactly those of the in-memory path.

:class:`StreamLoader` has :class:`~cnnlab.data.loader.InMemoryLoader`'s interface and its
order (:func:`~cnnlab.data.loader.epoch_order`: one seeded permutation per (seed, epoch)), so
the same seed gives the same batches whether the data is in memory or on disk. Each batch is
read with :meth:`~cnnlab.data.disk_cache.SampleFile.read` (file order, no read-ahead) and put
back in permutation order. ``set_epoch(e, skip=k)`` starts at
batch ``k`` without reading batches ``0..k-1``: the order depends on (seed, epoch) only.

Worker processes read ahead: a ``DataLoader`` with ``batch_size=None`` over
:class:`BatchReader`, whose index is ``(epoch, batch)``; each worker draws the epoch's order
itself, so persistent workers serve every epoch. At most ``workers x prefetch`` batches are
in flight, which bounds the memory. With ``rank`` and ``world_size`` a process reads only its
:meth:`~cnnlab.train.distributed.World.share` of each global batch.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from cnnlab.data.disk_cache import DiskCache
from cnnlab.data.loader import EpochLoader, epoch_order
from cnnlab.data.workers import die_with_parent
from cnnlab.errors import CnnlabError


def share(n: int, rank: int, world_size: int) -> slice:
    """Process ``rank``'s contiguous part of a global batch of ``n`` samples: the first
    ``n % world_size`` processes take one more (``World.share`` is this)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


class BatchReader(TorchDataset):
    """Item ``(epoch, b)``: this rank's part of batch ``b`` of ``epoch``, read from the cache
    as ``(images uint8 n x C x H x W, labels n)``. Picklable: each process opens the file."""

    def __init__(self, loader: StreamLoader) -> None:
        self.file = loader.cache.file
        self.labels = loader.cache.labels
        self.batch_size = loader.batch_size
        self.rank, self.world_size = loader.rank, loader.world_size
        self.drawn = (loader.seed, loader.shuffle, loader.weights)
        self._epoch: tuple[int, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_epoch": None}

    def _order(self, epoch: int) -> np.ndarray:
        if self._epoch is None or self._epoch[0] != epoch:
            seed, shuffle, weights = self.drawn
            order = epoch_order(len(self.labels), seed, epoch, shuffle, weights)
            self._epoch = (epoch, order.numpy())
        return self._epoch[1]

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, b = item
        index = self._order(epoch)[b * self.batch_size : (b + 1) * self.batch_size]
        index = index[share(len(index), self.rank, self.world_size)]
        return torch.from_numpy(self.file.read(index)), torch.from_numpy(self.labels[index])


def reader_init(parent: int, worker_id: int) -> None:
    """A reader process ends with the trainer and runs only on a CPU the trainer leaves idle."""
    die_with_parent(parent, worker_id)
    yield_cpu()


def yield_cpu() -> None:
    """Schedule this process only when a CPU would otherwise idle (Linux ``SCHED_IDLE``; nice
    19 elsewhere). A reader waits on the disk most of the time; each wake-up at a normal
    priority, even nice 19, preempts one of the trainer's threads and holds up the parallel
    operation that thread is part of. An idle-class process never preempts."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # no such policy here (macOS), or refused
        os.nice(19)


class _EpochBatches(Sampler):
    """The ``(epoch, b)`` items of the epoch the loader is about to run."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class StreamLoader(EpochLoader):
    """Shuffled batches of a :class:`~cnnlab.data.disk_cache.DiskCache`, read from disk.

    Args:
        cache: from :func:`~cnnlab.data.disk_cache.open_cache`.
        batch_size, shuffle, seed, drop_last, weights: as :class:`InMemoryLoader`'s.
        rank, world_size: read only share ``rank`` of ``world_size`` of each global batch.
        workers: reader processes (0: read in this process).
        prefetch: batches each worker reads ahead.

    Iterating runs one epoch of ``(images uint8 N x C x H x W, labels N)`` CPU tensors, then
    advances the epoch counter.
    """

    def __init__(
        self,
        cache: DiskCache,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        weights: torch.Tensor | None = None,
        rank: int = 0,
        world_size: int = 1,
        workers: int = 2,
        prefetch: int = 2,
    ) -> None:
        if batch_size < 1:
            raise CnnlabError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
        if not 0 <= rank < world_size:
            raise CnnlabError(
                f"rank must be in 0..world_size-1. Received: rank={rank}, world_size={world_size}"
            )
        if workers < 0 or prefetch < 1:
            raise CnnlabError(
                f"workers must be >= 0 and prefetch >= 1. Received: workers={workers}, "
                f"prefetch={prefetch}"
            )
        if weights is not None and len(weights) != len(cache):
            raise CnnlabError(
                f"weights must have one value per sample ({len(cache)}). Received: {len(weights)}"
            )
        self.cache = cache
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last, self.weights = drop_last, weights
        self.rank, self.world_size = rank, world_size
        self.workers, self.prefetch = workers, prefetch
        self.epoch, self._skip = 0, 0
        self._batches = _EpochBatches()
        self._reader = BatchReader(self)
        self._loader: DataLoader | None = None

    @property
    def num_samples(self) -> int:
        return len(self.cache)

    @property
    def source(self) -> Path:
        return self.cache.folder

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch``, the same as an :class:`InMemoryLoader`'s."""
        return epoch_order(self.num_samples, self.seed, epoch, self.shuffle, self.weights)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        skip, self._skip = self._skip, 0
        epoch, self.epoch = self.epoch, self.epoch + 1
        self._batches.items = [(epoch, b) for b in range(skip, len(self))]
        if self.workers == 0:
            return (self._reader[item] for item in self._batches.items)
        if self._loader is None:
            self._loader = DataLoader(
                self._reader,
                batch_size=None,
                sampler=self._batches,
                num_workers=self.workers,
                prefetch_factor=self.prefetch,
                persistent_workers=True,
                worker_init_fn=functools.partial(reader_init, os.getpid()),
                # its own generator: the workers' seeds must not draw from the global one,
                # which the model's dropout uses (a resume would shift it)
                generator=torch.Generator(),
            )
        return iter(self._loader)
