"""Building blocks of cnnlab.layers checked against their formulas."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.arith import conv_output_length
from cnnlab.errors import CnnlabError
from cnnlab.layers import (
    BasicBlock,
    Bottleneck,
    ClassifierHead,
    ConvNormAct,
    DoubleConv,
    Inception,
    UpBlock,
    ZeroPadShortcut,
    center_crop,
    get_activation,
    get_norm,
    make_shortcut,
)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "size"),
    [(3, 1, 1, 9), (7, 2, 3, 224), (3, 2, 0, 10), (5, 1, 0, 8)],
)
def test_conv_norm_act_output_size_is_the_arith_one(kernel, stride, padding, size):
    layer = ConvNormAct(2, 4, kernel, stride, padding)
    out = layer(torch.randn(1, 2, size, size))
    expected = conv_output_length(size, kernel, stride, padding)
    assert out.shape == (1, 4, expected, expected)


@pytest.mark.parametrize(("norm", "bias"), [(None, True), (nn.BatchNorm2d, False)])
def test_conv_has_a_bias_only_without_normalization(norm, bias):
    layer = ConvNormAct(3, 8, 3, norm_layer=norm)
    assert (layer[0].bias is not None) is bias
    assert isinstance(layer[-1], nn.ReLU)
    assert len(layer) == 2 + (norm is not None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("relu", nn.ReLU), ("Sigmoid", nn.Sigmoid), (nn.Tanh, nn.Tanh), (None, None)],
)
def test_get_activation(value, expected):
    assert get_activation(value) is expected


def test_get_norm_and_errors():
    assert get_norm("batch") is nn.BatchNorm2d
    assert get_norm("none") is None
    with pytest.raises(CnnlabError, match=r"Received: activation=3"):
        get_activation(3)
    with pytest.raises(CnnlabError, match=r"Received: norm_layer=<class"):
        get_norm(torch.Tensor)


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(1, 2, 5, 5)
    out = ZeroPadShortcut(2, 4, stride=2)(x)
    assert out.shape == (1, 4, 3, 3)  # ceil(5 / 2), like a 3x3/2 convolution padded by 1
    assert torch.equal(out[:, :2], x[:, :, ::2, ::2])
    assert not out[:, 2:].any()
    with pytest.raises(CnnlabError, match="in_channels=4, out_channels=2"):
        ZeroPadShortcut(4, 2, 1)


@pytest.mark.parametrize(
    ("kind", "cin", "cout", "stride", "expected"),
    [
        (None, 4, 4, 1, type(None)),
        ("A", 4, 4, 1, nn.Identity),
        ("B", 4, 4, 1, nn.Identity),
        ("A", 4, 8, 2, ZeroPadShortcut),
        ("B", 4, 8, 2, ConvNormAct),
    ],
)
def test_make_shortcut(kind, cin, cout, stride, expected):
    assert isinstance(make_shortcut(kind, cin, cout, stride, nn.BatchNorm2d), expected)


def test_basic_block_is_g_of_z_plus_a():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, norm_layer=None).eval()
    a = torch.randn(2, 4, 6, 6)
    z = block.conv2(block.conv1(a))
    assert torch.allclose(block(a), torch.relu(z + a))
    plain = BasicBlock(4, 4, shortcut=None, norm_layer=None)
    plain.load_state_dict(block.state_dict())
    assert torch.allclose(plain(a), torch.relu(z))


@pytest.mark.parametrize(
    ("block", "shortcut"), [(BasicBlock, "A"), (BasicBlock, "B"), (Bottleneck, "B")]
)
def test_downsampling_blocks(block, shortcut):
    layer = block(8, 16, stride=2, shortcut=shortcut)
    assert layer(torch.randn(2, 8, 7, 7)).shape == (2, 16 * block.expansion, 4, 4)


def test_bottleneck_parameters():
    # 1x1 64->64, 3x3 64->64, 1x1 64->256 (no biases, BN 2 per channel), projection 1x1 64->256.
    layer = Bottleneck(64, 64)
    convs = 64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256
    norms = 2 * (64 + 64 + 256 + 256)
    assert sum(p.numel() for p in layer.parameters()) == convs + norms


def test_inception_notes_block():
    block = Inception(192, 64, 96, 128, 16, 32, 32)
    assert block(torch.randn(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    # 1x1 64 | 1x1 96 + 3x3 128 | 1x1 16 + 5x5 32 | 1x1 32, each with one bias per filter.
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert sum(p.numel() for p in block.parameters()) == weights + biases


def test_center_crop():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(center_crop(x, (2, 2)), x[..., 2:4, 2:4])
    assert center_crop(x, (3, 5)).shape == (1, 1, 3, 5)
    with pytest.raises(CnnlabError, match="larger 7x6"):
        center_crop(x, (7, 6))


@pytest.mark.parametrize(("padding", "size", "expected"), [(0, 12, 8), (1, 12, 12)])
def test_double_conv(padding, size, expected):
    out = DoubleConv(3, 5, padding)(torch.randn(1, 3, size, size))
    assert out.shape == (1, 5, expected, expected)


def test_up_block_halves_channels_and_crops_the_skip():
    block = UpBlock(16, 8, 8)
    assert block.up.out_channels == 8
    out = block(torch.randn(1, 16, 10, 10), torch.randn(1, 8, 24, 24))
    assert out.shape == (1, 8, 16, 16)  # 2 * 10 - 4


@pytest.mark.parametrize(
    ("pool", "size", "in_features"), [("avg", 7, 4), ("max", 3, 4), (None, 3, 36)]
)
def test_classifier_head(pool, size, in_features):
    head = ClassifierHead(in_features, 5, pool=pool, dropout=0.5)
    assert head.eval()(torch.randn(2, 4, size, size)).shape == (2, 5)


def test_global_average_pooling_is_the_mean():
    head = ClassifierHead(4, 4, pool="avg")
    with torch.no_grad():
        head[-1].weight.copy_(torch.eye(4))
        head[-1].bias.zero_()
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(head(x), x.mean(dim=(2, 3)))
    with pytest.raises(CnnlabError, match="Received: pool='sum'"):
        ClassifierHead(4, 4, pool="sum")
