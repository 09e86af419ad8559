"""InMemoryLoader: coverage, determinism, resume; make_loader's DataLoader path."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from cnnlab.data import InMemoryLoader, load, make_loader
from cnnlab.errors import CnnlabError


def _epoch(loader) -> list[torch.Tensor]:
    return [batch[-1] for batch in loader]


@pytest.mark.parametrize(
    ("n", "batch", "drop_last"), [(103, 10, False), (103, 10, True), (7, 8, False)]
)
def test_every_sample_once_per_epoch(n, batch, drop_last):
    x, y = torch.randn(n, 1, 2, 2), torch.arange(n)
    loader = InMemoryLoader(x, y, batch_size=batch, seed=3, drop_last=drop_last)
    batches = _epoch(loader)
    assert len(batches) == len(loader)
    seen = torch.cat(batches)
    if drop_last:
        assert len(seen) == (n // batch) * batch and len(set(seen.tolist())) == len(seen)
    else:
        assert sorted(seen.tolist()) == list(range(n))
    first = next(iter(InMemoryLoader(x, y, batch_size=batch, seed=3)))
    assert torch.equal(first[0], x[first[1]])  # inputs and targets stay paired


def test_same_seed_same_batches_new_epoch_new_order():
    y = torch.arange(50)
    a, b = (InMemoryLoader(y, batch_size=8, seed=7) for _ in range(2))
    epoch0_a, epoch0_b = torch.cat(_epoch(a)), torch.cat(_epoch(b))
    assert torch.equal(epoch0_a, epoch0_b)
    assert not torch.equal(torch.cat(_epoch(a)), epoch0_a)  # epoch 1 differs
    assert not torch.equal(torch.cat(_epoch(InMemoryLoader(y, batch_size=8, seed=8))), epoch0_a)


def test_set_epoch_and_skip_resume_exactly():
    y = torch.arange(40)
    reference = InMemoryLoader(y, batch_size=6, seed=1)
    _epoch(reference)
    full_epoch1 = _epoch(reference)
    resumed = InMemoryLoader(y, batch_size=6, seed=1)
    resumed.set_epoch(1, skip=3)
    rest = _epoch(resumed)
    assert len(rest) == len(full_epoch1) - 3
    assert all(torch.equal(p, q) for p, q in zip(rest, full_epoch1[3:], strict=True))
    assert resumed.epoch == 2 and len(_epoch(resumed)) == len(resumed)  # skip used once


def test_no_shuffle_keeps_order_and_bad_arguments():
    assert torch.cat(
        _epoch(InMemoryLoader(torch.arange(9), batch_size=4, shuffle=False))
    ).tolist() == list(range(9))
    with pytest.raises(CnnlabError, match="batch_size must be >= 1"):
        InMemoryLoader(torch.arange(3), batch_size=0)
    with pytest.raises(CnnlabError, match="same length"):
        InMemoryLoader(torch.arange(3), torch.arange(4), batch_size=2)


def test_make_loader_switch():
    data = load("synthetic", "train", train_size=64)
    fast = make_loader(data, batch_size=16, seed=0)
    assert isinstance(fast, InMemoryLoader) and len(fast) == 4
    images, labels = next(iter(fast))
    assert images.shape == (16, 1, 32, 32) and labels.shape == (16,)
    slow = make_loader(data, batch_size=16, seed=0, in_memory=False)
    assert isinstance(slow, DataLoader)
    assert sorted(torch.cat([b[1] for b in slow]).tolist()) == sorted(data.labels.tolist())


def test_global_batch_size_counts_from_the_epoch_start():
    loader = InMemoryLoader(torch.zeros(10, 1), torch.arange(10), batch_size=4)
    assert [loader.global_batch_size(b) for b in range(len(loader))] == [4, 4, 2]
    dropped = InMemoryLoader(torch.zeros(10, 1), torch.arange(10), batch_size=4, drop_last=True)
    assert [dropped.global_batch_size(b) for b in range(len(dropped))] == [4, 4]
    assert loader.world_size == 1  # in memory: every process gets the whole batch
    with pytest.raises(CnnlabError, match="batch b"):
        dropped.global_batch_size(2)
