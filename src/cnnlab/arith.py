"""Convolution arithmetic: output sizes, parameters, multiplications and receptive fields.

This module is the one place where these numbers are computed; layers, the summary, the
explainers and the tests all call it. Sizes follow the notes (and Dumoulin & Visin, "A guide
to convolution arithmetic for deep learning", 2016), extended with dilation ``d`` and groups:

- convolution and pooling, per spatial axis:
  ``floor((n + p_before + p_after - d(f-1) - 1) / s) + 1``
  (the notes' ``floor((n + 2p - f) / s + 1)`` when ``d = 1`` and padding is symmetric);
- transposed convolution: ``(n - 1)s - p_before - p_after + d(f-1) + output_padding + 1``
  (the notes' ``(n - 1)s + f - 2p``);
- parameters: ``(f_h * f_w * c_in / groups + 1) * c_out`` (one bias per filter);
- multiplications (MACs): ``H_out * W_out * c_out * f_h * f_w * c_in / groups`` for a convolution,
  and ``H_in * W_in * c_in * c_out / groups * f_h * f_w`` for a transposed convolution (the
  non-zero products; the zeros inserted by the notes' recipe are not multiplications).

Padding is an integer (symmetric), ``"valid"`` (no padding) or ``"same"`` with Keras/TensorFlow
semantics: the output has ``ceil(n / s)`` positions and any odd total padding puts the extra
row or column after (bottom/right), which is reported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Literal

from cnnlab.errors import CnnlabError
from cnnlab.shapes import parse_dims, parse_pair

PaddingSpec = int | str
Kind = Literal["conv", "pool", "transposed"]


def _check_at_least(value: int, minimum: int, name: str) -> None:
    if not isinstance(value, int) or value < minimum:
        raise CnnlabError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: ``d(f - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def same_padding(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow ``"same"`` padding along one axis, as ``(before, after)``.

    The output has ``ceil(n / s)`` positions; the total padding is
    ``max((ceil(n / s) - 1) * s + d(f - 1) + 1 - n, 0)`` and the odd pixel goes after.
    """
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + effective_kernel(kernel, dilation) - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: PaddingSpec, n: int, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """Turn ``"same"``, ``"valid"`` or an integer into ``(before, after)`` for one axis."""
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(n, kernel, stride, dilation)
        if mode.isdecimal():
            padding = int(mode)
        else:
            raise CnnlabError(
                f"padding must be 'same', 'valid' or an integer >= 0. Received: padding={padding!r}"
            )
    _check_at_least(padding, 0, "padding")
    return padding, padding


def conv_output_length(
    n: int, kernel: int, stride: int = 1, padding: PaddingSpec = 0, dilation: int = 1
) -> int:
    """Output positions of a convolution or pooling along one axis.

    ``floor((n + p_before + p_after - d(f - 1) - 1) / s) + 1``

    Raises:
        CnnlabError: when an argument is out of range or the (dilated) kernel does not fit
            in the padded input.
    """
    for value, name in ((n, "input size"), (kernel, "kernel"), (stride, "stride")):
        _check_at_least(value, 1, name)
    _check_at_least(dilation, 1, "dilation")
    before, after = resolve_padding(padding, n, kernel, stride, dilation)
    extent = effective_kernel(kernel, dilation)
    padded = n + before + after
    if extent > padded:
        raise CnnlabError(
            f"kernel {kernel} (extent {extent} with dilation {dilation}) is larger than the padded "
            f"input {padded} = {n} + {before} + {after}; use a smaller kernel or more padding"
        )
    return (padded - extent) // stride + 1


