"""Classic image classification sets: MNIST, Fashion-MNIST, CIFAR-10 (binary) and digits.

Checksums are the md5s published with the files (MNIST by LeCun et al. and torchvision,
Fashion-MNIST by Zalando Research, CIFAR-10 by Krizhevsky on the dataset page).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnlab.data import cifar, recipes
from cnnlab.data.dataset import Dataset, DatasetInfo
from cnnlab.data.download import by_hand, fetch, source_url
from cnnlab.data.idx import read_idx
from cnnlab.data.registry import register_dataset
from cnnlab.data.splits import stratified_split
from cnnlab.errors import CnnlabError

MNIST_BASE = "https://ossci-datasets.s3.amazonaws.com/mnist"
FASHION_BASE = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
CIFAR_BASE = "https://www.cs.toronto.edu/~kriz"

MNIST = DatasetInfo(
    name="mnist",
    task="classification",
    description="Handwritten digits 0-9, 28x28 grayscale: 60,000 train, 10,000 test.",
    classes=tuple(str(d) for d in range(10)),
    shape=(1, 28, 28),
    splits=("train", "test"),
    source="http://yann.lecun.com/exdb/mnist/ (files from the torchvision mirror "
    + MNIST_BASE
    + ")",
    license="CC BY-SA 3.0 (as listed by TFDS)",
    citation="LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document "
    "recognition. Proc. IEEE 86(11), 1998.",
    files={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    recipe=recipes.DIGITS,
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    task="classification",
    description="Zalando article images, 10 classes, 28x28 grayscale: 60,000 train, 10,000 test.",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    shape=(1, 28, 28),
    splits=("train", "test"),
    source="https://github.com/zalandoresearch/fashion-mnist (files at " + FASHION_BASE + ")",
    license="MIT",
    citation="Xiao, Rasul, Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking "
    "Machine Learning Algorithms. arXiv:1708.07747, 2017.",
    files={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
)

CIFAR10 = DatasetInfo(
    name="cifar10",
    task="classification",
    description="Tiny colour images, 10 classes, 32x32 RGB: 50,000 train, 10,000 test.",
    classes=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    shape=(3, 32, 32),
    splits=("train", "test"),
    source="https://www.cs.toronto.edu/~kriz/cifar.html",
    license="no license stated by the authors (TFDS lists it as unknown)",
    citation="Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Tech. report, "
    "University of Toronto, 2009.",
    files={"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
    recipe=recipes.NATURAL_IMAGES,
)

DIGITS = DatasetInfo(
    name="digits",
    task="classification",
    description="scikit-learn's bundled 8x8 handwritten digits (1,797), scaled 0..16 -> 0..255; "
    "seeded stratified split 80% train / 20% test.",
    classes=tuple(str(d) for d in range(10)),
    shape=(1, 8, 8),
    splits=("train", "test"),
    source="https://archive.ics.uci.edu/dataset/80 (bundled with scikit-learn, no download)",
    license="CC BY 4.0",
    citation="Alpaydin, Kaynak. Optical Recognition of Handwritten Digits. UCI ML Repository, "
    "1998.",
)


def _idx_split(info: DatasetInfo, folder: str, base: str, split: str, root: Path, download, mirror):
    prefix = "train" if split == "train" else "t10k"
    tensors = []
    for kind, ndim in (("images", 3), ("labels", 1)):
        filename = f"{prefix}-{kind}-idx{ndim}-ubyte.gz"
        url = source_url(base, filename, mirror)
        dest = root / folder / filename
        fetch(url, dest, info.files[filename], download, info.name)
        tensors.append(read_idx(dest, ndim, fix=f"delete it and {by_hand(dest, url)}"))
    images, labels = tensors
    if len(images) != len(labels):
        raise CnnlabError(
            f"{root / folder}: {prefix} images ({len(images)}) and labels ({len(labels)}) differ "
            "in count; the two files come from different datasets, replace one of them"
        )
    return Dataset(info, split, images=images.unsqueeze(1), labels=labels.long())  # N x 1 x H x W


@register_dataset(MNIST)
def mnist(split: str, root: Path, download: bool, mirror: str | None) -> Dataset:
    """MNIST from the four IDX files in ``<data_dir>/mnist/``."""
    return _idx_split(MNIST, "mnist", MNIST_BASE, split, root, download, mirror)


@register_dataset(FASHION_MNIST)
def fashion_mnist(split: str, root: Path, download: bool, mirror: str | None) -> Dataset:
    """Fashion-MNIST from the four IDX files in ``<data_dir>/fashion_mnist/``."""
    return _idx_split(FASHION_MNIST, "fashion_mnist", FASHION_BASE, split, root, download, mirror)


@register_dataset(CIFAR10)
def cifar10(split: str, root: Path, download: bool, mirror: str | None) -> Dataset:
    """CIFAR-10 from ``<data_dir>/cifar10/cifar-10-binary.tar.gz`` (or its extracted
    ``cifar-10-batches-bin/`` folder, used as is when present)."""
    filename = "cifar-10-binary.tar.gz"
    url = source_url(CIFAR_BASE, filename, mirror)
    extracted = root / "cifar10" / cifar.FOLDER
    if extracted.is_dir():
        source = extracted
    else:
        source = fetch(
            url, root / "cifar10" / filename, CIFAR10.files[filename], download, "cifar10"
        )
    images, labels = cifar.read_split(source, split, fix=f"delete it and {by_hand(source, url)}")
    return Dataset(CIFAR10, split, images=images, labels=labels)


@register_dataset(DIGITS)
def digits(split: str, root: Path, download: bool, mirror: str | None) -> Dataset:
    """scikit-learn's ``load_digits``; 20% test per class, chosen with seed 0."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    scaled = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    images = torch.from_numpy(scaled).unsqueeze(1)  # N x 1 x 8 x 8
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train, test = stratified_split(labels, 0.2, seed=0)
    index = train if split == "train" else test
    return Dataset(DIGITS, split, images=images[index], labels=labels[index])
