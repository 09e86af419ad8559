"""The real shared data: MNIST test, SMS Spam Collection, ISBI 2012 (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from cnnlab.data import load
from cnnlab.data.download import md5sum
from cnnlab.errors import CnnlabError

ROOT = Path(os.environ["CNNLAB_DATA_DIR"]) if os.environ.get("CNNLAB_DATA_DIR") else None


def _need(relative: str) -> Path:
    if ROOT is None:
        pytest.skip("CNNLAB_DATA_DIR is not set (point it at the shared data folder)")
    path = ROOT / relative
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return ROOT


def test_mnist_test_split_counts():
    root = _need("mnist/t10k-images-idx3-ubyte.gz")
    test = load("mnist", "test", data_dir=root, download=False)
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert test.labels.bincount().tolist() == counts
    assert test.labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    part = load("mnist", "test[:8000]", data_dir=root, download=False)
    rest = load("mnist", "test[8000:]", data_dir=root, download=False)
    assert (len(part), len(rest)) == (8000, 2000)


def test_mnist_missing_train_images_is_explained():
    root = _need("mnist/train-labels-idx1-ubyte.gz")
    if (root / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("the training images are present here")
    with pytest.raises(CnnlabError) as caught:
        load("mnist", "train", data_dir=root, download=False)
    message = str(caught.value)
    assert "train-images-idx3-ubyte.gz is missing" in message
    assert "https://" in message and str(root / "mnist") in message


def test_shared_files_have_the_published_checksums():
    root = _need("mnist")
    published = {
        "mnist/t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "mnist/t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        "mnist/train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "sms_spam/SMSSpamCollection": "1949b64a224790d01335c2bf8a0e48b2",
    }
    for relative, md5 in published.items():
        if (root / relative).exists():
            assert md5sum(root / relative) == md5, relative


def test_sms_spam_counts():
    root = _need("sms_spam/SMSSpamCollection")
    every = load("sms-spam", "train+test", data_dir=root, download=False)
    assert len(every) == 5574 and every.labels.bincount().tolist() == [4827, 747]
    test = load("sms-spam", "test", data_dir=root, download=False)
    assert test.labels.bincount().tolist() == [965, 149]  # 20% of each class, rounded
    assert test.tokens.shape == (1114, 50) and test.vocab.tokens[:2] == ("<pad>", "<unk>")


def test_isbi2012_pairs():
    root = _need("isbi2012/train/image")
    every = load("isbi2012", "train+validation", data_dir=root, download=False)
    assert every.images.shape == (30, 1, 512, 512) and every.masks.shape == (30, 512, 512)
    assert every.masks.unique().tolist() == [0, 1]
    membrane = (every.masks == 0).float().mean().item()
    assert 0.1 < membrane < 0.4  # thin membranes, mostly cell interior
    assert len(load("isbi2012", "validation", data_dir=root, download=False)) == 6
    assert load("isbi2012", "test", data_dir=root, download=False).masks is None
