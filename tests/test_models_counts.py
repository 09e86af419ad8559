"""Parameter counts against the published values, and the canonical output shapes."""

from __future__ import annotations

import pytest
import torch

from cnnlab.models import create_model


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Published counts: the notes' Keras summaries (mlp, mnist-cnn, lenet5), He et al. 2015 sec. 4.2
# (0.27M, 0.46M, 0.66M, 0.85M, 1.7M with option A), torchvision's ImageNet ResNets,
# Ronneberger et al. 2015 (the reference implementation's 31,030,658).
PUBLISHED = [
    ("mlp", {}, 669_706),
    ("mlp", dict(dropout=0.2), 669_706),
    ("mnist-cnn", {}, 34_826),
    ("mnist-cnn", dict(dropout=0.0), 34_826),
    ("lenet5", {}, 61_706),
    ("lenet5", dict(image_size=28), 61_706),
    ("resnet20", {}, 269_722),
    ("resnet32", {}, 464_154),
    ("resnet44", {}, 658_586),
    ("resnet56", {}, 853_018),
    ("resnet110", {}, 1_727_962),
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("unet", {}, 31_030_658),
]


@pytest.mark.parametrize(("name", "kwargs", "expected"), PUBLISHED)
def test_published_parameter_counts(name, kwargs, expected):
    assert count_params(create_model(name, **kwargs)) == expected


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_plain_nets_match_resnets_because_option_a_is_parameter_free(depth):
    plain, resnet = create_model(f"plain{depth}"), create_model(f"resnet{depth}")
    assert count_params(plain) == count_params(resnet)
    assert len(list(plain.modules())) < len(list(resnet.modules()))


def test_mnist_gap_head_has_a_smaller_dense_layer():
    # 64 maps averaged to 64 features: dense (64 + 1) * 10 = 650 instead of 16,010.
    assert count_params(create_model("mnist-cnn", head="gap")) == 34_826 - 16_010 + 650


@pytest.mark.parametrize(
    ("name", "kwargs", "input_shape", "output_shape"),
    [
        ("mlp", {}, (1, 1, 28, 28), (1, 10)),
        ("mnist-cnn", {}, (1, 1, 28, 28), (1, 10)),
        ("mnist-cnn", dict(head="gap"), (1, 1, 56, 56), (1, 10)),
        ("lenet5", {}, (1, 1, 32, 32), (1, 10)),
        ("lenet5", dict(image_size=28), (1, 1, 28, 28), (1, 10)),
        ("resnet20", {}, (1, 3, 32, 32), (1, 10)),
        ("plain56", {}, (1, 3, 32, 32), (1, 10)),
        ("resnet18", {}, (1, 3, 224, 224), (1, 1000)),
        ("resnet50", {}, (1, 3, 224, 224), (1, 1000)),
        ("inception-block", {}, (1, 192, 28, 28), (1, 256, 28, 28)),
        ("googlenet", {}, (1, 3, 224, 224), (1, 1000)),
        ("unet", {}, (1, 1, 572, 572), (1, 2, 388, 388)),
        ("unet", dict(padding="same", base_width=8), (1, 1, 64, 64), (1, 2, 64, 64)),
    ],
)
def test_canonical_output_shapes(name, kwargs, input_shape, output_shape):
    model = create_model(name, **kwargs).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(input_shape)).shape) == output_shape


def test_textcnn_shapes_and_dtype():
    model = create_model("textcnn").eval()
    assert model.input_size == (100,)
    assert model.input_dtype == torch.long
    tokens = torch.randint(0, 10_000, (3, 100))
    assert model(tokens).shape == (3, 2)
    # Kim 2014: 3 widths x 100 filters pooled to 300 features, embedding row 0 is padding.
    assert model.fc.in_features == 300
    assert torch.equal(model.embedding.weight[0], torch.zeros(128))


def test_textcnn_parameters_follow_kim():
    # Embedding V x E, one Conv1d (h * E + 1) * 100 per width h, dense (300 + 1) * classes.
    embedding = 10_000 * 128
    convs = sum((h * 128 + 1) * 100 for h in (3, 4, 5))
    assert count_params(create_model("textcnn")) == embedding + convs + 301 * 2 == 1_434_502


def test_inception_block_parameters():
    assert count_params(create_model("inception-block")) == 163_696


@pytest.mark.parametrize(("widths", "expected"), [((24, 48, 96), 157_330), ((16, 32, 64), 70_330)])
def test_fastcnn_counts_by_hand(widths, expected):
    stem, one, two = widths
    convs = [(1, stem), (stem, one), (one, one), (one, two), (two, two)]
    by_hand = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in convs) + two * 10 + 10  # BN: 2
    assert by_hand == expected == count_params(create_model("fastcnn", widths=widths))