def pool_output_length(
    n: int,
    kernel: int,
    stride: int | None = None,
    padding: PaddingSpec = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output positions of a pooling window along one axis (stride defaults to the kernel).

    With ``ceil_mode`` (PyTorch's option) the floor becomes a ceiling, but the last window must
    still start inside the input or its left padding.
    """
    stride = kernel if stride is None else stride
    out = conv_output_length(n, kernel, stride, padding, dilation)
    if not ceil_mode:
        return out
    before, after = resolve_padding(padding, n, kernel, stride, dilation)
    extent = effective_kernel(kernel, dilation)
    out = -(-(n + before + after - extent) // stride) + 1
    if (out - 1) * stride >= n + before:
        out -= 1
    return out


def transposed_padding(
    padding: PaddingSpec, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """``(before, after)`` cropping of a transposed convolution.

    ``"valid"`` is 0; ``"same"`` (Keras semantics, output ``n * s``) needs a total of
    ``d(f - 1) + 1 - s``, the odd pixel after.
    """
    if isinstance(padding, str) and padding.strip().lower() == "same":
        total = effective_kernel(kernel, dilation) - stride
        if total < 0:
            raise CnnlabError(
                f"'same' transposed padding needs kernel extent >= stride. "
                f"Received: kernel={kernel}, dilation={dilation}, stride={stride}"
            )
        return total // 2, total - total // 2
    return resolve_padding(padding, 1, kernel, stride, dilation)


def transposed_output_length(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: PaddingSpec = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Output positions of a transposed convolution along one axis.

    ``(n - 1)s - p_before - p_after + d(f - 1) + output_padding + 1``

    ``output_padding`` must be smaller than the stride or the dilation (as in PyTorch): it
    picks one of the ``s`` input sizes that a strided convolution maps to the same output.
    """
    for value, name in ((n, "input size"), (kernel, "kernel"), (stride, "stride")):
        _check_at_least(value, 1, name)
    _check_at_least(dilation, 1, "dilation")
    _check_at_least(output_padding, 0, "output_padding")
    if output_padding >= max(stride, dilation):
        raise CnnlabError(
            "output_padding must be smaller than the stride or the dilation. "
            f"Received: output_padding={output_padding}, stride={stride}, dilation={dilation}"
        )
    before, after = transposed_padding(padding, kernel, stride, dilation)
    out = (n - 1) * stride - before - after + effective_kernel(kernel, dilation) + output_padding
    if out < 1:
        raise CnnlabError(
            f"padding {before}+{after} crops the whole output of the transposed convolution "
            f"(n={n}, kernel={kernel}, stride={stride}); use less padding"
        )
    return out


def conv_params(
    kernel: tuple[int, int], in_channels: int, out_channels: int, groups: int = 1, bias: bool = True
) -> int:
    """Trainable parameters of a convolution (plain or transposed).

    ``(f_h * f_w * c_in / groups + 1) * c_out``: each of the ``c_out`` filters has one kernel
    per input channel of its group and one bias.
    """
    check_groups(in_channels, out_channels, groups)
    return (kernel[0] * kernel[1] * in_channels // groups + int(bias)) * out_channels


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    """Both channel counts must split evenly into the groups."""
    _check_at_least(in_channels, 1, "in_channels")
    _check_at_least(out_channels, 1, "filters")
    _check_at_least(groups, 1, "groups")
    if in_channels % groups or out_channels % groups:
        raise CnnlabError(
            "input channels and filters must both be divisible by groups. "
            f"Received: channels={in_channels}, filters={out_channels}, groups={groups}"
        )


def conv_macs(
    output_hw: tuple[int, int],
    kernel: tuple[int, int],
    in_channels: int,
    out_channels: int,
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a convolution: ``H_out * W_out * c_out * f_h * f_w * c_in / g``."""
    return (
        output_hw[0] * output_hw[1] * out_channels * kernel[0] * kernel[1] * in_channels // groups
    )


def transposed_macs(
    input_hw: tuple[int, int],
    kernel: tuple[int, int],
    in_channels: int,
    out_channels: int,
    groups: int = 1,
) -> int:
    """Non-zero multiplications of a transposed convolution, counted on the input size.

    ``H_in * W_in * c_in * c_out / groups * f_h * f_w``: every input pixel is multiplied by
    every kernel weight once. The notes' zero-insertion recipe performs more products
    (:func:`conv_macs` on the output size), but the extra ones are multiplications by zero.
    """
    return input_hw[0] * input_hw[1] * in_channels * out_channels // groups * kernel[0] * kernel[1]


@dataclass(frozen=True)
class LayerArithmetic:
    """Everything the notes compute for one layer, in their H x W x C notation."""

    kind: Kind
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    output_padding: tuple[int, int]
    groups: int
    bias: bool
    params: int
    macs: int

    def to_json(self) -> dict:
        """The machine-readable form printed by ``cnnlab arith --json``."""
        data: dict = {
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
        }
        for key, value in asdict(self).items():
            data.setdefault(key, list(value) if isinstance(value, tuple) else value)
        return data


def _axis_inputs(input_shape, kernel, stride, dilation):
    h, w, c = parse_dims(input_shape, 3, "input (H x W x C)")
    return (
        (h, w, c),
        parse_pair(kernel, "kernel"),
        parse_pair(stride, "stride"),
        parse_pair(dilation, "dilation"),
    )


def _parse_padding(padding: PaddingSpec) -> tuple[PaddingSpec, PaddingSpec]:
    """Padding per axis: ``"same"``, ``"valid"``, ``1`` or ``"1x2"`` (height x width)."""
    if isinstance(padding, str) and "x" in padding.lower():
        parts = padding.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdecimal() for p in parts):
            return int(parts[0]), int(parts[1])
        raise CnnlabError(f"padding must be N, HxW, 'same' or 'valid'. Received: {padding!r}")
    return padding, padding


def _per_axis(length, padding_of, dims, kernel, stride, dilation, padding):
    """Output size and ``(before, after)`` padding of the height and the width axis.

    ``length(n, f, s, p, d)`` and ``padding_of(p, n, f, s, d)`` are the layer kind's rules.
    """
    sizes, pads = [], []
    for axis, pad in enumerate(_parse_padding(padding)):
        args = (dims[axis], kernel[axis], stride[axis])
        sizes.append(length(*args, pad, dilation[axis]))
        pads += padding_of(pad, *args, dilation[axis])
    return tuple(sizes), tuple(pads)


def conv2d(
    input_shape,
    kernel,
    filters: int,
    stride=1,
    padding: PaddingSpec = 0,
    dilation=1,
    groups: int = 1,
    bias: bool = True,
) -> LayerArithmetic:
    """Arithmetic of a 2D convolution on an ``H x W x C`` input.

    Example (the notes' first layer of AlexNet):
        >>> conv2d("227x227x3", 11, 96, stride=4).to_json()["output_shape"]
        [55, 55, 96]
    """
    (h, w, c), k, s, d = _axis_inputs(input_shape, kernel, stride, dilation)
    check_groups(c, filters, groups)
    (out_h, out_w), pads = _per_axis(conv_output_length, resolve_padding, (h, w), k, s, d, padding)
    return LayerArithmetic(
        kind="conv",
        input_shape=(h, w, c),
        output_shape=(out_h, out_w, filters),
        kernel=k,
        stride=s,
        dilation=d,
        padding=pads,
        output_padding=(0, 0),
        groups=groups,
        bias=bias,
        params=conv_params(k, c, filters, groups, bias),
        macs=conv_macs((out_h, out_w), k, c, filters, groups),
    )


def pool2d(
    input_shape, kernel, stride=None, padding: PaddingSpec = 0, dilation=1, ceil_mode: bool = False
) -> LayerArithmetic:
    """Arithmetic of max or average pooling: channels unchanged, no parameters, no MACs."""
    (h, w, c), k, s, d = _axis_inputs(input_shape, kernel, stride or kernel, dilation)
    (out_h, out_w), pads = _per_axis(
        lambda n, f, s_, p, d_: pool_output_length(n, f, s_, p, d_, ceil_mode),
        resolve_padding,
        (h, w),
        k,
        s,
        d,
        padding,
    )
    return LayerArithmetic(
        kind="pool",
        input_shape=(h, w, c),
        output_shape=(out_h, out_w, c),
        kernel=k,
        stride=s,
        dilation=d,
        padding=pads,
        output_padding=(0, 0),
        groups=1,
        bias=False,
        params=0,
        macs=0,
    )


def conv_transpose2d(
    input_shape,
    kernel,
    filters: int,
    stride=1,
    padding: PaddingSpec = 0,
    output_padding=0,
    dilation=1,
    groups: int = 1,
    bias: bool = True,
) -> LayerArithmetic:
    """Arithmetic of a 2D transposed convolution on an ``H x W x C`` input.

    Example (the notes' second table: 3x3 input, kernel 3, stride 2, padding 1):
        >>> conv_transpose2d("3x3x1", 3, 1, stride=2, padding=1).output_shape
        (5, 5, 1)
    """
    (h, w, c), k, s, d = _axis_inputs(input_shape, kernel, stride, dilation)
    check_groups(c, filters, groups)
    op = parse_pair(output_padding, "output_padding", minimum=0)
    pad_h, pad_w = _parse_padding(padding)
    out_h = transposed_output_length(h, k[0], s[0], pad_h, d[0], op[0])
    out_w = transposed_output_length(w, k[1], s[1], pad_w, d[1], op[1])
    top, bottom = transposed_padding(pad_h, k[0], s[0], d[0])
    left, right = transposed_padding(pad_w, k[1], s[1], d[1])
    return LayerArithmetic(
        kind="transposed",
        input_shape=(h, w, c),
        output_shape=(out_h, out_w, filters),
        kernel=k,
        stride=s,
        dilation=d,
        padding=(top, bottom, left, right),
        output_padding=op,
        groups=groups,
        bias=bias,
        params=conv_params(k, c, filters, groups, bias),
        macs=transposed_macs((h, w), k, c, filters, groups),
    )


@dataclass(frozen=True)
class BottleneckComparison:
    """The notes' Inception cost table: a direct convolution vs a 1x1 bottleneck before it."""

    direct: LayerArithmetic
    reduce: LayerArithmetic
    conv: LayerArithmetic

    @property
    def bottleneck_params(self) -> int:
        return self.reduce.params + self.conv.params

    @property
    def bottleneck_macs(self) -> int:
        return self.reduce.macs + self.conv.macs

    @property
    def macs_ratio(self) -> float:
        return self.direct.macs / self.bottleneck_macs

    @property
    def params_ratio(self) -> float:
        return self.direct.params / self.bottleneck_params

    def to_json(self) -> dict:
        return {
            "direct": self.direct.to_json(),
            "bottleneck": [self.reduce.to_json(), self.conv.to_json()],
            "bottleneck_params": self.bottleneck_params,
            "bottleneck_macs": self.bottleneck_macs,
            "macs_ratio": self.macs_ratio,
            "params_ratio": self.params_ratio,
        }


def bottleneck_comparison(
    input_shape, kernel, filters: int, bottleneck: int, stride=1, padding: PaddingSpec = "same"
) -> BottleneckComparison:
    """Compare ``kernel`` conv with ``filters`` against 1x1 conv to ``bottleneck`` then the same.

    With the notes' numbers (28x28x192, 5x5 same, 32 filters, 16 in the bottleneck) the direct
    convolution needs 120,422,400 multiplications and the bottleneck path 12,443,648.
    """
    direct = conv2d(input_shape, kernel, filters, stride, padding)
    reduce = conv2d(input_shape, 1, bottleneck)
    conv = conv2d(reduce.output_shape, kernel, filters, stride, padding)
    return BottleneckComparison(direct, reduce, conv)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output position along one axis, in input pixels.

    ``size``: how many input pixels can influence it; ``jump``: the distance in input pixels
    between two neighbouring outputs (the product of the strides so far); ``start``: the input
    coordinate of the centre of the first output's field (pixel centres are 0, 1, ...;
    negative values reach into the padding).
    """

    size: int
    jump: Fraction
    start: Fraction

    @classmethod
    def identity(cls) -> ReceptiveField:
        return cls(1, Fraction(1), Fraction(0))

    def conv(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1):
        """After a convolution or pooling window (Araujo et al., Distill 2019, eq. 1-3).

        ``size' = size + (d(f-1)) * jump``, ``jump' = jump * s``,
        ``start' = start + (d(f-1)/2 - p_before) * jump``.
        """
        extent = effective_kernel(kernel, dilation) - 1
        return ReceptiveField(
            size=self.size + int(extent * self.jump),
            jump=self.jump * stride,
            start=self.start + (Fraction(extent, 2) - padding) * self.jump,
        )

    def transposed(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1):
        """After a transposed convolution: outputs are ``s`` times denser than inputs.

        An output reads the input pixels whose kernel taps land on it: at most one per residue
        class of ``k * d`` modulo ``s``; ``size`` grows by the widest such span (the largest
        field over the output positions).
        """
        spans = {}
        for k in range(kernel):
            residue = (k * dilation) % stride
            low, high = spans.get(residue, (k, k))
            spans[residue] = (min(low, k), max(high, k))
        widest = max((high - low) * dilation // stride for low, high in spans.values())
        extent = effective_kernel(kernel, dilation) - 1
        return ReceptiveField(
            size=self.size + int(widest * self.jump),
            jump=self.jump / stride,
            start=self.start + (padding - Fraction(extent, 2)) / stride * self.jump,
        )

    def merge(self, other: ReceptiveField) -> ReceptiveField:
        """Where two paths meet (add, concatenate), the larger field wins."""
        return self if self.size >= other.size else other


def receptive_fields(layers: list[dict]) -> list[ReceptiveField]:
    """Receptive field after each layer of a chain, along one axis.

    Args:
        layers: dicts with ``kernel`` and optional ``stride``, ``padding`` (int, before),
            ``dilation`` and ``transposed`` (bool).

    Returns:
        One :class:`ReceptiveField` per layer.
    """
    field = ReceptiveField.identity()
    out = []
    for layer in layers:
        step = field.transposed if layer.get("transposed") else field.conv
        field = step(
            layer["kernel"],
            layer.get("stride", 1),
            layer.get("padding", 0),
            layer.get("dilation", 1),
        )
        out.append(field)
    return out
