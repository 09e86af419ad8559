"""``cnnlab arith``: output shape, parameters and multiplications of one layer."""

from __future__ import annotations

import json

import click

from cnnlab import arith as A
from cnnlab.arith.report import describe, describe_bottleneck

INPUT_HELP = "Input volume in the notes' notation H x W x C, e.g. 28x28x192 (channels last)."
KERNEL_HELP = "Kernel size: N or HxW, e.g. 3 or 3x5."
PADDING_HELP = "'valid' (0), 'same' (Keras/TF: output ceil(n/s)), N, or HxW."


def _emit(result, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo("\n".join(lines))


def _common(command):
    options = [
        click.option("--input", "input_shape", required=True, help=INPUT_HELP),
        click.option("--kernel", required=True, help=KERNEL_HELP),
        click.option("--stride", default=None, help="Stride: N or HxW (default 1; pool: kernel)."),
        click.option("--padding", default="0", show_default=True, help=PADDING_HELP),
        click.option("--dilation", default="1", show_default=True, help="Dilation: N or HxW."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the formulas."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def arith() -> None:
    """Conv arithmetic from the notes' formulas, with the numbers substituted.

    \b
    cnnlab arith conv --input 227x227x3 --kernel 11 --stride 4 --padding 0 --filters 96
    cnnlab arith conv --input 28x28x192 --kernel 5 --padding same --filters 32 --bottleneck 16
    cnnlab arith pool --input 28x28x6 --kernel 2
    cnnlab arith transposed --input 3x3x1 --kernel 3 --stride 2 --padding 1 --filters 1
    """


@arith.command()
@_common
@click.option("--filters", type=int, required=True, help="Number of filters (output channels).")
@click.option("--groups", type=int, default=1, show_default=True, help="Grouped convolution.")
@click.option("--no-bias", is_flag=True, help="Layer without bias.")
@click.option("--bottleneck", type=int, default=None, help="Compare with a 1x1 conv to N first.")
def conv(
    input_shape, kernel, stride, padding, dilation, as_json, filters, groups, no_bias, bottleneck
):
    """A convolution layer: shape, parameters and MACs."""
    stride = stride or "1"
    if bottleneck is not None:
        result = A.bottleneck_comparison(input_shape, kernel, filters, bottleneck, stride, padding)
        _emit(result, as_json, describe_bottleneck(result))
        return
    result = A.conv2d(input_shape, kernel, filters, stride, padding, dilation, groups, not no_bias)
    _emit(result, as_json, describe(result))


@arith.command()
@_common
@click.option("--ceil-mode", is_flag=True, help="PyTorch's ceil_mode: round the output size up.")
def pool(input_shape, kernel, stride, padding, dilation, as_json, ceil_mode):
    """A max or average pooling layer (stride defaults to the kernel size)."""
    result = A.pool2d(input_shape, kernel, stride, padding, dilation, ceil_mode)
    _emit(result, as_json, describe(result))


@arith.command()
@_common
@click.option("--filters", type=int, required=True, help="Number of filters (output channels).")
@click.option("--output-padding", default="0", show_default=True, help="N or HxW, < stride.")
@click.option("--groups", type=int, default=1, show_default=True, help="Grouped convolution.")
@click.option("--no-bias", is_flag=True, help="Layer without bias.")
def transposed(
    input_shape,
    kernel,
    stride,
    padding,
    dilation,
    as_json,
    filters,
    output_padding,
    groups,
    no_bias,
):
    """A transposed convolution (upsampling) layer."""
    result = A.conv_transpose2d(
        input_shape,
        kernel,
        filters,
        stride or "1",
        padding,
        output_padding,
        dilation,
        groups,
        not no_bias,
    )
    _emit(result, as_json, describe(result))
