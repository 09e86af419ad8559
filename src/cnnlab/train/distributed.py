"""Data-parallel training under ``torchrun`` (DistributedDataParallel).

Every process draws the SAME shuffled global batch (same seed) and trains on its own
contiguous share of it. Each share's mean loss is scaled by ``n_local * world / n_global``
before ``backward``; DDP averages gradients over the ``world`` processes, so the update is
exactly the gradient of the global batch's mean loss, as one process with that batch would
compute (up to float summation order), also for a smaller last batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cnnlab.data.stream import share


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def share(self, n: int) -> slice:
        """This process's contiguous part of a global batch of ``n`` samples."""
        return share(n, self.rank, self.size)


def init_world(device_type: str) -> World:
    """Join the process group ``torchrun`` describes (env ``WORLD_SIZE`` > 1); else one process.

    gloo on CPU, NCCL on CUDA (each process on ``cuda:LOCAL_RANK``).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local_rank)


def all_reduce_sum(tensors: list[torch.Tensor], world: World) -> None:
    """Sum ``tensors`` in place over all processes."""
    if world.distributed:
        for tensor in tensors:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def broadcast_object(value, world: World):
    """Rank 0's ``value`` on every process (e.g. the run directory it created)."""
    if not world.distributed:
        return value
    box = [value if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def leave_world() -> None:
    """Wait for every process, then tear the process group down. A process that exits with
    gloo's threads still running can abort ("terminate called without an active exception"),
    which fails the whole torchrun job; the barrier lets every rank finish its collectives
    before any of them destroys the group."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
