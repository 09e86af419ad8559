"""One registry class for every named thing cnnlab offers: models, datasets, experiments,
augmentations (timm's ``_registry.py``, torchvision's ``_api.py``).

One key rule everywhere: names are case-insensitive and ``_`` is written ``-``, so a builder
``inception_block`` is asked for as ``inception-block``, ``Inception_Block`` or
``inception_block``. An unknown name is one error that suggests the closest known names.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

from cnnlab.errors import CnnlabError

T = TypeVar("T")


def registry_key(name: str) -> str:
    """The canonical form of a name: stripped, lower case, ``_`` as ``-``."""
    return name.strip().lower().replace("_", "-")


class Registry(Generic[T]):
    """Entries of one kind under canonical names.

    Args:
        kind: what the entries are, for messages (``"model"``, ``"dataset"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Store ``entry`` under ``name``; a second entry with the same key is an error."""
        key = registry_key(name)
        if key in self._entries:
            raise ValueError(f"a {self.kind} named {key!r} is already registered")
        self._entries[key] = entry
        return entry

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
        return sorted(key for key in self._entries if fnmatch.fnmatch(key, registry_key(pattern)))

    def get(self, name: str) -> T:
        """The entry called ``name``.

        Raises:
            CnnlabError: no entry has that name; the message suggests close names and lists
                the known ones.
        """
        key = registry_key(name)
        if key in self._entries:
            return self._entries[key]
        close = difflib.get_close_matches(key, list(self._entries), n=2, cutoff=0.8)
        known = ", ".join(self.names())
        if close:
            guess = " or ".join(repr(c) for c in close)
            raise CnnlabError(f"unknown {self.kind} {name!r}; did you mean {guess}? Known: {known}")
        raise CnnlabError(f"unknown {self.kind} {name!r}; choose one of: {known}")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and registry_key(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
