"""One registry of datasets and the :func:`load` entry point (TFDS ``tfds.load`` style).

A dataset module registers a builder with ``@register_dataset(INFO)``; the builder loads ONE
named split (``"train"``) into memory. :func:`load` parses the split string, calls the builder
once per split named in it, slices and joins the parts.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.dataset import Dataset, DatasetInfo, concat
from cnnlab.data.download import data_root
from cnnlab.data.splits import parse_split
from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry

Builder = Callable[..., Dataset]


@dataclass(frozen=True)
class Entry:
    info: DatasetInfo
    build: Builder


DATASETS: Registry[Entry] = Registry("dataset")


def register_dataset(info: DatasetInfo) -> Callable[[Builder], Builder]:
    """Register ``builder(split, root, download, mirror, **options) -> Dataset`` under
    ``info.name``; a second dataset with the same name is an error."""

    def decorate(builder: Builder) -> Builder:
        DATASETS.add(info.name, Entry(info, builder))
        return builder

    return decorate


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern``, sorted."""
    return DATASETS.names(pattern)


def dataset_info(name: str) -> DatasetInfo:
    """The metadata of dataset ``name``."""
    return DATASETS.get(name).info


def load(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirror: str | None = None,
    **options,
) -> Dataset:
    """Load ``split`` of dataset ``name`` into memory.

    Args:
        name: a registered name (``cnnlab datasets list``).
        split: a TFDS split string, e.g. ``"test[:8000]"`` or ``"train[10%:]+test"``
            (see :mod:`cnnlab.data.splits`).
        data_dir: the data directory; default ``$CNNLAB_DATA_DIR``, else ``~/.cache/cnnlab``.
        download: fetch missing files from the canonical source (or ``mirror``); when False a
            missing file is an error that says where to put it.
        mirror: base URL replacing the canonical one (default ``$CNNLAB_MIRROR``).
        **options: dataset-specific options (``size=`` for image-folder, ``length=`` for
            sms-spam, ...).

    Raises:
        CnnlabError: unknown name or split, bad option, or any download/verification failure.

    >>> test = load("mnist", "test[:8000]")  # doctest: +SKIP
    >>> test.images.shape, test.labels.shape  # doctest: +SKIP
    (torch.Size([8000, 1, 28, 28]), torch.Size([8000]))
    """
    entry = DATASETS.get(name)
    parts = parse_split(split, entry.info.splits)
    root = Path(data_root(data_dir))
    try:
        inspect.signature(entry.build).bind(split, root, download, mirror, **options)
    except TypeError as error:
        raise CnnlabError(
            f"dataset {entry.info.name!r} does not take these options ({error}). "
            f"Received: {options}"
        ) from error
    loaded: dict[str, Dataset] = {}
    pieces = []
    for part in parts:
        if part.name not in loaded:
            loaded[part.name] = entry.build(part.name, root, download, mirror, **options)
        whole = loaded[part.name]
        pieces.append(whole.subset(part.resolve(len(whole))))
    return concat(pieces, split)
