"""ISBI 2012 from the challenge's multi-page TIFFs, generated here (5 slices)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import load
from cnnlab.errors import CnnlabError


def _tiff(path, pages):
    frames = [Image.fromarray(p) for p in pages]
    frames[0].save(path, save_all=True, append_images=frames[1:])


def test_tiffs_become_the_png_layout(tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 256, size=(5, 512, 512), dtype=np.uint8)
    labels = np.where(volume > 60, 255, 0).astype(np.uint8)
    base = tmp_path / "isbi2012"
    base.mkdir()
    _tiff(base / "train-volume.tif", volume)
    _tiff(base / "train-labels.tif", labels)
    data = load("isbi2012", "train+validation", data_dir=tmp_path, download=False)
    assert data.images.shape == (5, 1, 512, 512) and data.masks.shape == (5, 512, 512)
    assert len(load("isbi2012", "validation", data_dir=tmp_path, download=False)) == 1
    assert sorted(p.name for p in (base / "train" / "image").iterdir())[0] == "0.png"
    assert sorted(p.name for p in base.iterdir()) == [
        "train",
        "train-labels.tif",
        "train-volume.tif",
    ]
    cells = sorted(int((page == 255).sum()) for page in labels)
    assert sorted(data.masks.sum(dim=(1, 2)).tolist()) == cells  # 255 -> class 1, per slice


def test_non_binary_labels_are_rejected(tmp_path):
    for sub in ("image", "label"):
        (tmp_path / "isbi2012" / "train" / sub).mkdir(parents=True)
        Image.fromarray(np.full((512, 512), 128, np.uint8)).save(
            tmp_path / "isbi2012" / "train" / sub / "0.png"
        )
    with pytest.raises(CnnlabError, match="binary 0/255"):
        load("isbi2012", "train", data_dir=tmp_path, download=False)
