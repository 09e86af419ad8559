"""Training and evaluation batches of a disk cache (:mod:`cnnlab.data.disk_cache`), read from
disk as they are needed, prepared on the batch tensor as in-memory data are prepared once."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from cnnlab.data.disk_cache import DiskCache
from cnnlab.data.stream import StreamLoader
from cnnlab.train.batches import Batch, PreparedBatches
from cnnlab.train.distributed import World
from cnnlab.train.inputs import InputSpec

# reader processes of a streamed data set: one is enough, since a batch read with pread
# mostly waits on the disk; a second one costs the trainer's threads CPU on a small machine
STREAM_WORKERS = 1


def stream_preparer(spec: InputSpec, device: torch.device):
    """What each streamed uint8 batch goes through: ``spec.apply``, as in-memory data once."""

    def prepare(inputs: torch.Tensor, targets: torch.Tensor) -> Batch:
        return spec.apply(inputs).to(device), targets.to(device)

    return prepare


def streamed_batches(
    cache: DiskCache,
    spec: InputSpec,
    device: torch.device,
    batch_size: int,
    seed: int,
    draws: torch.Tensor | None,
    world: World,
) -> PreparedBatches:
    """The training batches of ``cache``: an :class:`InMemoryLoader`'s for the same seed.

    Each process reads only its share of every global batch (``world``; pass ``World()`` to
    read whole batches): the trainer asks the loader for the global batch size."""
    stream = StreamLoader(
        cache,
        batch_size,
        seed=seed,
        weights=draws,
        rank=world.rank,
        world_size=world.size,
        workers=STREAM_WORKERS,
    )
    return PreparedBatches(stream, stream_preparer(spec, device))


def cache_chunks(cache: DiskCache, part: slice, size: int, prepare) -> Iterator[Batch]:
    """The samples ``part`` of ``cache`` in file order, ``size`` at a time, prepared."""
    for start in range(part.start, part.stop, size):
        stop = min(start + size, part.stop)
        images = torch.from_numpy(cache.read(np.arange(start, stop)))
        yield prepare(images, torch.from_numpy(cache.labels[start:stop]))
