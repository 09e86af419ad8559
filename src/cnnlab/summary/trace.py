"""Trace one forward pass and collect a row per layer call: shape, parameters, MACs, field.

Two mechanisms work together. The module hooks of :class:`cnnlab.tracing.Tracer` drive a stack
of the modules being called, which gives every row its hierarchical name in call order. A
``TorchDispatchMode`` sees every ATen operator underneath, whether it came from a module or a
functional call, and charges its MACs, memory and receptive field to the innermost module.
Operators called directly by a container's own ``forward`` (``out + identity``, ``torch.cat``,
``x @ w``) get rows of their own.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnlab.summary import ops
from cnnlab.summary.receptive import SpatialField, input_field, propagate
from cnnlab.tracing import Tracer, is_leaf, tensors


@dataclass
class LayerRow:
    """One layer call (a leaf module, or a functional operator in a container's forward)."""

    name: str
    type: str
    output_shape: tuple[int, ...] = ()
    params: int = 0
    macs: int = 0
    field: SpatialField | None = None


@dataclass
class Trace:
    """Everything one traced forward pass produced."""

    rows: list[LayerRow]
    uncounted: Counter = field(default_factory=Counter)
    activation_bytes: int = 0
    saved_bytes: int = 0


def _storage_key(t: torch.Tensor) -> int:
    """Identity of the memory behind ``t``: views share it. Works on the ``meta`` device too,
    where every data pointer is 0, so a model can be summarized without computing anything."""
    return t.untyped_storage()._cdata


class _Recorder(TorchDispatchMode):
    """Charges each ATen call to the innermost module on the stack."""

    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.tracer.record(ops.op_name(func), args, out)
        return out


class _Tracer(Tracer):
    """Rows from the leaf calls of the core's record, MACs and fields from the operators."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.stack: list[tuple[nn.Module, LayerRow | None]] = []
        self.rows: list[LayerRow] = []
        self.counted_params: set[int] = set()
        self.fields: dict[int, tuple[object, SpatialField]] = {}
        self.requires_grad: set[int] = set()
        self.uncounted: Counter = Counter()
        self.static = {
            _storage_key(t) for t in [*model.parameters(), *model.buffers()] if t.numel()
        }
        # Storages are held until the trace ends so that a freed one's key is never reused.
        self.produced: dict[int, torch.UntypedStorage] = {}
        self.saved: dict[int, torch.UntypedStorage] = {}
        self.activation_bytes = 0

    def operators(self) -> _Recorder:
        return _Recorder(self)

    def field_of(self, t: torch.Tensor) -> SpatialField | None:
        entry = self.fields.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def set_field(self, t: torch.Tensor, value: SpatialField | None) -> None:
        if value is not None:
            self.fields[id(t)] = (weakref.ref(t), value)

    def add_input(self, x: torch.Tensor) -> None:
        self.set_field(x, input_field(x))
        if x.requires_grad:
            self.requires_grad.add(id(x))

    def enter(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        row = LayerRow(self.names[module], type(module).__name__) if is_leaf(module) else None
        own = list(module.parameters(recurse=False))
        if row is None and own:
            row = LayerRow(self.names[module], f"{type(module).__name__} (own parameters)")
            self.rows.append(row)
            row.params = self._new_params(own)
            row = None
        self.stack.append((module, row))

    def leave(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        _, row = self.stack.pop()
        if row is None:
            return
        row.params = self._new_params(list(module.parameters()))
        shapes = self.calls[-1].output_shapes
        if shapes:
            row.output_shape = shapes[0]
            row.field = self.field_of(tensors(output)[0])
        self.rows.append(row)

    def _new_params(self, params: list[nn.Parameter]) -> int:
        """Parameters not yet charged to an earlier row (shared weights count once)."""
        total = 0
        for p in params:
            if id(p) not in self.counted_params:
                self.counted_params.add(id(p))
                total += p.numel()
        return total

    def record(self, name: str, args, out) -> None:
        outputs = out if isinstance(out, tuple | list) else (out,)
        tensors = [o for o in outputs if isinstance(o, torch.Tensor)]
        if not tensors:
            return
        flat_args = list(args)
        for a in args:
            if isinstance(a, list | tuple):
                flat_args += list(a)
        self._memory(name, args, flat_args, tensors)
        result = propagate(name, args, tensors[0], self.field_of)
        for t in tensors:
            self.set_field(t, result)
        if name in ops.PLUMBING:
            return
        count = ops.macs(name, args, tensors[0])
        if count is None:
            self.uncounted[name] += 1
        top = self.stack[-1][1] if self.stack else None
        if top is not None:
            top.macs += count or 0
            return
        owner = self.names.get(self.stack[-1][0], "") if self.stack else ""
        row = LayerRow(f"{owner}.{name}" if owner else name, "functional")
        row.output_shape, row.macs, row.field = tuple(tensors[0].shape), count or 0, result
        self.rows.append(row)

    def _memory(self, name, args, flat_args, outputs) -> None:
        """Bytes produced by this call, and the activations autograd keeps from it."""
        for t in outputs:
            key = _storage_key(t)
            if key not in self.produced and key not in self.static and t.numel():
                self.produced[key] = t.untyped_storage()
                self.activation_bytes += t.untyped_storage().nbytes()
        grad = torch.is_grad_enabled() and any(
            isinstance(a, torch.Tensor) and (a.requires_grad or id(a) in self.requires_grad)
            for a in flat_args
        )
        if not grad:
            return
        for t in outputs:
            self.requires_grad.add(id(t))
        for t in ops.saved_for_backward(name, args, outputs):
            key = _storage_key(t)
            if key not in self.static and t.numel():
                self.saved[key] = t.untyped_storage()


def trace(model: nn.Module, inputs: tuple[torch.Tensor, ...], training: bool = False) -> Trace:
    """Run ``model(*inputs)`` once (gradients enabled, no backward) and collect the rows.

    Raises:
        TraceError: when the model cannot run on ``inputs`` (one line).
    """
    tracer = _Tracer(model)
    for x in inputs:
        tracer.add_input(x)
    tracer.run(inputs, training=training, grad=True)
    return Trace(
        rows=tracer.rows,
        uncounted=tracer.uncounted,
        activation_bytes=tracer.activation_bytes,
        saved_bytes=sum(storage.nbytes() for storage in tracer.saved.values()),
    )
