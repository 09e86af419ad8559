"""Renderings of :mod:`cnnlab.arith` results: each formula with the numbers substituted (the
text ``cnnlab arith`` prints), a one-line ``repr`` for a terminal, and for a notebook a table
of the numbers above that same walk-through.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from cnnlab import display
from cnnlab.arith.sizes import ceil_output_length

if TYPE_CHECKING:
    from cnnlab.arith.bottleneck import BottleneckComparison
    from cnnlab.arith.layers import LayerArithmetic
    from cnnlab.arith.receptive import ReceptiveField, ReceptiveFields

TITLE = {"conv": "convolution", "pool": "pooling", "transposed": "transposed convolution"}


def _n(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _axis_line(layer: LayerArithmetic, axis: int) -> str:
    label = ("output height", "output width")[axis]
    n = layer.input_shape[axis]
    f, s, d = layer.kernel[axis], layer.stride[axis], layer.dilation[axis]
    before, after = layer.padding[2 * axis], layer.padding[2 * axis + 1]
    out = layer.output_shape[axis]
    if layer.kind == "transposed":
        op = layer.output_padding[axis]
        return (
            f"{label:<14} = (n - 1)s - p_before - p_after + d(f - 1) + output_padding + 1"
            f" = ({n} - 1)*{s} - {before} - {after} + {d}*({f} - 1) + {op} + 1 = {out}"
        )
    if layer.ceil_mode:
        rounded = ceil_output_length(n, f, s, before, after, d)
        rule = (
            "" if rounded == out else f" - 1 (the last window would start past the input) = {out}"
        )
        return (
            f"{label:<14} = ceil((n + p_before + p_after - d(f - 1) - 1) / s) + 1"
            f" = ceil(({n} + {before} + {after} - {d}*({f} - 1) - 1) / {s}) + 1 = {rounded}{rule}"
        )
    return (
        f"{label:<14} = floor((n + p_before + p_after - d(f - 1) - 1) / s) + 1"
        f" = floor(({n} + {before} + {after} - {d}*({f} - 1) - 1) / {s}) + 1 = {out}"
    )


def describe(layer: LayerArithmetic) -> list[str]:
    """Lines that show how the output shape, parameters and MACs of ``layer`` were computed."""
    lines = [
        f"{TITLE[layer.kind]}: {_shape(layer.input_shape)} -> {_shape(layer.output_shape)}"
        f"  (H x W x C; kernel {_shape(layer.kernel)}, stride {_shape(layer.stride)},"
        f" dilation {_shape(layer.dilation)}, groups {layer.groups})"
    ]
    top, bottom, left, right = layer.padding
    lines.append(f"padding        = top {top}, bottom {bottom}, left {left}, right {right}")
    if top != bottom or left != right:
        lines.append("                 (asymmetric: the extra row/column goes after, as in Keras)")
    lines += [_axis_line(layer, 0), _axis_line(layer, 1)]
    if layer.kind == "pool":
        lines.append("params         = 0 (pooling has nothing to learn)")
        lines.append("MACs           = 0 (a max or a mean per window: comparisons and additions)")
        return lines
    c_in, c_out, g = layer.input_shape[2], layer.output_shape[2], layer.groups
    fh, fw = layer.kernel
    bias = 1 if layer.bias else 0
    lines.append(
        f"params         = (f_h*f_w*c_in/groups + {bias}) * c_out"
        f" = ({fh}*{fw}*{c_in}/{g} + {bias}) * {c_out} = {_n(layer.params)}"
    )
    if layer.kind == "transposed":
        h, w = layer.input_shape[:2]
        lines.append(
            f"MACs           = H_in*W_in*c_in*c_out/groups*f_h*f_w"
            f" = {h}*{w}*{c_in}*{c_out}/{g}*{fh}*{fw} = {_n(layer.macs)}"
            "  (non-zero products only)"
        )
    else:
        h, w = layer.output_shape[:2]
        lines.append(
            f"MACs           = H_out*W_out*c_out*f_h*f_w*c_in/groups"
            f" = {h}*{w}*{c_out}*{fh}*{fw}*{c_in}/{g} = {_n(layer.macs)}"
        )
    lines.append(f"FLOPs          = 2 x MACs = {_n(2 * layer.macs)}")
    return lines


def _bottleneck_rows(result: BottleneckComparison) -> list[tuple[str, ...]]:
    """The cost table, header first: each path's layers with output, params and MACs."""
    d, r, c = result.direct, result.reduce, result.conv
    k = _shape(d.kernel)
    rows = [
        ("path", "layer", "output", "params", "MACs"),
        (
            "direct",
            f"{k} conv, {d.output_shape[2]} filters",
            _shape(d.output_shape),
            d.params,
            d.macs,
        ),
        (
            "bottleneck",
            f"1x1 conv, {r.output_shape[2]} filters",
            _shape(r.output_shape),
            r.params,
            r.macs,
        ),
        ("", f"{k} conv, {c.output_shape[2]} filters", _shape(c.output_shape), c.params, c.macs),
        ("", "total", "", result.bottleneck_params, result.bottleneck_macs),
    ]
    return [tuple(v if isinstance(v, str) else _n(v) for v in row) for row in rows]


