"""Memory of training, estimated before the first step, so that a run that cannot fit is
refused with the figures and the fix instead of being killed by the kernel's OOM killer.

A training step holds, at its peak (the start of backward): the weights, their gradients
(kept from the previous step until ``zero_grad``), the optimizer's state, the input batch
and its targets, the prepared data set, and the activations autograd saved for backward,
plus the tensor being produced. The activations are measured, not modelled: one forward on
the ``meta`` device with the real batch size, where ``saved_tensors_hooks`` see every
tensor autograd packs (as :func:`cnnlab.summary.memory.measure_saved_bytes` does on real
tensors), at the cost of no memory and no arithmetic.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnlab.errors import CnnlabError
from cnnlab.models.info import main_output
from cnnlab.tracing import Tracer, tensors

try:
    import resource
except ImportError:  # Windows: no address-space limit to read
    resource = None

OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1}  # state tensors per parameter
PROC, CGROUP = Path("/proc"), Path("/sys/fs/cgroup")
NO_LIMIT = 1 << 62  # nothing found to read (not Linux, no sysconf): nothing is refused


def format_bytes(n: float) -> str:
    """``n`` bytes in B, KiB, MiB or GiB, with one decimal below 100 (``41.2 GiB``)."""
    units = ["B", "KiB", "MiB", "GiB"]
    while abs(n) >= 1024 and len(units) > 1:
        n, units = n / 1024, units[1:]
    unit = units[0]
    return f"{n:.0f} {unit}" if unit == "B" or abs(n) >= 100 else f"{n:.1f} {unit}"


# --- how much this process can still use ---------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _kib_field(path: Path, key: str) -> int | None:
    """``key: N kB`` of a /proc file, in bytes."""
    for line in (_read(path) or "").splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) * 1024
    return None


def _cgroup_room(directory: Path, limit_file: str, usage_file: str) -> int | None:
    limit, usage = _read(directory / limit_file), _read(directory / usage_file)
    if limit is None or usage is None or limit.strip() == "max":
        return None
    return int(limit) - int(usage)


def cgroup_rooms(proc_cgroup: Path, root: Path) -> Iterator[int]:
    """Limit minus usage of this process's memory cgroup and of each ancestor (a parent's
    limit binds its children too), for cgroup v2 (``0::path``) and v1 (``N:memory:path``)."""
    for line in (_read(proc_cgroup) or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base, files = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        parts = PurePosixPath(path).parts[1:]
        for depth in range(len(parts), -1, -1):
            room = _cgroup_room(base.joinpath(*parts[:depth]), *files)
            if room is not None:
                yield room


def _address_space_room() -> int | None:
    """The soft RLIMIT_AS minus the virtual size already mapped, when a limit is set."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - (_kib_field(PROC / "self" / "status", "VmSize") or 0)


def _free_pages() -> int | None:
    """Free physical memory where there is no /proc (macOS, BSD)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_bytes() -> int:
    """The memory this process can still use: the smallest of the kernel's MemAvailable, the
    room left in its cgroups and the room left under its address-space limit."""
    system = _kib_field(PROC / "meminfo", "MemAvailable")
    rooms = [
        system if system is not None else _free_pages(),
        *cgroup_rooms(PROC / "self" / "cgroup", CGROUP),
        _address_space_room(),
    ]
    return max(0, min((room for room in rooms if room is not None), default=NO_LIMIT))


# --- what training needs --------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step holds at its peak, by kind. The input batch also counts in
    ``activations`` when the first layer saves it (in channels_last training the trainer
    saves a converted copy, so both are held)."""

    parameters: int
    gradients: int
    optimizer_state: int
    activations: int
    batch: int
    data: int
    batch_size: int
    optimizer: str

    @property
    def total(self) -> int:
        return (
            self.parameters
            + self.gradients
            + self.optimizer_state
            + self.activations
            + self.batch
            + self.data
        )

    @property
    def fixed(self) -> int:
        """The part that does not grow with the batch size."""
        return self.parameters + self.gradients + self.optimizer_state + self.data

    def describe(self) -> str:
        state = "Adam moments" if self.optimizer.startswith("adam") else "SGD momentum"
        parts = [
            ("parameters", self.parameters),
            ("gradients", self.gradients),
            (state, self.optimizer_state),
            (f"activations of a batch of {self.batch_size}", self.activations),
            ("inputs and targets", self.batch),
            ("data", self.data),
        ]
        terms = " + ".join(f"{name} {format_bytes(n)}" for name, n in parts if n)
        return f"{terms} = {format_bytes(self.total)}"


@dataclass(frozen=True)
class ActivationTrace:
    """What one forward pass on ``meta`` revealed."""

    saved: int  # distinct storages autograd keeps for backward (no weights, no buffers)
    largest: int  # the largest tensor an operator allocated
    output_shape: tuple[int, ...]


