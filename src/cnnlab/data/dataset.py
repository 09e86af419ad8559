"""The in-memory dataset object every loader returns, and its metadata.

One small dataclass covers the three kinds of data the course uses: classification (images +
labels), segmentation (images + masks) and text (token ids + labels, with the vocabulary and
the raw texts). Fields a kind does not use are ``None``. In a notebook a data set shows its
card and a grid of samples (``_repr_html_``, ``show_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from cnnlab.data.recipes import Recipe
from cnnlab.data.text import Vocabulary
from cnnlab.display import Html, block, facts, gallery, heading, png, table, tile
from cnnlab.errors import CnnlabError

THUMBNAIL_SIDE = 128  # larger pictures are subsampled, so a notebook stays light
MASK_COLORS = torch.tensor(  # class 0 black, then bright colours (cycled)
    [[0, 0, 0], [255, 212, 0], [0, 200, 255], [255, 79, 216], [124, 252, 0], [255, 140, 0]],
    dtype=torch.uint8,
)
SHOWN_CLASSES = 20
TEXT_CHARS = 200


def _step(height: int, width: int) -> int:
    """The subsampling stride that brings a picture to at most ``THUMBNAIL_SIDE`` a side."""
    return max(1, -(-max(height, width) // THUMBNAIL_SIDE))


def image_png(image: torch.Tensor) -> bytes:
    """One C x H x W image as a PNG thumbnail: uint8 read as 0..255, other types min-max
    rescaled; 3 channels in colour, otherwise the first in gray."""
    image = image.detach().cpu()
    step = _step(*image.shape[-2:])
    image = image[: 3 if image.shape[0] == 3 else 1, ::step, ::step]
    if image.dtype != torch.uint8:
        values = torch.nan_to_num(image.double())
        low, high = values.min(), values.max()
        scaled = (values - low) / (high - low) if high > low else torch.full_like(values, 0.5)
        image = (scaled * 255).round().to(torch.uint8)
    channels, height, width = image.shape
    return png(image.permute(1, 2, 0).contiguous().numpy().tobytes(), width, height, channels)


def mask_png(mask: torch.Tensor) -> bytes:
    """One H x W mask of class ids as a PNG thumbnail, one colour per class (0 black)."""
    mask = mask.detach().cpu().long()
    step = _step(*mask.shape)
    ids = mask[::step, ::step].clamp(min=0)
    colour = torch.where(ids > 0, (ids - 1) % (len(MASK_COLORS) - 1) + 1, 0)
    height, width = ids.shape
    return png(MASK_COLORS[colour].contiguous().numpy().tobytes(), width, height, 3)


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: the metadata shown by ``cnnlab datasets info``.

    Args:
        name: registry name (``"mnist"``).
        task: ``"classification"``, ``"segmentation"`` or ``"text"``.
        description: one line.
        classes: class names, index = label (or mask class id for segmentation).
        shape: shape of one sample, C x H x W for images (0 where it varies), (L,) for text.
        splits: the split names the dataset provides.
        source: URL of the canonical source.
        license: license as published by the authors.
        citation: the reference to cite.
        files: remote file name -> published md5 (``None`` where none is published).
        recipe: the training recipe ``cnnlab train`` starts from on this data set
            (:mod:`cnnlab.data.recipes`; None: the plain settings).
    """

    name: str
    task: str
    description: str
    classes: tuple[str, ...]
    shape: tuple[int, ...]
    splits: tuple[str, ...]
    source: str
    license: str
    citation: str
    files: dict[str, str | None] = field(default_factory=dict)
    recipe: Recipe | None = None


