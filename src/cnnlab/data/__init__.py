"""Datasets the way TFDS and torchvision give them, without their weight.

>>> from cnnlab.data import load, make_loader, to_float
>>> test = load("mnist", "test[:8000]")  # doctest: +SKIP
>>> loader = make_loader(test, batch_size=128, seed=0)  # doctest: +SKIP

Importing this package registers every dataset (see :func:`list_datasets`).
"""

from cnnlab.data import folder, isbi, sms, synthetic, vision  # noqa: F401  (registers datasets)
from cnnlab.data.augment import elastic_deform, hflip, random_affine, to_float
from cnnlab.data.cache_build import build_cache
from cnnlab.data.dataset import Dataset, DatasetInfo, concat
from cnnlab.data.disk_cache import DiskCache, open_cache
from cnnlab.data.loader import InMemoryLoader, make_loader
from cnnlab.data.registry import dataset_info, list_datasets, load, register_dataset
from cnnlab.data.splits import parse_split, seeded_split, stratified_split, validation_split
from cnnlab.data.text import Vocabulary, tokenize

__all__ = [
    "Dataset",
    "DatasetInfo",
    "DiskCache",
    "InMemoryLoader",
    "Vocabulary",
    "build_cache",
    "concat",
    "dataset_info",
    "elastic_deform",
    "hflip",
    "list_datasets",
    "load",
    "make_loader",
    "open_cache",
    "parse_split",
    "random_affine",
    "register_dataset",
    "seeded_split",
    "stratified_split",
    "to_float",
    "tokenize",
    "validation_split",
]