class _Largest(TorchDispatchMode):
    """Remembers the size of the largest tensor an operator allocates (views and in-place
    results share their input's memory and do not count)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {t.untyped_storage()._cdata for t in tensors([args, kwargs])}
        for t in tensors(out):
            if t.untyped_storage()._cdata not in given:
                self.largest = max(self.largest, t.untyped_storage().nbytes())
        return out


class _ActivationTracer(Tracer):
    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.mode = _Largest()

    def operators(self) -> _Largest:
        return self.mode


def _meta_copy(model: nn.Module) -> nn.Module:
    """``model`` on ``meta``, its weights requiring grad as the originals do (the tracer's
    own meta twins do not, and without that autograd records nothing to measure)."""
    memo: dict[int, torch.Tensor] = {}
    for t in itertools.chain(model.parameters(), model.buffers()):
        twin = torch.empty_like(t, device="meta")
        is_parameter = isinstance(t, nn.Parameter)
        memo[id(t)] = nn.Parameter(twin, t.requires_grad) if is_parameter else twin
    return copy.deepcopy(model, memo)


def trace_activations(
    model: nn.Module,
    input_shape: Sequence[int],
    batch_size: int,
    *,
    input_dtype: torch.dtype = torch.float32,
) -> ActivationTrace:
    """One training-mode forward of ``model`` on a meta batch: nothing is allocated.

    Raises:
        TraceError: when the model cannot run on that input (one line).
    """
    twin = _meta_copy(model)
    static = {t.untyped_storage()._cdata for t in [*twin.parameters(), *twin.buffers()]}
    saved: dict[int, torch.UntypedStorage] = {}  # held so that no storage key is reused

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in static and t.numel():
            saved[storage._cdata] = storage
        return t

    x = torch.zeros(batch_size, *input_shape, dtype=input_dtype, device="meta")
    tracer = _ActivationTracer(twin)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output = tracer.run((x,), training=True, grad=True)
    return ActivationTrace(
        saved=sum(s.nbytes() for s in saved.values()),
        largest=tracer.mode.largest,
        output_shape=tuple(main_output(output).shape),
    )


def _distinct_bytes(ts: Sequence[torch.Tensor]) -> int:
    return sum({id(t): t.numel() * t.element_size() for t in ts}.values())


def estimate_training(
    model: nn.Module,
    input_shape: Sequence[int],
    batch_size: int,
    *,
    input_dtype: torch.dtype = torch.float32,
    optimizer: str = "adam",
    momentum: float = 0.9,
    data_bytes: int = 0,
    autocast_dtype: torch.dtype | None = None,
) -> MemoryEstimate:
    """The memory of training ``model`` on batches of ``batch_size`` x ``input_shape``.

    Exact for the activations of the model as built, in float32. Autocast does not act on
    ``meta`` tensors, so with ``autocast_dtype`` the estimate is the float32 one plus the
    reduced-precision weight copies autocast saves: an upper bound, up to about twice the
    activations of a bfloat16 step.

    Args:
        input_shape: one sample's shape (C x H x W, or L token ids).
        optimizer: ``adam``/``adamw`` keep two moments per parameter, ``sgd`` one momentum
            buffer (none when ``momentum`` is 0).
        data_bytes: the prepared data set held in memory during the fit.
    """
    key = optimizer.lower()
    if key not in OPTIMIZER_STATES:
        choices = ", ".join(OPTIMIZER_STATES)
        raise CnnlabError(f"unknown optimizer {optimizer!r}; choose one of: {choices}")
    trace = trace_activations(model, input_shape, batch_size, input_dtype=input_dtype)
    trainable = [p for p in model.parameters() if p.requires_grad]
    gradients = _distinct_bytes(trainable)
    activations = trace.saved + trace.largest
    if autocast_dtype is not None:
        copies = {id(p): p.numel() * autocast_dtype.itemsize for p in trainable}
        activations += sum(copies.values())
    states = 0 if key == "sgd" and momentum == 0 else OPTIMIZER_STATES[key]
    # targets: a class id per sample, or a mask per pixel of the input for 4-D logits
    target_shape = (batch_size, *input_shape[1:]) if len(trace.output_shape) == 4 else (batch_size,)
    batch = batch_size * torch.Size(input_shape).numel() * input_dtype.itemsize
    return MemoryEstimate(
        parameters=_distinct_bytes([*model.parameters(), *model.buffers()]),
        gradients=gradients,
        optimizer_state=states * gradients,
        activations=activations,
        batch=batch + torch.Size(target_shape).numel() * torch.int64.itemsize,
        data=data_bytes,
        batch_size=batch_size,
        optimizer=key,
    )


def largest_batch_size(estimate: MemoryEstimate, budget: float) -> int:
    """The largest batch size whose estimate fits in ``budget`` bytes (0: none does):
    activations and the batch grow linearly with it, the rest does not."""
    per_sample = (estimate.activations + estimate.batch) / estimate.batch_size
    return max(0, int((budget - estimate.fixed) // per_sample))


def check_fits(
    estimate: MemoryEstimate, available: int | None = None, *, headroom: float = 0.8
) -> None:
    """Refuse a run whose estimate exceeds ``headroom`` of the available memory.

    Raises:
        CnnlabError: one line with the figures and the batch size that would fit, or the
            advice to shrink the inputs when even one sample does not.
    """
    available = available_bytes() if available is None else available
    budget = headroom * available
    if estimate.total <= budget:
        return
    fits = largest_batch_size(estimate, budget)
    if fits >= 1:
        fix = f"use --batch-size {fits} (batch_size={fits})"
    else:
        fix = "even a batch of 1 does not fit: use smaller inputs (-m image_size=N) or model"
    raise CnnlabError(
        f"training needs about {estimate.describe()}, more than {headroom:.0%} of the "
        f"{format_bytes(available)} available; {fix}"
    )
