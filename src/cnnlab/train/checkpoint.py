"""Checkpoints as ONE safetensors file: tensors (weights, optimizer moments, metric counts, RNG
states) plus a JSON metadata header (model name and kwargs, epoch, step, optimizer and
schedule settings, history so far).

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
from torch import nn

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
    except (SafetensorError, ValueError, KeyError, TypeError) as error:
        raise CnnlabError(
            f"{path} is not a readable cnnlab checkpoint (truncated or corrupt: {error}); "
            "delete it or resume from another run"
        ) from error
    return tensors, meta


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` with a one-line error listing what does not match."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        (label, items)
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape (file vs model)", wrong),
        )
        if items
    ]
    if problems:
        detail = "; ".join(
            f"{len(items)} {label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
            for label, items in problems
        )
        raise CnnlabError(
            f"the weights in {source} do not fit {type(model).__name__} ({detail}); "
            "build the model with the run's config (model name and kwargs)"
        )
    model.load_state_dict(state)


def optimizer_to_checkpoint(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors and a JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    values: dict[str, dict[str, object]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                values.setdefault(str(index), {})[key] = value
    return tensors, {"values": values, "param_groups": state["param_groups"]}


def optimizer_from_checkpoint(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    state: dict[int, dict[str, object]] = {}
    for name, value in unprefixed("optim.", tensors).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, entries in meta["values"].items():
        state.setdefault(int(index), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    _match_parameter_layouts(optimizer)


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (Adam's moments, SGD's momentum) its parameter's
    memory layout. A checkpoint stores tensors contiguous, but PyTorch 2.13's fused
    optimizers walk parameter and state memory in storage order: a channels_last weight with
    contiguous moments is updated with the moments of OTHER elements (a wrong step, not just
    a rounding difference; tests/test_train_checkpoint.py shows it)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                same_shape = isinstance(value, torch.Tensor) and value.shape == param.shape
                if same_shape and value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param).copy_(value)