def _ratios(result: BottleneckComparison) -> str:
    return (
        f"the bottleneck needs {result.macs_ratio:.1f}x fewer multiplications and "
        f"{result.params_ratio:.1f}x fewer parameters (biases counted once per filter)"
    )


def describe_bottleneck(result: BottleneckComparison) -> list[str]:
    """The course notes' Inception cost table ("Inception Block"): direct convolution vs a
    1x1 bottleneck first."""
    text = _bottleneck_rows(result)
    widths = [max(len(row[i]) for row in text) for i in range(5)]
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i >= 3 else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in text
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(_ratios(result))
    return lines


def layer_repr(layer: LayerArithmetic) -> str:
    return (
        f"LayerArithmetic({layer.kind} {_shape(layer.input_shape)} -> "
        f"{_shape(layer.output_shape)}, kernel {_shape(layer.kernel)}, "
        f"stride {_shape(layer.stride)}: {_n(layer.params)} params, {_n(layer.macs)} MACs)"
    )


def layer_html(layer: LayerArithmetic) -> str:
    """The numbers in one table row, then how each was computed."""
    header = ("input", "output", "kernel", "stride", "padding t,b,l,r", "params", "MACs", "FLOPs")
    row = (
        _shape(layer.input_shape),
        _shape(layer.output_shape),
        _shape(layer.kernel),
        _shape(layer.stride),
        ",".join(map(str, layer.padding)),
        _n(layer.params),
        _n(layer.macs),
        _n(2 * layer.macs),
    )
    caption = f"{TITLE[layer.kind]} (H x W x C)"
    return display.block(
        display.table(header, [row], caption=caption, left=5),
        display.pre("\n".join(describe(layer))),
    )


def bottleneck_repr(result: BottleneckComparison) -> str:
    d = result.direct
    return (
        f"BottleneckComparison({_shape(d.input_shape)}, {_shape(d.kernel)} conv to "
        f"{d.output_shape[2]}: {_n(d.macs)} MACs direct, {_n(result.bottleneck_macs)} with a "
        f"1x1 to {result.reduce.output_shape[2]} first)"
    )


def bottleneck_html(result: BottleneckComparison) -> str:
    """The cost table, then the walk-through of each of its three convolutions."""
    header, *rows = _bottleneck_rows(result)
    parts = [
        display.table(header, rows, caption="direct convolution vs 1x1 bottleneck", left=3),
        display.text(_ratios(result)),
    ]
    steps = (
        ("direct", result.direct),
        ("bottleneck: the 1x1 reduction", result.reduce),
        ("bottleneck: the convolution after it", result.conv),
    )
    for name, layer in steps:
        parts += [display.heading(name), display.pre("\n".join(describe(layer)))]
    return display.block(*parts)


def _fraction(value: Fraction) -> str:
    return f"{float(value):g}"


def _field_cells(field: ReceptiveField) -> tuple[int, str, str]:
    return field.size, _fraction(field.jump), _fraction(field.start)


def field_repr(field: ReceptiveField) -> str:
    size, jump, start = _field_cells(field)
    return f"ReceptiveField(size={size}, jump={jump}, start={start})"


def field_html(field: ReceptiveField) -> str:
    caption = "receptive field along one axis, in input pixels"
    return display.block(
        display.table(("RF", "jump", "start"), [_field_cells(field)], caption=caption, left=0)
    )


def fields_repr(fields: ReceptiveFields) -> str:
    if not fields:
        return "ReceptiveFields(no layers)"
    size, jump, start = _field_cells(fields[-1])
    return (
        f"ReceptiveFields({len(fields)} layers; after the last RF {size}, jump {jump}, "
        f"start {start})"
    )


def fields_html(fields: ReceptiveFields) -> str:
    """One row per layer: its window and the field after it."""
    header = ("layer", "kernel", "stride", "padding", "dilation", "RF", "jump", "start")
    rows = [
        (
            f"{i} {'transposed' if layer.get('transposed') else 'conv'}",
            layer["kernel"],
            layer.get("stride", 1),
            layer.get("padding", 0),
            layer.get("dilation", 1),
            *_field_cells(field),
        )
        for i, (layer, field) in enumerate(zip(fields.layers, fields, strict=True))
    ]
    caption = "receptive field after each layer along one axis, in input pixels"
    return display.block(display.table(header, rows, caption=caption))
