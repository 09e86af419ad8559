"""ISBI 2012 from the challenge's multi-page TIFFs, generated here (5 slices)."""

from __future__ import annotations

import zlib

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


def _claiming(path, width: int, height: int) -> None:
    """A 512 x 512 PNG whose header is rewritten to claim ``width`` x ``height`` (valid CRC):
    a few hundred bytes that PIL would decode as a huge image."""
    Image.fromarray(np.zeros((512, 512), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = crc.to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("side", "words"), [(20_000, "not a readable image"), (12_000, "12000x12000")]
)
def test_a_slice_claiming_a_huge_size_is_one_line(tmp_path, side, words):
    """20000 x 20000 is over PIL's decompression-bomb limit (DecompressionBombError); 12000 x
    12000 only warns, and is refused by its size before it is decoded."""
    for sub in ("image", "label"):
        folder = tmp_path / "isbi2012" / "train" / sub
        folder.mkdir(parents=True)
        Image.fromarray(np.zeros((512, 512), np.uint8)).save(folder / "0.png")
    _claiming(tmp_path / "isbi2012" / "train" / "image" / "0.png", side, side)
    with pytest.raises(CnnlabError, match=words) as info:
        load("isbi2012", "train", data_dir=tmp_path, download=False)
    assert "0.png" in str(info.value) and "\n" not in str(info.value)


def test_a_tiff_page_of_another_size_is_refused_before_decoding(tmp_path):
    base = tmp_path / "isbi2012"
    base.mkdir()
    pages = [np.zeros((512, 512), np.uint8), np.zeros((600, 512), np.uint8)]
    _tiff(base / "train-volume.tif", pages)
    _tiff(base / "train-labels.tif", pages)
    with pytest.raises(CnnlabError, match="page 1 is 512x600, expected 512x512"):
        load("isbi2012", "train", data_dir=tmp_path, download=False)
    assert not (base / "train" / "image").exists()  # nothing half-written
