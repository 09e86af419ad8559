"""A user's own images: one sub-folder per class (torchvision's ``ImageFolder`` layout).

::

    path/cat/001.jpg  path/cat/002.png  path/dog/x.bmp ...            -> split "train"
    path/train/cat/... path/test/cat/... (and optionally validation/)  -> those splits

Images of any size and mode are converted to ``L`` (when every image is grayscale) or ``RGB``
(``mode=`` forces one; 16-bit images are scaled and transparency goes over white, see
:mod:`cnnlab.data.images`), and resized to ``size=HxW`` when given; without ``size`` they must
all have the same size. Class ids follow the sorted folder names, the same in every split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.data.dataset import Dataset, DatasetInfo
from cnnlab.data.images import convert_mode, open_image
from cnnlab.data.registry import register_dataset
from cnnlab.errors import CnnlabError
from cnnlab.shapes import parse_pair

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}

INFO = DatasetInfo(
    name="image-folder",
    task="classification",
    description="Your folder of class sub-folders of images (options: path=, size=HxW, mode=).",
    classes=(),
    shape=(0, 0, 0),
    splits=("train", "validation", "test"),
    source="local folder",
    license="yours",
    citation="",
)


def split_folder(path: Path, split: str) -> Path:
    if (path / split).is_dir():
        return path / split
    if split == "train" and not (path / "test").is_dir():
        return path
    raise CnnlabError(
        f"{path} has no {split}/ sub-folder; use path/<class>/<image> for one split or "
        f"path/{split}/<class>/<image>. Received: path={str(path)!r}"
    )


def class_names(path: Path) -> tuple[str, ...]:
    roots = [path / s for s in INFO.splits if (path / s).is_dir()] or [path]
    return tuple(sorted({d.name for r in roots for d in r.iterdir() if d.is_dir()}))


def class_images(folder: Path, classes: tuple[str, ...]) -> list[tuple[Path, int]]:
    """``(file, class id)`` of every image under ``folder``'s class sub-folders, sorted."""
    files = [
        (f, classes.index(d.name))
        for d in sorted(p for p in folder.iterdir() if p.is_dir())
        for f in sorted(d.iterdir())
        if f.suffix.lower() in EXTENSIONS
    ]
    if not files:
        raise CnnlabError(
            f"{folder} has no images in class sub-folders ({', '.join(sorted(EXTENSIONS))}); "
            "put them in <folder>/<class name>/"
        )
    return files


def decode(image: Image.Image, mode: str, hw: tuple[int, int] | None) -> np.ndarray:
    """``image`` in ``mode``, resized to ``hw`` (bilinear) when given: H x W or H x W x 3."""
    image = convert_mode(image, mode)
    if hw is not None:
        image = image.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
    return np.asarray(image)


@register_dataset(INFO)
def image_folder(
    split: str,
    root: Path,
    download: bool,
    mirror: str | None,
    path: str | None = None,
    size: str | int | tuple[int, int] | None = None,
    mode: str | None = None,
) -> Dataset:
    """Load the images under ``path`` (N x C x H x W uint8) with their class ids.

    Args:
        path: the folder (required).
        size: resize every image to H x W (``"64x64"``, ``64`` or ``(64, 48)``), bilinear.
        mode: ``"L"`` or ``"RGB"``; default ``L`` if all images are grayscale, else ``RGB``.
    """
    if path is None:
        raise CnnlabError("image-folder needs path=<folder of class sub-folders>. Received: none")
    base = Path(path).expanduser()
    if not base.is_dir():
        raise CnnlabError(f"image-folder path must be a folder. Received: path={str(path)!r}")
    if mode not in (None, "L", "RGB"):
        raise CnnlabError(f"mode must be 'L' or 'RGB'. Received: mode={mode!r}")
    hw = parse_pair(size, "size") if size is not None else None
    folder = split_folder(base, split)
    classes = class_names(base)
    files = class_images(folder, classes)
    images = [open_image(f) for f, _ in files]
    chosen = mode or ("L" if all(i.mode in GRAY_MODES for i in images) else "RGB")
    arrays = []
    for (file, _), image in zip(files, images, strict=True):
        array = decode(image, chosen, hw)
        if arrays and array.shape != arrays[0].shape:
            raise CnnlabError(
                f"{file} is {array.shape[1]}x{array.shape[0]} but {files[0][0]} is "
                f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; pass size=HxW to resize them all"
            )
        arrays.append(array)
    stacked = torch.from_numpy(np.stack(arrays))
    stacked = (
        stacked.unsqueeze(1) if chosen == "L" else stacked.permute(0, 3, 1, 2)
    )  # N x C x H x W
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    info = replace(INFO, classes=classes, shape=tuple(stacked.shape[1:]), source=str(base))
    return Dataset(info, split, images=stacked.contiguous(), labels=labels)
