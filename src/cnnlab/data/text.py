"""Text to token ids: a word tokenizer, a vocabulary and fixed-length encoding.

The vocabulary is built on the training split only (so the test split has genuinely unseen
words, mapped to ``<unk>``), as Keras' ``TextVectorization.adapt`` is meant to be used.
Ids: ``<pad>`` = 0, ``<unk>`` = 1, then words by decreasing frequency, ties alphabetical.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from cnnlab.errors import CnnlabError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lowercase and split into words (letters/digits, with an optional ``'s``-style suffix).

    >>> tokenize("Free entry in 2 a wkly comp! Don't miss")
    ['free', 'entry', 'in', '2', 'a', 'wkly', 'comp', "don't", 'miss']
    """
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id mapping; ``tokens[i]`` is the word with id ``i``."""

    tokens: tuple[str, ...]

    @classmethod
    def build(
        cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Count words in ``texts``; keep those seen >= ``min_freq`` times, at most ``max_size``
        entries in total (the two specials included)."""
        if min_freq < 1:
            raise CnnlabError(f"min_freq must be >= 1. Received: min_freq={min_freq}")
        if max_size is not None and max_size < 2:
            raise CnnlabError(
                f"max_size must be >= 2 (room for <pad> and <unk>). Received: max_size={max_size}"
            )
        counts = Counter(word for text in texts for word in tokenize(text))
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[: max_size - 2]
        return cls((PAD, UNK, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """Token ids, N x ``length`` int64: truncated at the end, right-padded with 0."""
        if length < 1:
            raise CnnlabError(f"length must be >= 1. Received: length={length}")
        index = self.index
        out = torch.zeros(len(texts), length, dtype=torch.int64)  # N x L
        for row, text in enumerate(texts):
            ids = [index.get(w, 1) for w in tokenize(text)][:length]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words for ``ids``, padding dropped."""
        return " ".join(self.tokens[i] for i in ids if i != 0)
