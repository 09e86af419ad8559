"""GoogLeNet and the Inception block of the course notes ("Inception Block"): Szegedy et al.,
"Going Deeper with Convolutions", 2014.

The Inception module itself lives in :mod:`cnnlab.layers.inception`; this file stacks nine of
them as in the paper's table 1 and adds the two auxiliary classifiers of sec. 5.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.layers import ClassifierHead, ConvNormAct, Inception
from cnnlab.layers.conv import LayerSpec, get_activation
from cnnlab.models.registry import register_model

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj. A "pool" entry
# is the 3x3/2 max pool between stages; input channels follow from the previous module.
GOOGLENET_STAGES: tuple[tuple[str, tuple[int, ...] | None], ...] = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("pool3", None),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("pool4", None),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)
AUX_TAPS = ("inception4a", "inception4d")
VARIANTS = ("paper", "torchvision")


class GoogLeNetOutputs(NamedTuple):
    """Training-mode outputs of GoogLeNet with ``aux_logits=True``.

    The paper adds the auxiliary losses with weight 0.3: ``loss = l(logits) + 0.3 (l(aux1) +
    l(aux2))``.
    """

    logits: torch.Tensor
    aux1: torch.Tensor
    aux2: torch.Tensor


class AuxClassifier(nn.Sequential):
    """Side classifier of sec. 5: 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 0.7, FC.

    On the 14x14 maps of a 224x224 input the 5x5/3 pool gives 4x4; an adaptive pool to 4x4
    gives the same result there and keeps the 2048 inputs of the FC layer for other sizes.

    Shapes:
        ``N x in_channels x H x W -> N x num_classes``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.7,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(4),  # N x in x 4 x 4
            ConvNormAct(in_channels, 128, 1, norm_layer=norm_layer, activation=activation),
            nn.Flatten(),  # N x 2048
            nn.Linear(128 * 4 * 4, 1024),
            get_activation(activation)(),
            nn.Dropout(dropout),
            nn.Linear(1024, num_classes),
        )


