"""Trainable parameters and multiply-accumulates (MACs) of a convolution, plain or transposed."""

from __future__ import annotations

from cnnlab.arith.sizes import check_at_least
from cnnlab.errors import CnnlabError


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    """Both channel counts must split evenly into the groups."""
    check_at_least(in_channels, 1, "in_channels")
    check_at_least(out_channels, 1, "filters")
    check_at_least(groups, 1, "groups")
    if in_channels % groups or out_channels % groups:
        raise CnnlabError(
            "input channels and filters must both be divisible by groups. "
            f"Received: channels={in_channels}, filters={out_channels}, groups={groups}"
        )


def conv_params(
    kernel: tuple[int, int], in_channels: int, out_channels: int, groups: int = 1, bias: bool = True
) -> int:
    """Trainable parameters of a convolution (plain or transposed).

    ``(f_h * f_w * c_in / groups + 1) * c_out``: each of the ``c_out`` filters has one kernel
    per input channel of its group and one bias.
    """
    check_groups(in_channels, out_channels, groups)
    return (kernel[0] * kernel[1] * in_channels // groups + int(bias)) * out_channels


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
    every kernel weight once. The course notes' zero-insertion recipe ("Downsampling e
    Upsampling") performs more products
    (:func:`conv_macs` on the output size), but the extra ones are multiplications by zero.
    """
    return input_hw[0] * input_hw[1] * in_channels * out_channels // groups * kernel[0] * kernel[1]
