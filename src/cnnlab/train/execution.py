"""How a fit runs fast: numeric precision, memory format, optimizer implementation and
allocator, each resolved once from a setting (``auto`` by default) and recorded in the run's
``config.json``.

The ``auto`` choices come from benchmarks of every model of the zoo; the numbers, and the
hardware and torch version they were taken with, are in ``benchmarks/PROFILE.md`` (section
"The choices, by measurement"). Why each choice pays:

- precision: bfloat16 autocast in training steps, on CPUs that multiply bfloat16 natively
  (AVX512-BF16 or AMX): half the bytes per operand and twice the products per vector
  instruction. Without that hardware bfloat16 is emulated and slower than float32, so ``auto``
  means float32 there. Weights, optimizer moments, the loss and the metrics stay float32.
  Evaluation and prediction follow the same setting unless given their own (``eval_precision``,
  resolved the same way): validation during a fit uses it too, so the reported metrics are the
  ones ``cnnlab evaluate`` reproduces with the same precision, and the run records which it
  was. PyTorch makes the same kind of trade by default on recent NVIDIA GPUs, where cuDNN
  convolutions use TF32.
- memory format: channels_last (NHWC) is oneDNN's native layout, so CPU convolutions skip
  the reorder of every input and output that NCHW costs; it is used for every 2-D
  convolutional model on CPU. On CUDA it pays only with reduced precision, whose tensor-core
  kernels work in NHWC.
- optimizer: the fused Adam/AdamW/SGD step updates all parameters in one kernel, one pass
  over parameters, gradients and moments, where PyTorch's default multi-tensor
  implementation makes a pass per elementwise operation; the gain grows with the number of
  parameters.
- memory: glibc hands each allocation above its mmap threshold (dynamic, 128 KiB to 32 MiB)
  fresh pages from the kernel and returns them on free, so a step's large activations can be
  page-faulted in again at every step, at a cost in system time that depends on how the
  threshold moved early in the process. The trainer raises the mmap and trim thresholds
  once per process (Linux/glibc): freed memory is reused, at the cost of the process keeping
  its peak heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnnlab.errors import CnnlabError

PRECISIONS = ("auto", "fp32", "bf16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CHANNELS_LAST = ("auto", "yes", "no")  # yes/no are written True/False in a config
FUSED_DEVICES = ("cpu", "cuda")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
KEEP_BYTES = 1 << 30  # allocations below stay on the heap; free memory up to this is kept


@functools.cache
def keep_freed_memory() -> str:
    """Make glibc reuse freed memory instead of unmapping it (once per process): returns
    what was done, for the run's ``execution`` record."""
    name = ctypes.util.find_library("c")
    if name is None:
        return "default"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return "default"
    # older glibc refuses a threshold above 32 MiB: keep the first size it accepts
    kept = next((size for size in (KEEP_BYTES, 32 << 20) if mallopt(M_MMAP_THRESHOLD, size)), 0)
    if not kept:
        return "default"
    mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    return f"glibc: mmap threshold {kept >> 20} MiB, trim threshold {KEEP_BYTES >> 20} MiB"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware (CPU: AVX512-BF16 or AMX-BF16)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return False
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def check_precision(setting: str, name: str = "precision") -> None:
    if setting not in PRECISIONS:
        raise CnnlabError(
            f"{name} must be one of {', '.join(PRECISIONS)}. Received: {name}={setting!r}"
        )


def channels_last_setting(setting: bool | str) -> bool | str:
    """``setting`` with ``yes``/``no`` written as True/False; refused when not a choice."""
    value = (
        {"yes": True, "no": False}.get(setting, setting) if isinstance(setting, str) else setting
    )
    check_channels_last(value)
    return value


def check_channels_last(setting: bool | str) -> None:
    if setting not in (True, False, "auto"):
        raise CnnlabError(
            "channels_last must be auto, yes (True) or no (False). "
            f"Received: channels_last={setting!r}"
        )


def resolve_precision(setting: str, device: torch.device, name: str = "precision") -> str:
    """``fp32`` or ``bf16`` for a ``precision`` setting (``auto``: bf16 on CPUs with native
    bf16; float32 on CUDA, where ``amp=True`` asks for float16). ``name`` names the setting
    in errors."""
    check_precision(setting, name)
    if setting == "auto":
        return "bf16" if device.type == "cpu" and native_bf16(device) else "fp32"
    if setting == "bf16" and device.type not in ("cpu", "cuda"):
        raise CnnlabError(f"{name}='bf16' runs on cpu or cuda. Received: device={device}")
    return setting


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The autocast context of a resolved precision (a no-op in float32)."""
    dtype = AUTOCAST_DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in model.modules())


def resolve_channels_last(
    setting: bool | str, model: nn.Module, device: torch.device, reduced: bool
) -> bool:
    """A ``channels_last`` setting (True, False or ``auto``) for this model and device."""
    check_channels_last(setting)
    if isinstance(setting, bool):
        return setting
    if not has_conv2d(model):
        return False
    return device.type == "cpu" or (device.type == "cuda" and reduced)


@dataclass(frozen=True)
class Execution:
    """The resolved choices of one fit (stored in ``config.json`` under ``execution``)."""

    device: str
    precision: str  # "fp32", "bf16" (autocast) or "fp16" (CUDA amp with loss scaling)
    channels_last: bool
    fused_optimizer: bool
    threads: int
    allocator: str
    eval_precision: str = "fp32"  # "fp32" or "bf16": evaluation, validation and prediction

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return AUTOCAST_DTYPES.get(self.precision)

    def autocast(self, device: torch.device) -> torch.autocast:
        """The autocast context of a training step (a no-op in float32)."""
        return autocast(self.precision, device)

    def to_json(self) -> dict:
        return asdict(self)


def resolve_execution(
    model: nn.Module,
    device: torch.device,
    precision: str,
    channels_last: bool | str,
    amp: bool,
    eval_precision: str | None = None,
) -> Execution:
    """All choices at once; ``amp`` (float16 with loss scaling) wins on CUDA in training.
    ``eval_precision`` (None: the ``precision`` setting) is resolved as ``precision`` is:
    CUDA evaluates in float32 unless asked for ``bf16``."""
    eval_precision = precision if eval_precision is None else eval_precision
    chosen = "fp16" if amp and device.type == "cuda" else resolve_precision(precision, device)
    return Execution(
        device=str(device),
        precision=chosen,
        channels_last=resolve_channels_last(channels_last, model, device, chosen != "fp32"),
        fused_optimizer=device.type in FUSED_DEVICES,
        threads=torch.get_num_threads(),
        allocator=keep_freed_memory() if device.type == "cpu" else "default",
        eval_precision=resolve_precision(eval_precision, device, "eval_precision"),
    )
