"""Receptive fields carried along the tensors of a traced forward pass.

Every tensor derived from the model input carries one :class:`~cnnlab.arith.ReceptiveField`
per spatial axis. Windowed operators (convolution, transposed convolution, pooling) grow it
with the formulas in :mod:`cnnlab.arith`; operators that only touch channels or values pass it
on; where paths meet (residual add, Inception concatenation, U-Net skip) the largest field over
the incoming paths wins; flattening or global pooling makes a field span the whole feature map.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import torch

from cnnlab.arith import ReceptiveField

WINDOWED_POOLS = {"max_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d"}
REDUCTIONS = {"mean", "sum", "amax", "amin", "max", "min"}


@dataclass(frozen=True)
class SpatialField:
    """Receptive field of a tensor: the spatial tensor dims and one field per such dim.

    After flattening or global pooling no spatial dim is left (``axes == ()``) but ``fields``
    still says how much of the input each value sees.
    """

    axes: tuple[int, ...]
    fields: tuple[ReceptiveField, ...]

    def map(self, step) -> SpatialField:
        return SpatialField(self.axes, tuple(step(i, f) for i, f in enumerate(self.fields)))

    def whole(self, sizes: tuple[int, ...]) -> tuple[ReceptiveField, ...]:
        """Fields after one window covering ``sizes`` positions of every spatial axis."""
        return tuple(f.conv(n) for f, n in zip(self.fields, sizes, strict=True))


def input_field(x: torch.Tensor) -> SpatialField | None:
    """The field of a model input: N x C x spatial... for floats, N x L for token ids."""
    if x.is_floating_point() and x.dim() >= 3:
        axes = tuple(range(2, x.dim()))
    elif not x.is_floating_point() and x.dim() == 2:
        axes = (1,)
    else:
        return None
    return SpatialField(axes, tuple(ReceptiveField.identity() for _ in axes))


def merge(fields: list[SpatialField]) -> SpatialField:
    """Where paths meet, each axis keeps the largest field among them."""
    first = fields[0]
    merged = list(first.fields)
    for other in fields[1:]:
        if len(other.fields) == len(merged):
            merged = [a.merge(b) for a, b in zip(merged, other.fields, strict=True)]
    return SpatialField(first.axes, tuple(merged))


def _ints(value, count: int, default: int) -> list[int]:
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        return [default] * count
    if isinstance(value, int):
        return [value] * count
    values = list(value)
    return values * count if len(values) == 1 else values


def _window(field: SpatialField, kernel, stride, padding, dilation, transposed=False):
    n = len(field.axes)
    k, s = _ints(kernel, n, 1), _ints(stride, n, 1)
    p, d = _ints(padding, n, 0), _ints(dilation, n, 1)
    if transposed:
        return field.map(lambda i, f: f.transposed(k[i], s[i], p[i], d[i]))
    return field.map(lambda i, f: f.conv(k[i], s[i], p[i], d[i]))


def propagate(name: str, args, out: torch.Tensor, field_of) -> SpatialField | None:
    """Field of the output of one operator call, or None when it does not depend on the input.

    Args:
        name: short ATen operator name.
        args: the call's positional arguments.
        out: the first output tensor.
        field_of: maps a tensor to its field (None for parameters and constants).
    """
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    for a in args:
        if isinstance(a, list | tuple):
            tensors += [t for t in a if isinstance(t, torch.Tensor)]
    known = [f for f in map(field_of, tensors) if f is not None]
    if not known:
        return None
    first = field_of(args[0]) if isinstance(args[0], torch.Tensor) else None
    if name in ("convolution", "_convolution") and first is not None:
        return _window(first, args[1].shape[2:], args[3], args[4], args[5], bool(args[6]))
    if name in WINDOWED_POOLS and first is not None:
        kernel = args[1]
        stride = args[2] if len(args) > 2 and args[2] else kernel
        padding = args[3] if len(args) > 3 else 0
        dilation = args[4] if name.startswith("max") and len(args) > 4 else 1
        return _window(first, kernel, stride, padding, dilation)
    if name in ("_adaptive_avg_pool2d", "adaptive_max_pool2d") and first is not None:
        sizes = [args[0].shape[a] for a in first.axes]
        kernel = [ceil(n / o) for n, o in zip(sizes, args[1], strict=True)]
        stride = [max(n // o, 1) for n, o in zip(sizes, args[1], strict=True)]
        return _window(first, kernel, stride, 0, 1)
    if first is not None and len(known) == 1:
        return _reshaped(name, args, out, first)
    return merge(known)


def _reshaped(name: str, args, out: torch.Tensor, field: SpatialField) -> SpatialField:
    """Operators with one traced input that may reduce, move, crop or pad spatial dims."""
    x = args[0]
    sizes = tuple(x.shape[a] for a in field.axes)
    if name in REDUCTIONS and len(args) > 1 and isinstance(args[1], list | tuple | int):
        dims = {d % x.dim() for d in _ints(args[1], 1, 0)}
        if dims & set(field.axes):
            return SpatialField((), field.whole(sizes))
        return field
    if name in ("transpose", "permute"):
        order = list(range(x.dim()))
        if name == "transpose":
            a, b = args[1] % x.dim(), args[2] % x.dim()
            order[a], order[b] = order[b], order[a]
        else:
            order = [d % x.dim() for d in args[1]]
        return SpatialField(tuple(order.index(a) for a in field.axes), field.fields)
    if name == "slice" and len(args) > 2:
        dim = args[1] % x.dim()
        start = args[2] or 0
        if dim in field.axes and start:
            i = field.axes.index(dim)
            return field.map(
                lambda j, f: (
                    ReceptiveField(f.size, f.jump, f.start + start * f.jump) if j == i else f
                )
            )
        return field
    if name == "constant_pad_nd":
        pads = list(args[1])
        befores = {x.dim() - 1 - k: pads[2 * k] for k in range(len(pads) // 2)}
        return field.map(
            lambda j, f: ReceptiveField(
                f.size, f.jump, f.start - befores.get(field.axes[j], 0) * f.jump
            )
        )
    out_sizes = (
        tuple(out.shape[a] for a in field.axes) if out.dim() > max(field.axes, default=-1) else None
    )
    if out_sizes == sizes or not field.axes:
        return field
    if out.numel() // max(out.shape[0], 1) == x.numel() // max(x.shape[0], 1):
        return SpatialField((), field.whole(sizes))
    return field
