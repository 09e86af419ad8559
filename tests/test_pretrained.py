"""Published ImageNet weights: torchvision's key layout mapped to cnnlab's both ways, checked
against layouts and forward passes written independently (tests/torchvision_layouts.py), and
the verified download of cnnlab.data.download, tested offline with file:// URLs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, model_info
from cnnlab.models.pretrained import PUBLISHED, TORCHVISION_MODELS, build_arguments
from cnnlab.models.torchvision_layout import key_map, to_cnnlab, to_torchvision
from cnnlab.train.inputs import spec_for
from torchvision_layouts import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NUM_PARAMS,
    googlenet_forward,
    layout,
    random_state,
    resnet_forward,
)

NAMES = ("resnet18", "resnet34", "resnet50", "googlenet")


def cnnlab_model(name: str, **kwargs) -> torch.nn.Module:
    """The zoo model in the layout of torchvision's weights, auxiliary heads included."""
    extra = {"aux_logits": True} if name == "googlenet" else {}
    return create_model(name, **{**build_arguments(name), **extra, **kwargs})


def save(state: dict, folder: Path, name: str) -> Path:
    path = folder / name
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", NAMES)
def test_the_mapping_covers_every_key_both_ways(name):
    model = cnnlab_model(name)
    ours = model.state_dict()
    theirs = layout(name)
    mapping = key_map(model)
    assert set(mapping) == set(ours)  # every cnnlab tensor has a torchvision name
    assert sorted(mapping.values()) == sorted(theirs)  # every torchvision key, once
    for key, tv_key in mapping.items():
        assert tuple(ours[key].shape) == theirs[tv_key], (key, tv_key)
    state = random_state(theirs)
    back = to_torchvision(to_cnnlab(state, model), model)
    assert back.keys() == state.keys() and all(back[k] is state[k] for k in state)


@pytest.mark.parametrize("name", NAMES)
def test_the_layouts_have_torchvisions_parameter_counts(name):
    """The independent layouts against torchvision's published ``num_params``, and the zoo
    models built for the weights against them."""
    shapes = layout(name, aux=False)
    weights = [s for k, s in shapes.items() if not k.endswith(("running_mean", "running_var"))]
    assert sum(torch.Size(s).numel() for s in weights if s) == NUM_PARAMS[name]
    model = create_model(name, **build_arguments(name))  # googlenet: no aux heads, as published
    assert sum(p.numel() for p in model.parameters()) == NUM_PARAMS[name]


@pytest.mark.parametrize(
    ("name", "theirs", "ours"),
    [
        ("resnet18", "layer1.1.bn2.running_var", "stages.0.1.conv2.1.running_var"),
        ("resnet18", "layer2.0.downsample.0.weight", "stages.1.0.shortcut.0.weight"),
        ("resnet50", "layer1.0.downsample.1.bias", "stages.0.0.shortcut.1.bias"),
        ("resnet50", "layer4.2.conv3.weight", "stages.3.2.conv3.0.weight"),
        (
            "googlenet",
            "inception4b.branch3.1.conv.weight",
            "features.inception4b.branches.2.1.0.weight",
        ),
        ("googlenet", "inception5b.branch4.1.bn.bias", "features.inception5b.branches.3.1.1.bias"),
        ("googlenet", "aux2.fc1.weight", "aux.inception4d.3.weight"),
        ("googlenet", "fc.bias", "head.3.bias"),
    ],
)
def test_keys_land_where_the_architecture_says(name, theirs, ours):
    assert key_map(cnnlab_model(name))[ours] == theirs


@pytest.mark.parametrize(("name", "size"), [("resnet18", 64), ("resnet50", 32), ("googlenet", 48)])
def test_loaded_weights_compute_what_torchvision_computes(tmp_path, name, size):
    """Same logits as the torchvision network written with torch.nn.functional: the keys, the
    strides, the pools, the batch-norm eps, and the normalisation the weights declare."""
    state = random_state(layout(name))
    model = create_model(name, weights=save(state, tmp_path, "w.pth"), image_size=size)
    model = model.double().eval()
    images = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8)
    ours = model(spec_for(model, "image").apply(images).double())  # 1/255, the weights' mean/std
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    x = ((images / 255 - mean) / std).double()  # what torchvision's transforms give
    exact = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
    theirs = googlenet_forward(exact, x) if name == "googlenet" else resnet_forward(name, exact, x)
    scale = float(theirs.abs().max())
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4 * scale)


def test_a_new_classifier_keeps_every_other_pretrained_tensor(tmp_path):
    state = random_state(layout("resnet18"))
    model = create_model("resnet18", weights=save(state, tmp_path, "r18.pth"), num_classes=3)
    loaded = model.state_dict()
    assert torch.equal(loaded["stem.0.0.weight"], state["conv1.weight"])
    assert torch.equal(
        loaded["stages.3.1.conv2.1.running_mean"], state["layer4.1.bn2.running_mean"]
    )
    assert loaded["head.2.weight"].shape == (3, 512)  # fresh, for the user's 3 classes
    assert model.build_kwargs == {"num_classes": 3}  # what a run records: no weights
    info = model_info(model)
    assert (info.mean, info.std) == (IMAGENET_MEAN, IMAGENET_STD)


