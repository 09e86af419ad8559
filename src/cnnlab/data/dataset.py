"""The in-memory dataset object every loader returns, and its metadata.

One small dataclass covers the three kinds of data the course uses: classification (images +
labels), segmentation (images + masks) and text (token ids + labels, with the vocabulary and
the raw texts). Fields a kind does not use are ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from cnnlab.data.text import Vocabulary
from cnnlab.errors import CnnlabError


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


@dataclass
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