@dataclass(repr=False)
class Dataset:
    """One split held in memory.

    Attributes:
        info: the dataset's metadata.
        split: the split string it was loaded with (``"train[:90%]"``).
        images: N x C x H x W uint8, or None for text.
        labels: N int64 class ids, or None for segmentation.
        masks: N x H x W int64 class ids (segmentation), else None.
        tokens: N x L int64 token ids (text), else None.
        texts: the N raw texts (text), else None.
        vocab: the vocabulary built on the training split (text), else None.
    """

    info: DatasetInfo
    split: str
    images: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    texts: list[str] | None = None
    vocab: Vocabulary | None = None

    def __post_init__(self) -> None:
        sizes = {len(v) for v in self._per_sample().values()}
        if len(sizes) > 1:
            raise CnnlabError(
                "all fields of a dataset must have the same length. Received: "
                + ", ".join(f"{k}={len(v)}" for k, v in self._per_sample().items())
            )

    def _per_sample(self) -> dict[str, torch.Tensor | list[str]]:
        names = ("images", "labels", "masks", "tokens", "texts")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def __len__(self) -> int:
        fields = self._per_sample()
        return len(next(iter(fields.values()))) if fields else 0

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The inputs and targets to batch: (images|tokens, labels|masks), skipping absent ones."""
        inputs = self.images if self.images is not None else self.tokens
        targets = self.masks if self.masks is not None else self.labels
        return tuple(t for t in (inputs, targets) if t is not None)

    def subset(self, indices: torch.Tensor | Sequence[int] | slice, split: str | None = None):
        """The samples at ``indices`` (a slice, or a 1-D tensor/sequence of positions)."""
        if isinstance(indices, slice):
            index = torch.arange(len(self))[indices]
        else:
            index = torch.as_tensor(indices, dtype=torch.int64)
        changes: dict[str, object] = {"split": split or self.split}
        for name, value in self._per_sample().items():
            if isinstance(value, list):
                changes[name] = [value[i] for i in index.tolist()]
            else:
                changes[name] = value.index_select(0, index)
        return replace(self, **changes)

    def __repr__(self) -> str:
        n, kind = len(self), "samples"
        if self.images is not None:
            masks = " with masks" if self.masks is not None else ""
            kind = f"images {self._shape(self.images)}{masks}"
        elif self.tokens is not None:
            kind = f"texts of {self._shape(self.tokens)} token ids"
        return f"Dataset({self.info.name} {self.split}: {n:,} {kind}, {len(self.classes)} classes)"

    @staticmethod
    def _shape(tensor: torch.Tensor) -> str:
        """One sample's shape and type: ``1x28x28 uint8``."""
        return "x".join(map(str, tensor.shape[1:])) + " " + _dtype(tensor)

    def _repr_html_(self) -> str:
        info = self.info
        inputs = self.images if self.images is not None else self.tokens
        card = facts(
            [
                ("name", info.name),
                ("description", info.description),
                ("split", self.split),
                ("task", info.task),
                ("samples", f"{len(self):,}"),
                ("sample", self._shape(inputs) if inputs is not None else None),
                ("mask", self._shape(self.masks) if self.masks is not None else None),
                ("vocabulary", f"{len(self.vocab):,} tokens" if self.vocab is not None else None),
                ("source", info.source),
                ("license", info.license),
            ]
        )
        parts = [heading(repr(self)), card, self._class_counts(), heading("samples")]
        return block(*parts, self.show_batch().html)

    def _class_counts(self) -> str:
        """Samples per class (pixels per class for masks), with each class's share."""
        targets, unit = (
            (self.labels, "samples") if self.labels is not None else (self.masks, "pixels")
        )
        if targets is None:
            return ""
        names = self.classes
        counts = torch.bincount(targets.flatten().long(), minlength=len(names)).tolist()
        total = max(sum(counts), 1)
        rows = [
            [name, f"{count:,}", f"{100 * count / total:.1f}%"]
            for name, count in zip(names[:SHOWN_CLASSES], counts, strict=False)
        ]
        if len(names) > SHOWN_CLASSES:
            rows.append([f"and {len(names) - SHOWN_CLASSES} more classes", "", ""])
        return table(["class", unit, "share"], rows)

    def _label(self, index: int) -> str:
        if self.labels is None:
            return f"#{index}"
        label = int(self.labels[index])
        return self.classes[label] if 0 <= label < len(self.classes) else str(label)

    def _text(self, index: int) -> str:
        """The raw text (its start), or the token ids when the texts were not kept."""
        if self.texts is not None:
            return self.texts[index][:TEXT_CHARS]
        return " ".join(map(str, self.tokens[index][:40].tolist()))

    def show_batch(self, n: int = 16) -> Html:
        """``n`` samples spread evenly over the data set (a class-sorted folder shows every
        class), with their labels, as fastai's ``show_batch``: images, images beside their
        masks, or texts. A notebook shows the grid; elsewhere it prints one line."""
        if not isinstance(n, int) or n < 1:
            raise CnnlabError(f"show_batch needs n >= 1 samples. Received: n={n!r}")
        count = min(n, len(self))
        index = [i * len(self) // count for i in range(count)]
        if self.images is not None:
            tiles = []
            for i in index:
                pictures = [image_png(self.images[i])]
                if self.masks is not None:
                    pictures.append(mask_png(self.masks[i]))
                tiles.append(tile(pictures, [self._label(i)]))
            body = gallery(tiles)
        else:
            rows = [[i, self._text(i), self._label(i)] for i in index]
            body = table(["#", "text", "label"], rows, left=3)
        return Html(block(body), f"{count} samples of {self.info.name} {self.split}")


def concat(parts: Sequence[Dataset], split: str) -> Dataset:
    """Join splits of one dataset end to end (``train+test``)."""
    first = parts[0]
    if len(parts) == 1:
        return replace(first, split=split)
    changes: dict[str, object] = {"split": split}
    for name, value in first._per_sample().items():
        values = [getattr(p, name) for p in parts]
        if any(v is None for v in values):
            raise CnnlabError(
                f"cannot join splits where some have {name} and some do not. Received: {split!r}"
            )
        if isinstance(value, list):
            changes[name] = [item for v in values for item in v]
        else:
            shapes = {tuple(v.shape[1:]) for v in values}
            if len(shapes) > 1:
                raise CnnlabError(
                    f"cannot join splits with different sample shapes {sorted(shapes)}. "
                    f"Received: {split!r}; pass size=HxW to resize them alike"
                )
            changes[name] = torch.cat(values)
    return replace(first, **changes)