def test_googlenet_weights_build_torchvisions_variant_without_the_untrained_aux_heads(tmp_path):
    path = save(random_state(layout("googlenet")), tmp_path, "g.pth")
    model = create_model("googlenet", weights=path, num_classes=5)
    assert model.aux is None and model.build_kwargs["variant"] == "torchvision"
    assert model_info(model).mean == (0.5, 0.5, 0.5)  # torchvision's transform_input
    with_aux = create_model("googlenet", weights=path, aux_logits=True)
    assert torch.equal(
        with_aux.state_dict()["aux.inception4a.3.weight"], torch.load(path)["aux1.fc1.weight"]
    )


def test_published_files_are_torchvisions():
    for entry in PUBLISHED:
        assert entry.url == TORCHVISION_MODELS + entry.file
        assert entry.url.startswith("https://download.pytorch.org/models/")
        assert len(entry.sha256_prefix) == 8 and entry.file.startswith(entry.model)
    assert {e.model for e in PUBLISHED} == set(NAMES)


def with_hash_name(path: Path, folder: Path, stem: str, digits: str | None = None) -> Path:
    """``path`` copied as torch.hub names its files: ``stem-<first sha256 digits>.pth``."""
    digits = digits or hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    target = folder / f"{stem}-{digits}.pth"
    target.write_bytes(path.read_bytes())
    return target


def test_a_url_is_downloaded_once_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))
    source = with_hash_name(
        save(random_state(layout("resnet18")), tmp_path, "x.pth"), tmp_path, "r18"
    )
    model = create_model("resnet18", weights=source.as_uri())
    cached = tmp_path / "data" / "weights" / source.name
    assert cached.read_bytes() == source.read_bytes()
    source.unlink()  # the second time comes from the cache, checked again
    create_model("resnet18", weights=source.as_uri())
    assert torch.equal(model.state_dict()["head.2.weight"], torch.load(cached)["fc.weight"])


def test_a_hash_that_does_not_match_is_refused_and_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))
    good = save(random_state(layout("resnet18")), tmp_path, "x.pth")
    forged = with_hash_name(good, tmp_path, "r18", digits="0badc0de")
    with pytest.raises(CnnlabError, match=r"sha256 .* expected 0badc0de") as error:
        create_model("resnet18", weights=forged.as_uri())
    assert "\n" not in str(error.value)
    assert not any((tmp_path / "data" / "weights").iterdir())  # no partial, no temporary


def test_a_published_name_checks_the_cached_file(tmp_path, monkeypatch):
    """``weights="imagenet"`` finds torchvision's file in the data directory (no network
    here) and refuses it when its sha256 does not start as its name says."""
    monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path))
    (tmp_path / "weights").mkdir()
    torch.save(random_state(layout("resnet18")), tmp_path / "weights" / "resnet18-f37072fd.pth")
    with pytest.raises(CnnlabError, match="expected f37072fd"):
        create_model("resnet18", weights="imagenet")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (
            "IMAGENET1K_V9",
            "resnet18 has no weights named 'IMAGENET1K_V9'; choose one of IMAGENET1K_V1",
        ),
        ("nowhere/r18.pth", "not a file"),
    ],
)
def test_weights_that_do_not_exist(weights, message):
    with pytest.raises(CnnlabError, match=message):
        create_model("resnet18", weights=weights)


def test_a_model_without_published_weights():
    with pytest.raises(CnnlabError, match="no published weights for lenet5"):
        create_model("lenet5", weights="imagenet")


def test_wrong_files_are_refused_in_one_line(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    missing = random_state(layout("resnet18"))
    del missing["layer3.1.bn1.running_var"]
    other = random_state(layout("resnet34"))

    class Payload:  # weights_only=True refuses anything but tensors and containers
        def __reduce__(self):
            return (os.getcwd, ())

    cases = [
        (text, "is not a PyTorch state dict"),
        (save(missing, tmp_path, "m.pth"), r"1 missing \(layer3.1.bn1.running_var\)"),
        (save(other, tmp_path, "o.pth"), r"unexpected \(layer1.2"),
        (save({"fc.weight": Payload()}, tmp_path, "p.pth"), "is not a PyTorch state dict"),
        (save(random_state(layout("googlenet")), tmp_path, "g.pth"), "not in torchvision's ResNet"),
    ]
    for path, message in cases:
        with pytest.raises(CnnlabError, match=message) as error:
            create_model("resnet18", weights=path)
        assert "\n" not in str(error.value), str(error.value)


def test_shapes_must_match_outside_the_classifier(tmp_path):
    path = save(random_state(layout("resnet18")), tmp_path, "r18.pth")
    with pytest.raises(
        CnnlabError, match=r"stem.0.0.weight is \(64, 3, 7, 7\) but resnet18 has \(64, 1, 7, 7\)"
    ):
        create_model("resnet18", weights=path, in_channels=1)
    with pytest.raises(CnnlabError, match="not in torchvision's layout"):
        create_model("googlenet", weights=path, variant="paper")


def test_googlenets_variant_is_checked():
    with pytest.raises(CnnlabError, match=r"variant must be one of \('paper', 'torchvision'\)"):
        create_model("googlenet", variant="caffe")
    with pytest.raises(CnnlabError, match="has its own batch norm; leave norm_layer out"):
        create_model("googlenet", variant="torchvision", norm_layer="batch")
