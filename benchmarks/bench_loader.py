"""Batches per second: cnnlab's InMemoryLoader vs DataLoader(TensorDataset), MNIST-shaped.

60,000 x 1 x 28 x 28 uint8 random images with int64 labels, batch 128, shuffle; one full epoch
per run, median of 3 runs. Run: ``.venv/bin/python benchmarks/bench_loader.py``.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from cnnlab.data import InMemoryLoader

N, BATCH, RUNS = 60_000, 128, 3


def batches_per_second(loader) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    return count / (time.perf_counter() - start)


def main() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (N,))
    ours = InMemoryLoader(images, labels, batch_size=BATCH, shuffle=True, seed=0)
    theirs = DataLoader(
        TensorDataset(images, labels),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    rows = []
    for name, loader in (("InMemoryLoader", ours), ("DataLoader(TensorDataset)", theirs)):
        rates = [batches_per_second(loader) for _ in range(RUNS)]
        rows.append((name, statistics.median(rates)))
    print(f"{N} x 1 x 28 x 28 uint8, batch {BATCH}, shuffle, median of {RUNS} epochs")
    for name, rate in rows:
        print(f"{name:<27} {rate:10.1f} batches/s")
    print(f"ratio {rows[0][1] / rows[1][1]:.1f}x")


if __name__ == "__main__":
    main()
