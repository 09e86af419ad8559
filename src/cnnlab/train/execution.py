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
  its peak heap. That heap grows a little at a time, so the kernel backs it with 4 KiB pages,
  and the memory-bound operations that stream through the activations (batch norm, ReLU,
  the convolutions' backward) miss the TLB every 4 KiB. Before each fit the trainer grows the
  heap once by up to 896 MiB, marks it ``MADV_HUGEPAGE`` and frees it (:func:`mark_step_heap`):
  glibc keeps it, the steps' activations are carved out of it, and the kernel faults them in
  as 2 MiB transparent huge pages (under the ``madvise`` or ``always`` setting of
  /sys/kernel/mm/transparent_hugepage/enabled).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.memory import available_bytes

PRECISIONS = ("auto", "fp32", "bf16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CHANNELS_LAST = ("auto", "yes", "no")  # yes/no are written True/False in a config
FUSED_DEVICES = ("cpu", "cuda")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
KEEP_BYTES = 1 << 30  # allocations below stay on the heap; free memory up to this is kept
MADV_HUGEPAGE = 14  # <sys/mman.h>
HUGE_PAGE = 2 << 20
# marked for the steps at most: freed, a block this size stays below glibc's trim threshold
# at the top of the heap, so glibc keeps it instead of returning it to the kernel
STEP_HEAP = KEEP_BYTES - (128 << 20)
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library with the functions used here typed, or None where it is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    return libc


@functools.cache
def _kept_bytes() -> int:
    """Raise glibc's mmap and trim thresholds (once per process): the mmap threshold set, 0
    when the allocator was left as it was."""
    libc = _glibc()
    if libc is None:
        return 0
    # older glibc refuses a threshold above 32 MiB: keep the first size it accepts
    sizes = (KEEP_BYTES, 32 << 20)
    kept = next((size for size in sizes if libc.mallopt(M_MMAP_THRESHOLD, size)), 0)
    if kept:
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    return kept


def keep_freed_memory() -> str:
    """Make glibc reuse freed memory instead of unmapping it (once per process): returns
    what was done, for the run's ``execution`` record."""
    kept = _kept_bytes()
    if not kept:
        return "default"
    return f"glibc: mmap threshold {kept >> 20} MiB, trim threshold {KEEP_BYTES >> 20} MiB"


def huge_pages_allowed() -> bool:
    """Whether the kernel backs memory marked ``MADV_HUGEPAGE`` with transparent huge pages."""
    try:
        return "[never]" not in THP_SETTING.read_text()
    except OSError:
        return False


def mark_step_heap(execution: Execution) -> Execution:
    """``execution`` with ``huge_pages_mib`` set, after marking heap for the coming steps'
    activations (see the module's "memory"): up to a quarter of the memory this process can
    still use, on CPU with the allocator kept at :data:`KEEP_BYTES`."""
    libc = _glibc()
    kept = execution.allocator.startswith("glibc") and _kept_bytes() == KEEP_BYTES
    size = min(STEP_HEAP, available_bytes() // 4) // HUGE_PAGE * HUGE_PAGE
    if libc is None or not kept or size == 0 or not huge_pages_allowed():
        return replace(execution, huge_pages_mib=0)
    block = libc.malloc(size + HUGE_PAGE)  # room to start on a huge-page boundary
    if not block:
        return replace(execution, huge_pages_mib=0)
    start = -(-block // HUGE_PAGE) * HUGE_PAGE
    marked = libc.madvise(start, size, MADV_HUGEPAGE) == 0
    libc.free(block)
    return replace(execution, huge_pages_mib=size >> 20 if marked else 0)


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
    huge_pages_mib: int = 0  # heap marked for the steps' activations (:func:`mark_step_heap`)

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
