"""ISBI 2012 EM segmentation challenge: the data set of the U-Net paper.

30 serial-section TEM slices (512 x 512, Drosophila first instar larva VNC) with membrane
labels; 30 more test slices whose labels the challenge keeps. Layout in the data directory::

    isbi2012/train/image/0.png .. 29.png    grayscale slices
    isbi2012/train/label/0.png .. 29.png    0 = membrane, 255 = cell interior
    isbi2012/test/0.png .. 29.png           unlabelled

Masks are class ids: 0 = membrane, 1 = cell. Splits: ``train`` (24 slices) and ``validation``
(6 slices) are a seeded split (seed 0) of the 30 labelled slices, so ``train+validation`` is
all of them; ``test`` has images only. When the PNGs are missing they are made from the
challenge's multi-page TIFFs (``train-volume.tif``, ``train-labels.tif``, ``test-volume.tif``),
written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence, UnidentifiedImageError

from cnnlab.data.dataset import Dataset, DatasetInfo
from cnnlab.data.download import by_hand, fetch, source_url
from cnnlab.data.registry import register_dataset
from cnnlab.data.splits import seeded_split
from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path

BASE = "http://brainiac2.mit.edu/isbi_challenge/sites/default/files"
SIZE = 512

INFO = DatasetInfo(
    name="isbi2012",
    task="segmentation",
    description="EM slices of neural tissue with membrane masks (U-Net's data): 30 labelled "
    "512x512 slices (seeded 24 train / 6 validation) + 30 unlabelled test slices.",
    classes=("membrane", "cell"),
    shape=(1, SIZE, SIZE),
    splits=("train", "validation", "test"),
    source="https://imagej.net/events/isbi-2012-segmentation-challenge (files at " + BASE + ")",
    license="free for research use, cite the two references (challenge terms)",
    citation="Arganda-Carreras et al. Crowdsourcing the creation of image segmentation "
    "algorithms for connectomics. Front. Neuroanat. 9:142, 2015; Cardona et al. PLoS Biol. "
    "8(10), 2010.",
    files={"train-volume.tif": None, "train-labels.tif": None, "test-volume.tif": None},
)


def _read_png(path: Path) -> np.ndarray:
    """One 512 x 512 slice; any other size is refused from the header, before decoding (a
    header may claim 20000 x 20000 pixels: PIL refuses it as a decompression bomb)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size checked below
            with Image.open(path) as image:
                if image.size != (SIZE, SIZE):
                    raise CnnlabError(
                        f"{path} is {image.width}x{image.height}, expected {SIZE}x{SIZE}; "
                        "replace it with the original slice"
                    )
                return np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise CnnlabError(
            f"{path} is not a readable image ({error}); replace it with the original slice"
        ) from error


def _read_folder(folder: Path, what: str) -> torch.Tensor:
    """Stack ``0.png .. N-1.png`` (numbered without gaps) into N x 512 x 512 uint8."""
    count = len(list(folder.glob("*.png")))
    paths = [folder / f"{i}.png" for i in range(count)]
    missing = [p.name for p in paths if not p.is_file()]
    if count == 0 or missing:
        raise CnnlabError(
            f"{folder} must hold {what} 0.png..N-1.png without gaps; missing: "
            f"{', '.join(missing) or 'all'}; see docs/datasets.md for the layout"
        )
    return torch.from_numpy(np.stack([_read_png(p) for p in paths]))


def _explode_tiff(tiff: Path, target: Path, url: str) -> None:
    """Write each page of ``tiff`` as ``target/<i>.png`` via a temporary folder."""
    try:
        with atomic_path(target) as temporary, Image.open(tiff) as volume:
            temporary.mkdir()
            for i, page in enumerate(ImageSequence.Iterator(volume)):
                if page.size != (SIZE, SIZE):  # from the page's header, before decoding it
                    raise CnnlabError(
                        f"{tiff} page {i} is {page.width}x{page.height}, expected "
                        f"{SIZE}x{SIZE}; delete it and {by_hand(tiff, url)}"
                    )
                page.convert("L").save(temporary / f"{i}.png")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise CnnlabError(
            f"{tiff} is not a readable multi-page TIFF ({error}); delete it and "
            f"{by_hand(tiff, url)}"
        ) from error


def _ensure(root: Path, download: bool, mirror: str | None, labelled: bool) -> None:
    """Make the PNG folders from the challenge TIFFs when they are missing."""
    base = root / "isbi2012"
    jobs = (
        [
            ("train-volume.tif", base / "train" / "image"),
            ("train-labels.tif", base / "train" / "label"),
        ]
        if labelled
        else [("test-volume.tif", base / "test")]
    )
    for filename, target in jobs:
        if target.is_dir():
            continue
        url = source_url(BASE, filename, mirror)
        if not download and not (base / filename).is_file():
            raise CnnlabError(
                f"{target} is missing (isbi2012 needs it and download=False); put the slices "
                f"there as 0.png..29.png, or put {filename} ({url}) at {base / filename}"
            )
        tiff = fetch(url, base / filename, None, download, INFO.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        _explode_tiff(tiff, target, url)


@register_dataset(INFO)
def isbi2012(split: str, root: Path, download: bool, mirror: str | None) -> Dataset:
    """ISBI 2012 slices (N x 1 x 512 x 512 uint8) with masks (N x 512 x 512 int64)."""
    base = root / "isbi2012"
    if split == "test":
        _ensure(root, download, mirror, labelled=False)
        images = _read_folder(base / "test", "test slices")
        return Dataset(INFO, split, images=images.unsqueeze(1))
    _ensure(root, download, mirror, labelled=True)
    images = _read_folder(base / "train" / "image", "training slices")
    labels = _read_folder(base / "train" / "label", "training labels")
    if len(images) != len(labels):
        raise CnnlabError(
            f"{base / 'train'} has {len(images)} images but {len(labels)} labels; every image "
            "N.png needs label/N.png"
        )
    values = torch.unique(labels).tolist()
    if not set(values) <= {0, 255}:
        raise CnnlabError(
            f"{base / 'train' / 'label'} masks must be binary 0/255. Received values: "
            f"{values[:6]}; replace them with the original labels"
        )
    train, validation = seeded_split(len(images), 0.2, seed=0)
    index = train if split == "train" else validation
    masks = (labels[index] == 255).long()  # N x H x W, 0 = membrane, 1 = cell
    return Dataset(INFO, split, images=images[index].unsqueeze(1), masks=masks)
