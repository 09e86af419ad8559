"""In memory or streamed: where a job's training images are read from.

An image folder whose decoded samples do not fit the memory budget is decoded once into a
disk cache (:func:`~cnnlab.data.build_cache`) and streamed from it; the batches, and so the
trained weights, are the same either way (:mod:`cnnlab.data.stream`). The budget: the job
trains in memory when the uint8 images and their float32 copy (5 bytes a value) take at
most :data:`MEMORY_SHARE` of the available memory. ``data_path`` ``in-memory`` or ``stream``
overrides the choice.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from cnnlab.data import Dataset, build_cache, load
from cnnlab.data.disk_cache import DiskCache, source_listing
from cnnlab.data.download import data_root
from cnnlab.data.folder import INFO, split_folder
from cnnlab.errors import CnnlabError
from cnnlab.shapes import parse_pair
from cnnlab.train.memory import available_bytes

DATA_PATHS = ("auto", "in-memory", "stream")
MEMORY_SHARE = 0.5  # of the available memory; the rest is the model's and the allocator's
BYTES_PER_VALUE = 5  # the uint8 decode and the prepared float32 copy


def cache_folder(path: Path, size: tuple[int, int], mode: str | None, data_dir: Path) -> Path:
    """The default cache of an image folder: under the data directory, one per source, size
    and mode."""
    key = hashlib.sha256(f"{path.resolve()}|{size}|{mode}".encode()).hexdigest()[:12]
    return data_dir / "caches" / f"{path.name}-{size[0]}x{size[1]}-{key}"


def streamed_training(job, data_dir: Path, progress: bool = True) -> DiskCache | None:
    """The disk cache ``job`` trains from (built or brought up to date first), or None when
    it trains in memory.

    Raises:
        CnnlabError: ``data_path="stream"`` for data that cannot stream (not an image folder
            with a size, a sliced split, or ``validation_split``).
    """
    if job.data_path not in DATA_PATHS:
        raise CnnlabError(f"data_path must be one of {DATA_PATHS}. Received: {job.data_path!r}")
    options, forced = job.dataset_options, job.data_path == "stream"
    reason = _why_not_streamable(job)
    if job.data_path == "in-memory" or (reason and not forced):
        return None
    if reason:
        raise CnnlabError(f"--stream cannot read this data: {reason}")
    size = parse_pair(options["size"], "size")
    source = split_folder(Path(options["path"]).expanduser(), job.train_split)
    if not forced:
        decoded = len(source_listing(source)[1]) * 3 * math.prod(size)  # RGB at most
        if decoded * BYTES_PER_VALUE <= MEMORY_SHARE * available_bytes():
            return None
    mode = options.get("mode")
    folder = Path(job.data_cache) if job.data_cache else cache_folder(source, size, mode, data_dir)
    return build_cache(source, folder, size, mode=mode, progress=progress)


def _why_not_streamable(job) -> str | None:
    if job.dataset != "image-folder" or "path" not in job.dataset_options:
        return "it streams an image folder (--dataset image-folder -o path=DIR)"
    if "size" not in job.dataset_options:
        return "a cache holds samples of one size; add -o size=HxW"
    if not re.fullmatch(r"[A-Za-z_]+", job.train_split):
        return f"a cache holds a whole split folder. Received: --train-split {job.train_split}"
    if job.validation_split:
        return "--validation-split holds out data in memory; use a validation/ folder instead"
    return None


def probe(cache: DiskCache, split: str) -> Dataset:
    """Two samples of ``cache`` as a data set: what the model and the input spec are decided
    from, without reading the rest."""
    info = replace(INFO, classes=cache.classes, shape=cache.shape, source=cache.source)
    images = torch.from_numpy(np.array(cache.images[:2]))
    return Dataset(info, split, images=images, labels=torch.from_numpy(cache.labels[:2]))


def job_data(
    job, data_dir: str | os.PathLike | None, download: bool, runtime: dict
) -> tuple[Dataset | DiskCache, Dataset | None, Dataset]:
    """The job's training data (in memory, or a disk cache it streams from), validation
    split (None when it has none), and a data set the model is built for. A cache is built
    with a progress bar when the fit shows one (``runtime``: the trainer's options)."""

    def split(name: str) -> Dataset:
        return load(job.dataset, name, data_dir, download, **job.dataset_options)

    validation = split(job.val_split) if job.val_split else None
    shows = runtime.get("verbose", 1) == 1
    cache = streamed_training(job, data_root(data_dir), shows)
    if cache is not None:
        return cache, validation, probe(cache, job.train_split)
    train = split(job.train_split)
    return train, validation, train
