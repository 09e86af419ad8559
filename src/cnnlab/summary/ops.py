"""Counting rules for the ATen operators a forward pass dispatches, one function per rule.

The summary sees every operator (module or functional call alike) at the ATen level, so the
rules below cover ``F.conv2d``, ``torch.matmul`` and ``x @ w`` as well as ``nn.Conv2d``:

- ``convolution`` (plain, grouped, dilated, 1D/2D/3D):
  ``N * prod(out_spatial) * c_out * prod(k) * c_in/g`` (the MACs of :func:`cnnlab.arith.conv_macs`);
- ``convolution`` with ``transposed=True``: counted on the input size,
  ``N * prod(in_spatial) * c_in * c_out/g * prod(k)`` (:func:`cnnlab.arith.transposed_macs`);
- ``mm``/``addmm`` ``(n x k) @ (k x m)``: ``n * k * m``; ``bmm``/``baddbmm``: ``b * n * k * m``
  (``nn.Linear`` and ``torch.matmul`` decompose into these).

These are the rules of ``torch.utils.flop_counter.FlopCounterMode`` (which reports FLOPs =
2 x MACs); the tests cross-check the totals against it. Every other operator that computes
something is listed by name with its call count as "not counted", never dropped silently.
"""

from __future__ import annotations

from math import prod

import torch

# Operators that only move, view or copy data: no arithmetic, nothing to report.
PLUMBING = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "alias",
        "detach",
        "t",
        "transpose",
        "permute",
        "expand",
        "squeeze",
        "unsqueeze",
        "clone",
        "contiguous",
        "_to_copy",
        "copy_",
        "slice",
        "select",
        "split",
        "split_with_sizes",
        "unbind",
        "empty",
        "empty_like",
        "zeros",
        "zeros_like",
        "ones_like",
        "fill_",
        "zero_",
        "new_zeros",
        "new_empty",
        "lift_fresh",
        "_reshape_alias",
        "as_strided",
        "_local_scalar_dense",
        "flatten",
        "unflatten",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "is_same_size",
    }
)


def op_name(func) -> str:
    """Short ATen name of an overload: ``aten.convolution.default`` -> ``convolution``."""
    return func.overloadpacket.__name__


def macs(name: str, args, out) -> int | None:
    """Multiply-accumulates of one operator call, or None when it has no MAC rule."""
    if name in ("convolution", "_convolution"):
        x, weight, transposed = args[0], args[1], bool(args[6])
        if transposed:
            return x.shape[0] * prod(x.shape[2:]) * x.shape[1] * prod(weight.shape[1:])
        # weight: c_out x c_in/g x k...; out: N x c_out x spatial...
        return out.numel() * prod(weight.shape[1:])
    if name in ("mm", "addmm"):
        a, b = (args[0], args[1]) if name == "mm" else (args[1], args[2])
        return a.shape[0] * a.shape[1] * b.shape[1]
    if name in ("bmm", "baddbmm"):
        a, b = (args[0], args[1]) if name == "bmm" else (args[1], args[2])
        return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    return None


def _tensors(values) -> list[torch.Tensor]:
    return [v for v in values if isinstance(v, torch.Tensor)]


def saved_for_backward(name: str, args, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Tensors autograd keeps from this call until backward (PyTorch's ``derivatives.yaml``).

    Parameters and buffers are filtered out by the caller: only activations count.
    """
    if name in ("convolution", "_convolution", "mm", "bmm"):
        return _tensors(args[:2])
    if name in ("addmm", "baddbmm"):
        return _tensors(args[1:3])
    if name in ("relu", "relu_", "sigmoid", "tanh", "_softmax", "_log_softmax", "hardtanh"):
        return outputs[:1]
    if name in ("threshold", "leaky_relu", "gelu", "silu", "elu", "hardswish", "mish"):
        return _tensors(args[:1])
    if name in ("max_pool2d_with_indices", "max_pool1d_with_indices", "max_pool3d_with_indices"):
        return [args[0], outputs[1]]
    if name in ("avg_pool2d", "avg_pool1d", "_adaptive_avg_pool2d", "adaptive_max_pool2d"):
        return [args[0], *outputs[1:]]
    if name in ("native_batch_norm", "_native_batch_norm_legit", "cudnn_batch_norm"):
        return [args[0], *outputs[1:3]]
    if name == "_native_batch_norm_legit_no_training":
        return [args[0]]
    if name in ("native_dropout",):
        return outputs[1:2]
    if name in ("mul", "div"):
        return _tensors(args[:2])
    if name in ("amax", "max", "amin", "min"):
        return [args[0], outputs[0]]
    if name == "embedding":
        return _tensors(args[1:2])
    if name == "native_layer_norm":
        return [args[0], *outputs[1:3]]
    return []
