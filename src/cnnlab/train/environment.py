"""Where and how reproducibly a fit runs: device choice, seeding, deterministic mode and the
random-number-generator states a checkpoint must carry to resume exactly."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from cnnlab.errors import CnnlabError


def auto_device(requested: str | None = None) -> torch.device:
    """``requested`` if given (``"cpu"``, ``"cuda:1"``, ...), else CUDA, then MPS, then CPU."""
    if requested and requested != "auto":
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise CnnlabError(
                f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps"
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise CnnlabError(f"device {requested!r} asked for but CUDA is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (all devices); with ``deterministic`` also make PyTorch
    choose deterministic kernels (and fail loudly on an op that has none)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """Every generator's state, split into tensors and JSON-able values (for a checkpoint)."""
    version, keys, position, has_gauss, gauss = np.random.get_state()
    tensors = {
        "rng.torch": torch.get_rng_state(),
        "rng.numpy": torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy()),
    }
    if torch.cuda.is_available():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = state
    python_version, python_state, python_gauss = random.getstate()
    values = {
        "numpy": [version, position, has_gauss, gauss],
        "python": [python_version, list(python_state), python_gauss],
    }
    return tensors, values


def set_rng_state(tensors: dict[str, torch.Tensor], values: dict[str, object]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(tensors["rng.torch"])
    version, position, has_gauss, gauss = values["numpy"]
    keys = tensors["rng.numpy"].numpy().view(np.uint32)
    np.random.set_state((version, keys, position, has_gauss, gauss))
    python_version, python_state, python_gauss = values["python"]
    random.setstate((python_version, tuple(python_state), python_gauss))
    if torch.cuda.is_available():
        cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