def make_inception_stages(
    in_channels: int,
    norm_layer: LayerSpec,
    activation: LayerSpec,
    kernel5: int = 5,
    pool4: int = 3,
) -> tuple[OrderedDict[str, nn.Module], int]:
    """The modules and pools of :data:`GOOGLENET_STAGES`, with their output channels
    (``kernel5``: the "5x5" branch's kernel; ``pool4``: the kernel of the pool before 5a)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for name, spec in GOOGLENET_STAGES:
        if spec is None:
            layers[name] = nn.MaxPool2d(pool4 if name == "pool4" else 3, 2, ceil_mode=True)
            continue
        module = Inception(
            in_channels, *spec, norm_layer=norm_layer, activation=activation, kernel5=kernel5
        )
        layers[name] = module
        in_channels = module.out_channels
    return layers, in_channels


class TFBatchNorm2d(nn.BatchNorm2d):
    """Batch normalization with TensorFlow's ``eps = 1e-3``, which torchvision's GoogLeNet
    (ported from TensorFlow) keeps: ``y = (x - mean) / sqrt(var + 1e-3) * gamma + beta``."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=1e-3)


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1): a stem, nine Inception modules, global average pooling.

    Twenty-two layers with parameters along the main path (3 in the stem, 2 per module, the
    classifier). The paper's local response normalization is left out (it has no parameters
    and later work dropped it); pools use ``ceil_mode`` so that 224 gives 112, 56, 28, 14, 7
    as in table 1.

    Args:
        num_classes: outputs of the classifier (and of the auxiliary classifiers).
        in_channels: image channels.
        aux_logits: build the two auxiliary classifiers on inception 4a and 4d. They run only
            in training mode, where the model returns :class:`GoogLeNetOutputs`
            ``(logits, aux1, aux2)``; in eval mode (or without them) it returns the logits.
        dropout: dropout before the classifier (0.4 in the paper).
        aux_dropout: dropout in the auxiliary classifiers (0.7 in the paper).
        norm_layer: normalization after every convolution; None as in the paper.
        activation: activation class (ReLU in the paper).
        image_size: side of the canonical input (224).
        variant: ``"paper"``, or ``"torchvision"``: the layout of torchvision's published
            ImageNet weights, which differs from the paper in three places: batch norm
            (``eps = 1e-3``) after every convolution, a 3x3 kernel in the "5x5" branches,
            and a 2x2/2 max pool before inception 5a. ``norm_layer`` is then its own.

    Raises:
        CnnlabError: an unknown ``variant``, or a ``norm_layer`` with ``"torchvision"``.

    Shapes:
        ``N x in_channels x H x W -> N x num_classes``.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = True,
        dropout: float = 0.4,
        aux_dropout: float = 0.7,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
        image_size: int = 224,
        variant: str = "paper",
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise CnnlabError(f"variant must be one of {VARIANTS}. Received: variant={variant!r}")
        torchvision = variant == "torchvision"
        if torchvision and norm_layer is not None:
            raise CnnlabError(
                "variant='torchvision' has its own batch norm; leave norm_layer out. "
                f"Received: norm_layer={norm_layer!r}"
            )
        if torchvision:
            norm_layer = TFBatchNorm2d
        stem: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=ConvNormAct(in_channels, 64, 7, 2, 3, norm_layer, activation),  # N x 64 x H/2
            pool1=nn.MaxPool2d(3, 2, ceil_mode=True),  # N x 64 x H/4 x W/4
            conv2=ConvNormAct(64, 64, 1, 1, 0, norm_layer, activation),
            conv3=ConvNormAct(64, 192, 3, 1, 1, norm_layer, activation),  # N x 192 x H/4
            pool2=nn.MaxPool2d(3, 2, ceil_mode=True),  # N x 192 x H/8 x W/8
        )
        stages, channels = make_inception_stages(
            192,
            norm_layer,
            activation,
            kernel5=3 if torchvision else 5,
            pool4=2 if torchvision else 3,
        )
        self.features = nn.Sequential(OrderedDict(**stem, **stages))  # N x 1024 x H/32
        self.aux = (
            nn.ModuleDict(
                {
                    tap: AuxClassifier(
                        self.features.get_submodule(tap).out_channels,
                        num_classes,
                        aux_dropout,
                        norm_layer,
                        activation,
                    )
                    for tap in AUX_TAPS
                }
            )
            if aux_logits
            else None
        )
        self.head = ClassifierHead(channels, num_classes, pool="avg", dropout=dropout)
        self.input_size: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        return forward_with_aux(self, x)

    def layer_groups(self) -> dict[str, list[nn.Module]]:
        """The layers from input to output in groups, the classifiers last: the stem, the
        inception 3, 4 and 5 modules with their pools, the head and auxiliary heads
        (discriminative learning rates, :func:`cnnlab.train.fine_tune`)."""
        groups: dict[str, list[nn.Module]] = {}
        for name, layer in self.features.named_children():
            number = name.removeprefix("inception").removeprefix("pool")[0]  # 3a, pool3 -> 3
            group = "stem" if name.startswith(("conv", "pool1", "pool2")) else f"inception{number}"
            groups.setdefault(group, []).append(layer)
        return {**groups, "head": [self.head, *(self.aux.values() if self.aux else [])]}


def forward_with_aux(net: nn.Module, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
    """Run ``net.features`` then ``net.head``; in training, also the auxiliary heads of
    ``net.aux`` (a ModuleDict keyed by feature names, or None) on the features they tap."""
    aux = []
    for name, layer in net.features.named_children():
        x = layer(x)
        if net.aux is not None and net.training and name in net.aux:
            aux.append(net.aux[name](x))
    logits = net.head(x)  # N x num_classes
    return GoogLeNetOutputs(logits, *aux) if aux else logits


class InceptionBlock(nn.Module):
    """The course notes' Inception block as a model: 28x28x192 in, 28x28x256 out.

    Branches ``1x1 64 | 1x1 96 -> 3x3 128 | 1x1 16 -> 5x5 32 | 3x3 max pool -> 1x1 32``
    (inception 3a of GoogLeNet). It has no classifier, so ``num_classes`` does not apply and is
    refused; the output is the 256-channel volume.

    Args:
        in_channels: input channels (192 in the course notes).
        image_size: side of the canonical input (28).
        norm_layer: normalization after each convolution, or None.
        activation: activation class.

    Shapes:
        ``N x in_channels x H x W -> N x 256 x H x W``.
    """

    def __init__(
        self,
        in_channels: int = 192,
        image_size: int = 28,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        spec = dict(GOOGLENET_STAGES)["inception3a"]
        self.block = Inception(in_channels, *spec, norm_layer=norm_layer, activation=activation)
        self.input_size: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)  # N x 256 x H x W


@register_model(num_classes=1000)
def googlenet(**kwargs) -> GoogLeNet:
    """GoogLeNet of Szegedy et al. (2014), with auxiliary classifiers; 224x224 input."""
    return GoogLeNet(**kwargs)


@register_model(task=None, num_classes=None)
def inception_block(**kwargs) -> InceptionBlock:
    """The course notes' Inception block on 28x28x192 (output 28x28x256)."""
    return InceptionBlock(**kwargs)
