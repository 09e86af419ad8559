"""StreamLoader: the in-memory loader's batches, read from the disk cache."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cache_folders import make_folder
from cnnlab.data import InMemoryLoader, build_cache, load
from cnnlab.data.stream import BatchReader, StreamLoader
from cnnlab.errors import CnnlabError
from cnnlab.train import Trainer, seed_everything
from cnnlab.train.augmentation import flip_crop
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import World
from cnnlab.train.feed import Feed, training_batches
from cnnlab.train.inputs import InputSpec


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    return build_cache(
        make_folder(root / "src"), root / "cache", size=12, progress=False, workers=0
    )


def in_memory(cache, **options) -> InMemoryLoader:
    images, labels = torch.from_numpy(np.array(cache.images)), torch.from_numpy(cache.labels)
    return InMemoryLoader(images, labels, **options)


def assert_same(streamed, expected) -> None:
    streamed, expected = list(streamed), list(expected)
    assert len(streamed) == len(expected) > 0
    for (x, y), (xe, ye) in zip(streamed, expected, strict=True):
        assert x.dtype == torch.uint8 and torch.equal(x, xe) and torch.equal(y, ye)


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_are_the_in_memory_batches(cache, workers):
    options = {"batch_size": 16, "seed": 7}
    stream = StreamLoader(cache, workers=workers, **options)
    memory = in_memory(cache, **options)
    assert len(stream) == len(memory) == 6 and stream.num_samples == 90
    for _ in range(2):  # epochs 0 and 1: persistent workers serve both
        assert_same(stream, memory)
    stream.set_epoch(5, skip=2)
    memory.set_epoch(5, skip=2)
    assert_same(stream, memory)
    assert torch.equal(stream.order(3), memory.order(3))


@pytest.mark.parametrize(
    "options",
    [
        {"shuffle": False},
        {"drop_last": True},
        {"weights": torch.linspace(0.1, 1.0, 90)},
    ],
)
def test_every_order_option_matches(cache, options):
    stream = StreamLoader(cache, batch_size=20, seed=3, workers=0, **options)
    memory = in_memory(cache, batch_size=20, seed=3, **options)
    assert_same(stream, memory)


def test_reading_ahead_leaves_the_global_generator_alone(cache):
    """Dropout draws from it: an extra draw at a resumed epoch's start would shift it."""
    stream = StreamLoader(cache, batch_size=16, workers=2)
    before = torch.get_rng_state()
    assert len(list(stream)) == 6
    assert torch.equal(before, torch.get_rng_state())


def children(parent: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_readers_run_only_on_a_cpu_the_trainer_leaves_idle(cache):
    """A reader at a normal priority preempts the trainer's threads at each wake-up."""
    before = set(children(os.getpid()))
    stream = StreamLoader(cache, batch_size=16, workers=2)
    assert len(list(stream)) == 6  # each reader has served a batch: both have started
    readers = set(children(os.getpid())) - before  # persistent: alive until the loader goes
    assert len(readers) == 2
    assert {os.sched_getscheduler(pid) for pid in readers} == {os.SCHED_IDLE}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_skip_reads_none_of_the_skipped_batches(cache, monkeypatch):
    asked = []
    read = BatchReader.__getitem__
    monkeypatch.setattr(
        BatchReader, "__getitem__", lambda self, i: asked.append(i) or read(self, i)
    )
    stream = StreamLoader(cache, batch_size=16, workers=0)
    stream.set_epoch(1, skip=4)
    assert len(list(stream)) == 2
    assert asked == [(1, 4), (1, 5)]


def test_each_rank_reads_its_share_of_every_global_batch(cache):
    memory = list(in_memory(cache, batch_size=15, seed=1))
    ranks = [list(StreamLoader(cache, 15, seed=1, rank=r, world_size=2, workers=0)) for r in (0, 1)]
    for (x, y), first, second in zip(memory, *ranks, strict=True):
        assert len(first[1]) == 8 and len(second[1]) == 7  # World.share: 15 -> 8 + 7
        assert torch.equal(torch.cat([first[0], second[0]]), x)
        assert torch.equal(torch.cat([first[1], second[1]]), y)


@pytest.mark.parametrize("whole", [False, True])
def test_a_process_streams_its_share_unless_the_augmentation_needs_whole_batches(cache, whole):
    world = World(rank=1, size=2)
    config = TrainConfig(batch_size=15, seed=1)
    feed = Feed(InputSpec(channels=3), "channels_first", torch.device("cpu"), 3, world, 8, config)
    batches, _ = training_batches(cache, replace(feed, whole_batches=whole))
    memory = in_memory(cache, batch_size=15, seed=1)
    part = slice(None) if whole else world.share(15)
    assert batches.world_size == (1 if whole else 2)
    for b, ((x, y), (xe, ye)) in enumerate(zip(batches, memory, strict=True)):
        assert batches.global_batch_size(b) == len(ye)
        assert torch.equal(x, xe[part].float() / 255) and torch.equal(y, ye[part])


def test_bad_arguments_get_one_clear_line(cache):
    with pytest.raises(CnnlabError, match="Received: DiskCache; pass validation_data"):
        Trainer(Small(), epochs=1, verbose=0).fit(cache, validation_split=0.2)
    with pytest.raises(CnnlabError, match="rank must be in"):
        StreamLoader(cache, 8, rank=2, world_size=2)
    with pytest.raises(CnnlabError, match="batch_size must be >= 1"):
        StreamLoader(cache, 0)


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten()
        )
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.net(x))


def trained(train, validation) -> tuple[dict, Trainer]:
    seed_everything(0)
    settings = {"epochs": 2, "batch_size": 16, "seed": 0, "deterministic": True}
    trainer = Trainer(Small(), verbose=0, augment=flip_crop, **settings)
    trainer.fit(train, validation)
    return trainer.model.state_dict(), trainer


def test_streamed_and_in_memory_training_give_identical_weights(cache):
    """Augmented on the batch tensor, validated on the cache: the same run, bit for bit."""
    memory = load("image-folder", path=cache.source, size=12, download=False)
    streamed_weights, streamed = trained(cache, cache)
    memory_weights, in_memory = trained(memory, memory)
    for key, value in memory_weights.items():
        assert torch.equal(value, streamed_weights[key]), key
    assert streamed.validation_result == in_memory.validation_result
    assert streamed.data_source == {
        "train": f"stream from {cache.folder}",
        "data_path": "stream",
        "exact_resume": True,
    }
    assert in_memory.data_source["data_path"] == "in-memory"
    assert streamed.classes == list(cache.classes)
