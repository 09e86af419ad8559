"""CIFAR-10, binary version (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html).

``cifar-10-binary.tar.gz`` holds ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and
``test_batch.bin``: 10,000 records of 3,073 bytes each, one label byte (0..9) then the 32 x 32
image as 1,024 red, 1,024 green and 1,024 blue bytes, rows top to bottom. Parsed straight from
the bytes, never unpickled; the archive is read in place, nothing is extracted.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import torch

from cnnlab.errors import CnnlabError

RECORD = 1 + 3 * 32 * 32
FOLDER = "cifar-10-batches-bin"
SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}


def parse_records(data: bytes, where: str, fix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 3 x 32 x 32 uint8) and labels (N int64) from CIFAR-10 binary records."""
    if len(data) == 0 or len(data) % RECORD:
        raise CnnlabError(
            f"{where} holds {len(data)} bytes, expected a positive multiple of {RECORD} "
            f"(CIFAR-10 binary records); {fix}"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise CnnlabError(f"{where} has label {labels.max()}, expected 0..9; {fix}")
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # N x 3 x 32 x 32
    return torch.from_numpy(images.copy()), torch.from_numpy(labels)


def read_split(source: Path, split: str, fix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``split`` from the archive ``source`` or from an extracted ``cifar-10-batches-bin``."""
    parts = []
    if source.is_dir():
        for name in SPLIT_FILES[split]:
            path = source / name
            if not path.is_file():
                raise CnnlabError(f"{path} is missing from the extracted CIFAR-10 folder; {fix}")
            parts.append(parse_records(path.read_bytes(), str(path), fix))
    else:
        try:
            with tarfile.open(source, "r:gz") as archive:
                for name in SPLIT_FILES[split]:
                    member = archive.extractfile(f"{FOLDER}/{name}")
                    if member is None:
                        raise KeyError(name)
                    parts.append(parse_records(member.read(), f"{source}:{name}", fix))
        except KeyError as error:
            raise CnnlabError(f"{source} has no member {FOLDER}/{error.args[0]}; {fix}") from error
        except (tarfile.TarError, EOFError, OSError) as error:
            raise CnnlabError(f"{source} is not a readable tar.gz ({error}); {fix}") from error
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    return images, labels
