"""The IDX format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

An IDX file is a big-endian header, ``0x00 0x00 <type> <ndim>`` then ``ndim`` uint32 sizes,
followed by the data. MNIST uses type 0x08 (unsigned byte): ndim 3 (N x 28 x 28) for images,
ndim 1 (N) for labels. The files are published gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from cnnlab.errors import CnnlabError

UBYTE = 0x08


def gunzip(path: Path, fix: str) -> bytes:
    """The decompressed bytes of ``path``; a truncated or non-gzip file is a one-line error."""
    try:
        return gzip.decompress(path.read_bytes())
    except EOFError as error:
        raise CnnlabError(
            f"{path} is a truncated gzip file (download cut short?); {fix}"
        ) from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise CnnlabError(f"{path} is not a valid gzip file ({error}); {fix}") from error


def parse_idx(data: bytes, ndim: int, where: str, fix: str) -> torch.Tensor:
    """Parse IDX ``data`` holding unsigned bytes in ``ndim`` dimensions into a uint8 tensor.

    Raises:
        CnnlabError: on a wrong magic number (type or dimension count) or a size that does not
            match the header.
    """
    expected = (UBYTE << 8) | ndim
    if len(data) < 4:
        raise CnnlabError(f"{where} is too short to be an IDX file ({len(data)} bytes); {fix}")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected:
        raise CnnlabError(
            f"{where} has IDX magic number 0x{magic:08x}, expected 0x{expected:08x} "
            f"(ubyte, {ndim} dimensions); {fix}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CnnlabError(f"{where} ends inside its IDX header ({len(data)} bytes); {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    size = math.prod(dims)
    if len(data) - header != size:
        raise CnnlabError(
            f"{where} holds {len(data) - header} data bytes, expected {size} for shape "
            f"{'x'.join(map(str, dims))}; {fix}"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def read_idx(path: Path, ndim: int, fix: str) -> torch.Tensor:
    """Read a gzip-compressed IDX file (see :func:`parse_idx`)."""
    return parse_idx(gunzip(path, fix), ndim, str(path), fix)


def write_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (for tests and for building tiny fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(f">I{array.ndim}I", (UBYTE << 8) | array.ndim, *array.shape)
    return header + array.tobytes()
