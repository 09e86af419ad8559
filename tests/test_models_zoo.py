"""Every registered model: builds with non-default options, runs forward and backward."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, list_models
from cnnlab.models.googlenet import GoogLeNetOutputs

# Non-default num_classes / in_channels, and a small canonical input (image_size, seq_len) so
# that the whole file stays fast. inception-block has no classifier, textcnn no image channels.
ARGS: dict[str, dict] = {
    "googlenet": dict(num_classes=7, in_channels=2, image_size=32),
    "inception-block": dict(in_channels=16, image_size=8),
    "lenet5": dict(num_classes=7, in_channels=2),
    "mlp": dict(num_classes=7, in_channels=2),
    "mnist-cnn": dict(num_classes=7, in_channels=2),
    "resnet18": dict(num_classes=7, in_channels=2, image_size=32),
    "resnet34": dict(num_classes=7, in_channels=2, image_size=32),
    "resnet50": dict(num_classes=7, in_channels=2, image_size=32),
    "textcnn": dict(num_classes=3, vocab_size=50, embed_dim=16, seq_len=12),
    "unet": dict(num_classes=3, in_channels=2, base_width=8, image_size=188),
}
CIFAR_ARGS = dict(num_classes=7, in_channels=2, image_size=8)


def _args(name: str) -> dict:
    return ARGS.get(name, CIFAR_ARGS)


def _example(model: nn.Module, batch: int = 2) -> torch.Tensor:
    dtype = getattr(model, "input_dtype", torch.float32)
    if dtype == torch.long:
        return torch.randint(0, 50, (batch, *model.input_size))
    return torch.randn(batch, *model.input_size)


def _logits(out) -> torch.Tensor:
    return out.logits if isinstance(out, GoogLeNetOutputs) else out


def test_registry_lists_the_whole_zoo():
    expected = {
        "mlp",
        "mnist-cnn",
        "lenet5",
        "fastcnn",
        "inception-block",
        "googlenet",
        "unet",
        "textcnn",
    }
    expected |= {
        f"{kind}{depth}" for kind in ("resnet", "plain") for depth in (20, 32, 44, 56, 110)
    }
    expected |= {"resnet18", "resnet34", "resnet50"}
    assert set(list_models()) == expected
    assert list_models("plain*") == ["plain110", "plain20", "plain32", "plain44", "plain56"]


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    args = _args(name)
    model = create_model(name, **args)
    model.train()
    out = model(_example(model))
    outputs = list(out) if isinstance(out, tuple) else [out]
    for tensor in outputs:
        assert torch.isfinite(tensor).all()
    if "num_classes" in args:
        assert _logits(out).shape[:2] == (2, args["num_classes"])
    sum(tensor.square().mean() for tensor in outputs).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{name}: no gradient on {param_name}"
        assert torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize("name", list_models())
def test_input_size_is_the_canonical_input(name):
    model = create_model(name, **_args(name)).eval()
    assert isinstance(model.input_size, tuple)
    with torch.no_grad():
        assert torch.isfinite(_logits(model(_example(model, batch=1)))).all()


def test_googlenet_aux_outputs_only_in_training():
    model = create_model("googlenet", num_classes=5, image_size=32)
    x = torch.randn(2, 3, 32, 32)
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [torch.Size([2, 5])] * 3
    with torch.no_grad():
        assert isinstance(model.eval()(x), torch.Tensor)
    plain = create_model("googlenet", num_classes=5, aux_logits=False).train()
    assert plain.aux is None
    assert isinstance(plain(x), torch.Tensor)


def test_batch_norm_uses_batch_statistics_only_in_training():
    torch.manual_seed(0)
    model = create_model("mnist-cnn", norm_layer=nn.BatchNorm2d, dropout=0.0)
    x = torch.randn(4, 1, 28, 28) * 3 + 1
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    train_out = model.train()(x)
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    with torch.no_grad():
        eval_out = model.eval()(x)
    assert not torch.allclose(train_out, eval_out)


def test_dropout_is_random_in_training_and_off_in_eval():
    torch.manual_seed(0)
    model = create_model("mnist-cnn")
    x = torch.randn(2, 1, 28, 28)
    assert not torch.equal(model.train()(x), model(x))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), model(x))


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh, nn.ReLU, "tanh"])
def test_activation_is_an_option(activation):
    model = create_model("resnet20", activation=activation, norm_layer=None)
    expected = activation if isinstance(activation, type) else nn.Tanh
    kinds = {type(m) for m in model.modules()} & {nn.Sigmoid, nn.Tanh, nn.ReLU}
    assert kinds == {expected}
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_unknown_model_lists_the_known_names():
    with pytest.raises(CnnlabError, match=r"unknown model 'resnet19'.*resnet18.*resnet20"):
        create_model("resnet19")


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("resnet20", dict(bogus=1), "bogus"),
        ("inception-block", dict(num_classes=10), "num_classes"),
        ("textcnn", dict(in_channels=3), "in_channels"),
        ("plain20", dict(shortcut="A"), "shortcut"),
        (
            "mnist-cnn",
            dict(head="dense"),
            "head must be 'flatten' or 'gap'. Received: head='dense'",
        ),
        ("resnet18", dict(activation="swish"), "Received: activation='swish'"),
        ("resnet18", dict(norm_layer="layer"), "Received: norm_layer='layer'"),
        ("resnet20", dict(shortcut="C"), "Received: shortcut='C'"),
        ("resnet18", dict(stem="tiny"), "Received: stem='tiny'"),
        ("lenet5", dict(image_size=30), "Received: image_size=30"),
        ("textcnn", dict(seq_len=4), "larger than the padded input"),
        ("unet", dict(padding="full"), "Received: padding='full'"),
        ("unet", dict(image_size=570), "556 or 572"),
        ("mnist-cnn", dict(dropout=1.5), "Received: dropout=1.5"),
    ],
)
def test_bad_arguments_raise_one_line_errors(name, kwargs, match):
    with pytest.raises(CnnlabError, match=re.escape(match)) as info:
        create_model(name, **kwargs)
    assert "\n" not in str(info.value)
