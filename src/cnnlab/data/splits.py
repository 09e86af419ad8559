"""Split strings (TFDS syntax) and the seeded, stratified and Keras-style splitting helpers.

Split strings: a split name, optionally sliced, joined with ``+``::

    train    test[:8000]    test[8000:]    train[:90%]    train[10%:]+test    test[-10%:]

Bounds are sample counts or percentages of the split (-100..100), negative values count from
the end, as in Python slices. Rounding rule: a percentage ``k%`` of a split of ``n`` samples is
the boundary ``floor(k * n / 100 + 1/2)`` (nearest, halves up). Each boundary is computed alone,
so ``train[:k%]`` and ``train[k%:]`` always partition ``train`` exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cnnlab.errors import CnnlabError

_PART = re.compile(r"^([a-z][a-z0-9_-]*)(?:\[(-?\d+%?)?:(-?\d+%?)?\])?$")


@dataclass(frozen=True)
class SplitSlice:
    """One ``+``-separated part of a split string, bounds still unresolved (``"90%"``)."""

    name: str
    start: str | None = None
    stop: str | None = None

    def resolve(self, n: int) -> slice:
        """The Python slice this part selects from a split of ``n`` samples."""
        return slice(_bound(self.start, n), _bound(self.stop, n))


def _bound(text: str | None, n: int) -> int | None:
    if text is None:
        return None
    if text.endswith("%"):
        percent = int(text[:-1])
        return int(math.copysign(math.floor(abs(percent) * n / 100 + 0.5), percent))
    return int(text)


def parse_split(spec: str, known: Sequence[str]) -> list[SplitSlice]:
    """Parse a TFDS split string against the dataset's split names ``known``.

    Raises:
        CnnlabError: on a malformed part, an unknown split name or a percentage beyond 100.

    >>> [p.resolve(1000) for p in parse_split("train[10%:]+test[:-5]", ["train", "test"])]
    [slice(100, None, None), slice(None, -5, None)]
    """
    parts = []
    for raw in spec.replace(" ", "").split("+"):
        match = _PART.match(raw)
        if not match:
            raise CnnlabError(
                f"split parts look like train, test[:8000] or train[10%:90%] joined by '+'. "
                f"Received: split={spec!r}"
            )
        name, start, stop = match.groups()
        if name not in known:
            raise CnnlabError(
                f"unknown split {name!r}; this dataset has: {', '.join(known)}. "
                f"Received: split={spec!r}"
            )
        for bound in (start, stop):
            if bound and bound.endswith("%") and abs(int(bound[:-1])) > 100:
                raise CnnlabError(
                    f"percentages in a split must be within -100%..100%. Received: split={spec!r}"
                )
        parts.append(SplitSlice(name, start, stop))
    return parts


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_fraction(fraction: float, name: str = "fraction") -> None:
    if not 0.0 < fraction < 1.0:
        raise CnnlabError(f"{name} must be in (0, 1). Received: {name}={fraction}")


def seeded_split(n: int, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (first, second) index sets with ``round(fraction * n)`` in the second, each
    sorted so the original order is kept. Same ``seed``, same split, on every machine."""
    _check_fraction(fraction)
    order = torch.randperm(n, generator=_generator(seed))
    cut = n - math.floor(fraction * n + 0.5)
    return order[:cut].sort().values, order[cut:].sort().values


def stratified_split(
    labels: torch.Tensor, fraction: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`seeded_split`, but per class: each class gives ``round(fraction * count)``
    samples to the second set, so both sets keep the class proportions (e.g. SMS ham/spam)."""
    _check_fraction(fraction)
    generator = _generator(seed)
    first, second = [], []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        cut = len(members) - math.floor(fraction * len(members) + 0.5)
        first.append(members[:cut])
        second.append(members[cut:])
    return torch.cat(first).sort().values, torch.cat(second).sort().values


def validation_split(data, fraction: float):
    """Split off a validation set the way Keras' ``fit(validation_split=...)`` does.

    Keras keeps the first ``floor(n * (1 - fraction))`` samples for training and takes the LAST
    ones for validation, before any shuffling: if the data are sorted (by class, by date), the
    validation set is not representative. Shuffle first (or use :func:`stratified_split`) when
    that matters.

    Args:
        data: a :class:`~cnnlab.data.dataset.Dataset` or a tuple of tensors of equal length.
        fraction: the validation share, in (0, 1).

    Returns:
        (train, validation), of the same type as ``data``.
    """
    _check_fraction(fraction)
    n = len(data) if not isinstance(data, tuple) else len(data[0])
    cut = math.floor(n * (1.0 - fraction))
    if isinstance(data, tuple):
        return tuple(t[:cut] for t in data), tuple(t[cut:] for t in data)
    return (
        data.subset(slice(None, cut), split=f"{data.split}[:{cut}]"),
        data.subset(slice(cut, None), split=f"{data.split}[{cut}:]"),
    )
