"""Text renderings of :mod:`cnnlab.arith` results: each formula with the numbers substituted."""

from __future__ import annotations

from cnnlab.arith import BottleneckComparison, LayerArithmetic


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
    return (
        f"{label:<14} = floor((n + p_before + p_after - d(f - 1) - 1) / s) + 1"
        f" = floor(({n} + {before} + {after} - {d}*({f} - 1) - 1) / {s}) + 1 = {out}"
    )


def describe(layer: LayerArithmetic) -> list[str]:
    """Lines that show how the output shape, parameters and MACs of ``layer`` were computed."""
    title = {"conv": "convolution", "pool": "pooling", "transposed": "transposed convolution"}
    lines = [
        f"{title[layer.kind]}: {_shape(layer.input_shape)} -> {_shape(layer.output_shape)}"
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


def describe_bottleneck(result: BottleneckComparison) -> list[str]:
    """The course notes' Inception cost table ("Inception Block"): direct convolution vs a
    1x1 bottleneck first."""
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
    text = [tuple(v if isinstance(v, str) else _n(v) for v in row) for row in rows]
    widths = [max(len(row[i]) for row in text) for i in range(5)]
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i >= 3 else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in text
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(
        f"the bottleneck needs {result.macs_ratio:.1f}x fewer multiplications and "
        f"{result.params_ratio:.1f}x fewer parameters (biases counted once per filter)"
    )
    return lines
