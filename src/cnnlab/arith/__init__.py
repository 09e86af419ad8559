"""Convolution arithmetic: output sizes, parameters, multiplications and receptive fields.

This package is the one place where these numbers are computed; layers, the summary, the
explainers and the tests all call it. Sizes follow the course notes ("Padding", "Stride",
"Local Receptive fields", "Downsampling e Upsampling") and Dumoulin & Visin, "A guide to
convolution arithmetic for deep learning", 2016, extended with dilation ``d`` and groups:

- convolution and pooling, per spatial axis:
  ``floor((n + p_before + p_after - d(f-1) - 1) / s) + 1``
  (the course notes' ``floor((n + 2p - f) / s + 1)``, "Local Receptive fields", when ``d = 1``
  and padding is symmetric);
- transposed convolution: ``(n - 1)s - p_before - p_after + d(f-1) + output_padding + 1``
  (the course notes' ``(n - 1)s + f - 2p``, "Downsampling e Upsampling");
- parameters: ``(f_h * f_w * c_in / groups + 1) * c_out`` (one bias per filter);
- multiplications (MACs): ``H_out * W_out * c_out * f_h * f_w * c_in / groups`` for a convolution,
  and ``H_in * W_in * c_in * c_out / groups * f_h * f_w`` for a transposed convolution (the
  non-zero products; the zeros inserted by the course notes' recipe are not multiplications).

Padding is an integer (symmetric), ``"valid"`` (no padding) or ``"same"`` with Keras/TensorFlow
semantics: the output has ``ceil(n / s)`` positions and any odd total padding puts the extra
row or column after (bottom/right), which is reported.

Modules: :mod:`~cnnlab.arith.sizes` (one axis), :mod:`~cnnlab.arith.counts` (parameters, MACs),
:mod:`~cnnlab.arith.layers` (one 2D layer), :mod:`~cnnlab.arith.bottleneck` (the Inception
table), :mod:`~cnnlab.arith.receptive` (receptive fields), :mod:`~cnnlab.arith.report` (the
walk-through text, and how each result shows itself in a terminal and a notebook).
"""

from cnnlab.arith.bottleneck import BottleneckComparison, bottleneck_comparison
from cnnlab.arith.counts import conv_macs, conv_params, transposed_macs
from cnnlab.arith.layers import LayerArithmetic, conv2d, conv_transpose2d, pool2d
from cnnlab.arith.receptive import ReceptiveField, ReceptiveFields, receptive_fields
from cnnlab.arith.sizes import (
    PaddingSpec,
    conv_output_length,
    pool_output_length,
    resolve_padding,
    same_padding,
    transposed_output_length,
    transposed_padding,
)

__all__ = [
    "BottleneckComparison",
    "LayerArithmetic",
    "PaddingSpec",
    "ReceptiveField",
    "ReceptiveFields",
    "bottleneck_comparison",
    "conv2d",
    "conv_macs",
    "conv_output_length",
    "conv_params",
    "conv_transpose2d",
    "pool2d",
    "pool_output_length",
    "receptive_fields",
    "resolve_padding",
    "same_padding",
    "transposed_macs",
    "transposed_output_length",
    "transposed_padding",
]
