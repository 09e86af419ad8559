"""Damage shared by the corpora of broken run folders (tests/test_run_corpus.py through the
command line, tests/test_studio_hostile.py through the studio)."""

from __future__ import annotations

import torch

# Files that are not a JSON object: each must be one line naming the file, never a traceback.
BROKEN_JSON = {
    "not-utf8": b'{"task": "\xff\xfe"}',
    "empty": b"",
    "list": b"[1, 2]",
    "null": b"null",
    "nested": b"[" * 100_000 + b"]" * 100_000,
    "deep": b'{"a":' * 900 + b"1" + b"}" * 900,
    "big-int": b'{"a": ' + b"9" * 5000 + b"}",
}
# Weights that pass the checksum (it is computed on them) but are not the model's.
FORGED_WEIGHTS = {
    "int64": lambda v: v.to(torch.int64),
    "nan": lambda v: torch.full_like(v, float("nan")),
    "inf": lambda v: torch.full_like(v, float("inf")),
    "float64": lambda v: v.double(),
}
