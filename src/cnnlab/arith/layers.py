"""One 2D layer in the course notes' H x W x C notation: output shape, padding, parameters and
MACs.

:func:`conv2d`, :func:`pool2d` and :func:`conv_transpose2d` parse the command-line forms
(``"28x28x3"``, ``3`` or ``"3x5"``, ``"same"`` or ``"1x2"``) and apply the one-axis formulas of
:mod:`cnnlab.arith.sizes` to the height and the width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from cnnlab.arith.counts import check_groups, conv_macs, conv_params, transposed_macs
from cnnlab.arith.report import layer_html, layer_repr
from cnnlab.arith.sizes import (
    PaddingSpec,
    conv_output_length,
    pool_output_length,
    resolve_padding,
    transposed_output_length,
    transposed_padding,
)
from cnnlab.errors import CnnlabError
from cnnlab.shapes import parse_dims, parse_pair

Kind = Literal["conv", "pool", "transposed"]
ShapeSpec = str | tuple[int, ...]
PairSpec = int | str | tuple[int, int]
AxisRule = Callable[[int, int, int, PaddingSpec, int, int], tuple[int, tuple[int, int]]]
"""``(n, f, s, p, d, output_padding) -> (output size, (p_before, p_after))`` along one axis."""


@dataclass(frozen=True)
class LayerArithmetic:
    """Everything the course notes compute for one layer, in their H x W x C notation."""

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
    ceil_mode: bool = False

    def to_json(self) -> dict:
        """The machine-readable form printed by ``cnnlab arith --json`` (``ceil_mode`` only
        for pooling, the one kind that has it)."""
        data: dict = {
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
        }
        for key, value in asdict(self).items():
            data.setdefault(key, list(value) if isinstance(value, tuple) else value)
        if self.kind != "pool":
            data.pop("ceil_mode")
        return data

    def __repr__(self) -> str:
        return layer_repr(self)

    def _repr_html_(self) -> str:
        """The numbers and the formulas that give them, in a notebook."""
        return layer_html(self)


def _parse_padding(padding: PaddingSpec) -> tuple[PaddingSpec, PaddingSpec]:
    """Padding per axis: ``"same"``, ``"valid"``, ``1`` or ``"1x2"`` (height x width)."""
    if isinstance(padding, str) and "x" in padding.lower():
        parts = padding.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdecimal() for p in parts):
            return int(parts[0]), int(parts[1])
        raise CnnlabError(f"padding must be N, HxW, 'same' or 'valid'. Received: {padding!r}")
    return padding, padding


def _conv_axis(
    n: int, f: int, s: int, p: PaddingSpec, d: int, op: int
) -> tuple[int, tuple[int, int]]:
    """Convolution: ``floor((n + p_before + p_after - d(f - 1) - 1) / s) + 1`` (``op`` is 0)."""
    return conv_output_length(n, f, s, p, d), resolve_padding(p, n, f, s, d)


def _transposed_axis(
    n: int, f: int, s: int, p: PaddingSpec, d: int, op: int
) -> tuple[int, tuple[int, int]]:
    """Transposed convolution: ``(n - 1)s - p_before - p_after + d(f - 1) + op + 1``."""
    return transposed_output_length(n, f, s, p, d, op), transposed_padding(p, f, s, d)


def _layer(
    kind: Kind,
    input_shape: ShapeSpec,
    kernel: PairSpec,
    stride: PairSpec,
    dilation: PairSpec,
    padding: PaddingSpec,
    axis_rule: AxisRule,
    filters: int | None = None,
    groups: int = 1,
    bias: bool = False,
    output_padding: PairSpec = 0,
) -> LayerArithmetic:
    """Parse the options, apply ``axis_rule`` to the height and the width, count.

    ``filters=None`` is a pooling layer: channels unchanged, no parameters, no MACs.
    """
    h, w, c = parse_dims(input_shape, 3, "input (H x W x C)")
    k, s, d = (
        parse_pair(kernel, "kernel"),
        parse_pair(stride, "stride"),
        parse_pair(dilation, "dilation"),
    )
    if filters is not None:
        check_groups(c, filters, groups)
    op = parse_pair(output_padding, "output_padding", minimum=0)
    sizes: list[int] = []
    pads: list[int] = []
    for axis, (n, p) in enumerate(zip((h, w), _parse_padding(padding), strict=True)):
        size, before_after = axis_rule(n, k[axis], s[axis], p, d[axis], op[axis])
        sizes.append(size)
        pads += before_after
    out_hw = (sizes[0], sizes[1])
    if filters is None:
        channels, params, macs = c, 0, 0
    else:
        channels, params = filters, conv_params(k, c, filters, groups, bias)
        if kind == "transposed":
            macs = transposed_macs((h, w), k, c, filters, groups)
        else:
            macs = conv_macs(out_hw, k, c, filters, groups)
    return LayerArithmetic(
        kind=kind,
        input_shape=(h, w, c),
        output_shape=(*out_hw, channels),
        kernel=k,
        stride=s,
        dilation=d,
        padding=(pads[0], pads[1], pads[2], pads[3]),
        output_padding=op,
        groups=groups,
        bias=bias,
        params=params,
        macs=macs,
    )


def conv2d(
    input_shape: ShapeSpec,
    kernel: PairSpec,
    filters: int,
    stride: PairSpec = 1,
    padding: PaddingSpec = 0,
    dilation: PairSpec = 1,
    groups: int = 1,
    bias: bool = True,
) -> LayerArithmetic:
    """Arithmetic of a 2D convolution on an ``H x W x C`` input.

    Example (AlexNet's first layer, worked in the course notes' "Inception Block"):
        >>> conv2d("227x227x3", 11, 96, stride=4).to_json()["output_shape"]
        [55, 55, 96]
    """
    return _layer(
        "conv", input_shape, kernel, stride, dilation, padding, _conv_axis, filters, groups, bias
    )


def pool2d(
    input_shape: ShapeSpec,
    kernel: PairSpec,
    stride: PairSpec | None = None,
    padding: PaddingSpec = 0,
    dilation: PairSpec = 1,
    ceil_mode: bool = False,
) -> LayerArithmetic:
    """Arithmetic of max or average pooling: channels unchanged, no parameters, no MACs."""

    def pool_axis(
        n: int, f: int, s: int, p: PaddingSpec, d: int, op: int
    ) -> tuple[int, tuple[int, int]]:
        """Pooling: the convolution's formula, rounded up with ``ceil_mode`` (``op`` is 0)."""
        return pool_output_length(n, f, s, p, d, ceil_mode), resolve_padding(p, n, f, s, d)

    layer = _layer("pool", input_shape, kernel, stride or kernel, dilation, padding, pool_axis)
    return replace(layer, ceil_mode=ceil_mode)


def conv_transpose2d(
    input_shape: ShapeSpec,
    kernel: PairSpec,
    filters: int,
    stride: PairSpec = 1,
    padding: PaddingSpec = 0,
    output_padding: PairSpec = 0,
    dilation: PairSpec = 1,
    groups: int = 1,
    bias: bool = True,
) -> LayerArithmetic:
    """Arithmetic of a 2D transposed convolution on an ``H x W x C`` input.

    Example (the second worked example of the course notes' "Downsampling e Upsampling": 3x3
    input, kernel 3, stride 2, padding 1):
        >>> conv_transpose2d("3x3x1", 3, 1, stride=2, padding=1).output_shape
        (5, 5, 1)
    """
    return _layer(
        "transposed",
        input_shape,
        kernel,
        stride,
        dilation,
        padding,
        _transposed_axis,
        filters,
        groups,
        bias,
        output_padding,
    )
