"""torchvision's state-dict layout for the zoo's ResNet-18/34/50 and GoogLeNet, both ways.

torchvision names modules by role, cnnlab by structure:

=====================================  ===============================================
torchvision                            cnnlab
=====================================  ===============================================
``conv1``, ``bn1``                     ``stem.0.0``, ``stem.0.1``
``layer2.0.conv1``, ``layer2.0.bn1``   ``stages.1.0.conv1.0``, ``stages.1.0.conv1.1``
``layer2.0.downsample.0``, ``.1``      ``stages.1.0.shortcut.0``, ``.1``
``fc``                                 ``head.N`` (the head's linear layer)
``conv1.conv``, ``conv1.bn``           ``features.conv1.0``, ``features.conv1.1``
``inception3a.branch1``                ``features.inception3a.branches.0``
``inception3a.branch3.1``              ``features.inception3a.branches.2.1``
``inception3a.branch4.1``              ``features.inception3a.branches.3.1``
``aux1.conv``, ``aux1.fc1``, ``fc2``   ``aux.inception4a.1``, ``.3``, ``.6``
=====================================  ===============================================

The map pairs modules, then expands each pair to every tensor the cnnlab module holds
(``weight``, ``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``), so it
names each tensor once; :func:`key_map` refuses a model with a tensor left out.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.layers import Bottleneck, ConvNormAct
from cnnlab.models.googlenet import AUX_TAPS, GOOGLENET_STAGES, GoogLeNet
from cnnlab.models.resnet import ResNet

Pairs = list[tuple[str, str]]
# torchvision's googlenet(weights=...) drops these when built without aux heads; so does cnnlab.
AUX_PREFIXES = ("aux1.", "aux2.")


def _conv_bn(ours: str, conv: str, bn: str) -> Pairs:
    """A ``ConvNormAct`` (conv at ``.0``, norm at ``.1``) and torchvision's two modules."""
    return [(f"{ours}.0", conv), (f"{ours}.1", bn)]


def _linear(head: nn.Sequential) -> int:
    """Index of the linear layer in a classifier head (after the pool, flatten, dropout)."""
    return next(i for i, layer in enumerate(head) if isinstance(layer, nn.Linear))


def _resnet_pairs(model: ResNet) -> Pairs:
    pairs = _conv_bn("stem.0", "conv1", "bn1")
    for i, stage in enumerate(model.stages):
        for j, block in enumerate(stage):
            ours, theirs = f"stages.{i}.{j}", f"layer{i + 1}.{j}"
            for n in (1, 2, 3) if isinstance(block, Bottleneck) else (1, 2):
                pairs += _conv_bn(f"{ours}.conv{n}", f"{theirs}.conv{n}", f"{theirs}.bn{n}")
            if isinstance(block.shortcut, ConvNormAct):  # projection: torchvision's downsample
                shortcut, down = f"{ours}.shortcut", f"{theirs}.downsample"
                pairs += _conv_bn(shortcut, f"{down}.0", f"{down}.1")
    return [*pairs, (f"head.{_linear(model.head)}", "fc")]


def _googlenet_pairs(model: GoogLeNet) -> Pairs:
    def basic(ours: str, theirs: str) -> Pairs:  # torchvision's BasicConv2d: .conv, .bn
        return _conv_bn(ours, f"{theirs}.conv", f"{theirs}.bn")

    pairs = [p for n in (1, 2, 3) for p in basic(f"features.conv{n}", f"conv{n}")]
    for name, spec in GOOGLENET_STAGES:
        if spec is None:  # a pool
            continue
        ours = f"features.{name}.branches"
        pairs += basic(f"{ours}.0", f"{name}.branch1")
        for index, branch in ((1, "branch2"), (2, "branch3")):  # 1x1 reduce, then 3x3 / "5x5"
            pairs += basic(f"{ours}.{index}.0", f"{name}.{branch}.0")
            pairs += basic(f"{ours}.{index}.1", f"{name}.{branch}.1")
        pairs += basic(f"{ours}.3.1", f"{name}.branch4.1")  # .0 is the max pool
    if model.aux is not None:
        for tap, aux in zip(AUX_TAPS, ("aux1", "aux2"), strict=True):
            pairs += basic(f"aux.{tap}.1", f"{aux}.conv")
            pairs += [(f"aux.{tap}.3", f"{aux}.fc1"), (f"aux.{tap}.6", f"{aux}.fc2")]
    return [*pairs, (f"head.{_linear(model.head)}", "fc")]


def key_map(model: nn.Module) -> dict[str, str]:
    """cnnlab key -> torchvision key, for every tensor of ``model.state_dict()``.

    Raises:
        CnnlabError: ``model`` is not a ResNet or GoogLeNet, or holds tensors torchvision's
            layout has no name for (a CIFAR ResNet, no batch norm, GoogLeNet's ``"paper"``
            variant).
    """
    if isinstance(model, ResNet):
        pairs = _resnet_pairs(model)
    elif isinstance(model, GoogLeNet):
        pairs = _googlenet_pairs(model)
    else:
        raise CnnlabError(
            "torchvision's layout is known for resnet18, resnet34, resnet50 and googlenet. "
            f"Received: {type(model).__name__}"
        )
    mapping, absent = {}, []
    for ours, theirs in pairs:
        try:
            tensors = list(model.get_submodule(ours).state_dict())
        except AttributeError:
            tensors = []
        absent += [] if tensors else [ours]  # e.g. no batch norm where torchvision has one
        mapping.update({f"{ours}.{local}": f"{theirs}.{local}" for local in tensors})
    left = sorted(set(model.state_dict()) - set(mapping))
    if left or absent:
        raise CnnlabError(
            f"{type(model).__name__} is not in torchvision's layout ({len(left)} tensors without "
            f"a torchvision name, {len(absent)} torchvision modules missing: "
            f"{', '.join([*left, *absent][:3])}); use resnet18/34/50 with their defaults, or "
            "googlenet with variant='torchvision'"
        )
    return mapping


def to_torchvision(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict ``state`` renamed to torchvision's keys."""
    mapping = key_map(model)
    return {mapping[key]: value for key, value in state.items()}


def to_cnnlab(
    state: dict[str, torch.Tensor], model: nn.Module, source: str = "the weights"
) -> dict[str, torch.Tensor]:
    """A state dict in torchvision's layout renamed to ``model``'s keys; GoogLeNet's
    auxiliary heads are dropped when ``model`` has none.

    Raises:
        CnnlabError: keys missing from ``state`` or not in the layout, named in one line.
    """
    back = {theirs: ours for ours, theirs in key_map(model).items()}
    drop = AUX_PREFIXES if isinstance(model, GoogLeNet) and model.aux is None else ()
    kept = {k: v for k, v in state.items() if not (drop and k.startswith(drop))}
    missing, unexpected = sorted(set(back) - set(kept)), sorted(set(kept) - set(back))
    if missing or unexpected:
        parts = [
            f"{len(keys)} {label} ({', '.join(keys[:3])}{' ...' * (len(keys) > 3)})"
            for label, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise CnnlabError(
            f"{source} is not in torchvision's {type(model).__name__} layout: "
            f"{'; '.join(parts)}; pass torchvision's checkpoint for this model"
        )
    return {back[key]: value for key, value in kept.items()}
