"""A run's checkpoint as ONE safetensors file: the tensors of a
:class:`~cnnlab.train.state.TrainingState` (weights, optimizer moments, metric counts, RNG
states) plus its metadata as a JSON header (epoch, step, settings, schedule and callback
states, the history so far).

Why one file: the write is atomic (temporary file in the same folder, fsync, ``os.replace``),
so a crash at any instant leaves either the previous checkpoint or the new one, never half of
each. Loading never executes code: safetensors holds raw tensors and the header is JSON. The
header also holds a SHA-256 of the tensor bytes, so damage that keeps the structure intact
(a flipped bit on disk) is detected too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from cnnlab.errors import CnnlabError
from cnnlab.files import write_bytes

FORMAT = "cnnlab-checkpoint-1"


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``tensors`` in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Atomically write ``tensors`` and the JSON-able ``meta`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses views that share memory: give every entry its own contiguous copy
    own = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    header = {
        "format": FORMAT,
        "meta": json.dumps(meta, allow_nan=True),
        "sha256": tensor_digest(own),
    }
    write_bytes(path, save_bytes(own, metadata=header))
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors and metadata of a checkpoint; a clear error for a missing or damaged file."""
    path = Path(path)
    try:
        payload = path.read_bytes()
    except OSError as error:
        raise CnnlabError(f"cannot read checkpoint {path}: {error.strerror}") from error
    try:
        tensors = load_bytes(payload)
        header_size = int.from_bytes(payload[:8], "little")
        header = json.loads(payload[8 : 8 + header_size])
        meta = json.loads(header["__metadata__"]["meta"])
        if header["__metadata__"].get("format") != FORMAT:
            raise KeyError("format")
        if header["__metadata__"].get("sha256") != tensor_digest(tensors):
            raise ValueError("tensor checksum mismatch")
    except (SafetensorError, ValueError, KeyError, TypeError, RecursionError) as error:
        raise CnnlabError(
            f"{path} is not a readable cnnlab checkpoint (truncated or corrupt: {error}); "
            "delete it or resume from another run"
        ) from error
    return tensors, meta
