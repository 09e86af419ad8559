"""Conv arithmetic: the notes' worked examples, the published values, and PyTorch's real layers."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab import arith
from cnnlab.arith.report import describe
from cnnlab.errors import CnnlabError


def test_alexnet_first_layer():
    layer = arith.conv2d("227x227x3", 11, 96, stride=4, padding=0)
    assert layer.output_shape == (55, 55, 96)
    assert layer.params == 34_944
    assert layer.macs == 105_415_200


def test_padding_section_six_by_six():
    assert arith.conv2d("6x6x1", 3, 1).output_shape == (4, 4, 1)
    assert arith.conv2d("6x6x1", 3, 1, padding="same").output_shape == (6, 6, 1)
    assert arith.conv2d("6x6x1", 3, 1, padding=1).output_shape == (6, 6, 1)


def test_one_filter_of_depth_three_has_28_parameters():
    assert arith.conv2d("6x6x3", 3, 1).params == 28


def test_notes_5x5_on_28x28x192():
    valid = arith.conv2d("28x28x192", 5, 32)
    same = arith.conv2d("28x28x192", 5, 32, padding="same")
    assert valid.output_shape == (24, 24, 32)
    assert same.output_shape == (28, 28, 32)
    assert same.macs == 120_422_400
    # The notes write 153,601: one bias per layer. One bias per filter gives 153,632.
    assert same.params == 153_632


def test_notes_inception_bottleneck_table():
    table = arith.bottleneck_comparison("28x28x192", 5, 32, 16)
    assert table.direct.macs == 120_422_400
    assert table.reduce.macs == 2_408_448
    assert table.conv.macs == 10_035_200
    assert table.bottleneck_macs == 12_443_648
    # The notes: 3,073 and 12,801 (one bias per layer); correct: 3,088 and 12,832.
    assert (table.reduce.params, table.conv.params) == (3_088, 12_832)
    assert table.bottleneck_params == 15_920
    assert table.macs_ratio == pytest.approx(120_422_400 / 12_443_648)


def test_notes_transposed_examples():
    assert arith.conv_transpose2d("4x4x1", 2, 1, stride=1, padding=0).output_shape == (5, 5, 1)
    assert arith.conv_transpose2d("3x3x1", 3, 1, stride=2, padding=1).output_shape == (5, 5, 1)


def test_lenet_pooling_and_convolutions():
    assert arith.conv2d("32x32x1", 5, 6).output_shape == (28, 28, 6)
    assert arith.pool2d("28x28x6", 2).output_shape == (14, 14, 6)
    assert arith.conv2d("14x14x6", 5, 16).output_shape == (10, 10, 16)
    assert arith.pool2d("10x10x16", 2).output_shape == (5, 5, 16)


def test_same_padding_with_stride_is_asymmetric_like_keras():
    # TF: out = ceil(5 / 2) = 3; total padding = (3 - 1)*2 + 3 - 5 = 2 -> (1, 1)
    assert arith.same_padding(5, 3, 2) == (1, 1)
    # n=6, f=3, s=2: out 3, total = 2*2 + 3 - 6 = 1 -> (0, 1): the extra pixel goes after.
    assert arith.same_padding(6, 3, 2) == (0, 1)
    layer = arith.conv2d("6x6x1", 3, 4, stride=2, padding="same")
    assert layer.output_shape == (3, 3, 4)
    assert layer.padding == (0, 1, 0, 1)


def test_non_square_kernel_and_stride():
    layer = arith.conv2d("28x30x3", "3x5", 8, stride="1x2")
    assert layer.output_shape == (26, 13, 8)
    assert layer.params == (3 * 5 * 3 + 1) * 8


def test_groups_and_no_bias():
    layer = arith.conv2d("8x8x32", 3, 64, groups=4, bias=False)
    assert layer.params == 3 * 3 * 8 * 64
    assert layer.macs == 6 * 6 * 64 * 3 * 3 * 8


def test_transposed_macs_are_counted_on_the_input():
    layer = arith.conv_transpose2d("16x16x64", 2, 32, stride=2)
    assert layer.output_shape == (32, 32, 32)
    assert layer.macs == 16 * 16 * 64 * 32 * 2 * 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: arith.conv2d("2x2x1", 5, 3), "larger than the padded input"),
        (lambda: arith.conv2d("8x8x1", 3, 3, stride=0), "stride must be >= 1"),
        (lambda: arith.conv2d("8x8", 3, 3), "3 dimensions"),
        (lambda: arith.conv2d("8xAx1", 3, 3), "whole numbers"),
        (lambda: arith.conv2d("8x8x1", 3, 3, padding="full"), "padding must be"),
        (lambda: arith.conv2d("8x8x3", 3, 4, groups=2), "divisible by groups"),
        (lambda: arith.conv_transpose2d("4x4x1", 3, 1, stride=2, output_padding=2), "smaller"),
    ],
)
def test_bad_input_is_one_clear_line(call, message):
    with pytest.raises(CnnlabError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_receptive_field_chain_of_lenet():
    fields = arith.receptive_fields(
        [{"kernel": 5}, {"kernel": 2, "stride": 2}, {"kernel": 5}, {"kernel": 2, "stride": 2}]
    )
    assert [f.size for f in fields] == [5, 6, 14, 16]
    assert [f.jump for f in fields] == [1, 2, 2, 4]
    assert fields[0].start == 2  # centre of the first 5-wide window


def test_receptive_field_of_dilated_kernel():
    (field,) = arith.receptive_fields([{"kernel": 3, "dilation": 2}])
    assert field.size == 5


sizes = st.integers(1, 40)


@settings(max_examples=60, deadline=None)
@given(
    n=sizes,
    k=st.integers(1, 7),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_conv_output_length_matches_pytorch(n, k, s, p, d):
    extent = d * (k - 1) + 1
    if extent > n + 2 * p:
        with pytest.raises(CnnlabError):
            arith.conv_output_length(n, k, s, p, d)
        return
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    out = conv(torch.zeros(1, 1, n, n))
    assert out.shape[-1] == arith.conv_output_length(n, k, s, p, d)


@settings(max_examples=60, deadline=None)
@given(n=sizes, k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3))
def test_same_padding_matches_pytorch_explicit_pad(n, k, s, d):
    before, after = arith.same_padding(n, k, s, d)
    x = torch.nn.functional.pad(torch.zeros(1, 1, n, n), (before, after, before, after))
    out = torch.nn.functional.conv2d(x, torch.zeros(1, 1, k, k), stride=s, dilation=d)
    assert out.shape[-1] == arith.conv_output_length(n, k, s, "same", d) == -(-n // s)


@settings(max_examples=60, deadline=None)
@given(
    n=sizes,
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
    op=st.integers(0, 3),
)
def test_transposed_output_length_matches_pytorch(n, k, s, p, d, op):
    expected_error = op >= max(s, d) or (n - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1
    if expected_error:
        with pytest.raises(CnnlabError):
            arith.transposed_output_length(n, k, s, p, d, op)
        return
    layer = nn.ConvTranspose2d(
        1, 1, k, stride=s, padding=p, output_padding=op, dilation=d, bias=False
    )
    out = layer(torch.zeros(1, 1, n, n))
    assert out.shape[-1] == arith.transposed_output_length(n, k, s, p, d, op)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    p=st.integers(0, 2),
    ceil_mode=st.booleans(),
)
def test_pool_output_length_matches_pytorch(n, k, s, p, ceil_mode):
    """Equal where PyTorch gives an output (ceil mode: even a window wider than the input);
    refused in one line where PyTorch refuses."""
    assume(p <= k // 2)  # PyTorch's own precondition on the padding
    pool = nn.MaxPool2d(k, stride=s, padding=p, ceil_mode=ceil_mode)
    try:
        expected = pool(torch.zeros(1, 1, n, n)).shape[-1]
    except RuntimeError:
        with pytest.raises(CnnlabError):
            arith.pool_output_length(n, k, s, p, 1, ceil_mode)
        return
    assert arith.pool_output_length(n, k, s, p, 1, ceil_mode) == expected


def test_ceil_mode_pooling_of_a_window_wider_than_the_input():
    """PyTorch pools 4x17 with a 5x2 window in ceil mode to 1x9; the working shows ceil."""
    layer = arith.pool2d("4x17x3", "5x2", ceil_mode=True)
    assert layer.output_shape == (1, 9, 3)
    assert nn.MaxPool2d((5, 2), ceil_mode=True)(torch.zeros(1, 3, 4, 17)).shape[-2:] == (1, 9)
    lines = describe(layer)
    assert any("ceil((4 + 0 + 0 - 1*(5 - 1) - 1) / 5) + 1 = 1" in line for line in lines)
    assert not any("floor" in line for line in lines)


@settings(max_examples=40, deadline=None)
@given(
    c_in=st.integers(1, 8),
    c_out=st.integers(1, 8),
    k=st.integers(1, 5),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
)
def test_params_match_pytorch_layers(c_in, c_out, k, groups, bias):
    c_in, c_out = c_in * groups, c_out * groups
    conv = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    transposed = nn.ConvTranspose2d(c_in, c_out, k, groups=groups, bias=bias)
    expected = arith.conv_params((k, k), c_in, c_out, groups, bias)
    assert sum(p.numel() for p in conv.parameters()) == expected
    assert sum(p.numel() for p in transposed.parameters()) == expected
