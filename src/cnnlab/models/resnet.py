"""Residual networks of He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", 2015.

Two layouts share one class: the CIFAR-10 networks of sec. 4.2 (3x3 conv 16, three stages of
``n`` basic blocks at 16/32/64 channels, depth ``6n + 2``, option A shortcuts) with their
"plain" twins (no shortcuts), and the ImageNet networks of table 1 (7x7/2 conv 64, 3x3/2 max
pool, four stages at 64/128/256/512, projection shortcuts where the shape changes).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.layers import BasicBlock, Bottleneck, ClassifierHead, ConvNormAct
from cnnlab.layers.conv import LayerSpec
from cnnlab.layers.residual import ShortcutType
from cnnlab.models.registry import register_model

Block = type[BasicBlock] | type[Bottleneck]


def make_stage(
    block: Block, in_channels: int, channels: int, blocks: int, stride: int, **block_kwargs
) -> tuple[nn.Sequential, int]:
    """Stack ``blocks`` blocks; the first one applies ``stride``. Returns the stage and its
    output channels (``channels * block.expansion``)."""
    layers = []
    for index in range(blocks):
        layers.append(block(in_channels, channels, stride if index == 0 else 1, **block_kwargs))
        in_channels = channels * block.expansion
    return nn.Sequential(*layers), in_channels


class ResNet(nn.Module):
    """Stem, stages of residual (or plain) blocks, global average pooling, dense layer.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 3, 3)`` for ResNet-20, ``(3, 4, 6, 3)`` for 50.
        widths: channels of each stage before the block's expansion.
        stem: ``"cifar"`` (3x3 conv, no pooling) or ``"imagenet"`` (7x7/2 conv, 3x3/2 pool).
        shortcut: ``"A"`` (zero padding), ``"B"`` (projection) or None (plain network).
        num_classes: outputs of the dense layer.
        in_channels: image channels.
        activation: activation class (``nn.ReLU``; ``nn.Sigmoid``/``nn.Tanh`` to study
            vanishing gradients).
        norm_layer: normalization class after every convolution (``nn.BatchNorm2d``) or None.
        dropout: dropout before the dense layer (0 as in the paper).
        image_size: side of the canonical input (32 for CIFAR, 224 for ImageNet by default);
            any size works thanks to the global pooling.

    Shapes:
        ``N x in_channels x H x W -> N x num_classes``.
    """

    def __init__(
        self,
        block: Block,
        layers: tuple[int, ...],
        widths: tuple[int, ...] = (64, 128, 256, 512),
        stem: str = "imagenet",
        shortcut: ShortcutType = "B",
        num_classes: int = 1000,
        in_channels: int = 3,
        activation: LayerSpec = nn.ReLU,
        norm_layer: LayerSpec = nn.BatchNorm2d,
        dropout: float = 0.0,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise CnnlabError(
                f"layers and widths must have one entry per stage. "
                f"Received: layers={layers}, widths={widths}"
            )
        if stem == "cifar":
            self.stem = ConvNormAct(in_channels, widths[0], 3, 1, 1, norm_layer, activation)
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                ConvNormAct(in_channels, widths[0], 7, 2, 3, norm_layer, activation),  # H/2
                nn.MaxPool2d(3, 2, 1),  # N x widths[0] x H/4 x W/4
            )
        else:
            raise CnnlabError(f"stem must be 'cifar' or 'imagenet'. Received: stem={stem!r}")
        stages, channels = [], widths[0]
        for index, (blocks, width) in enumerate(zip(layers, widths, strict=True)):
            stage, channels = make_stage(
                block,
                channels,
                width,
                blocks,
                stride=1 if index == 0 else 2,  # each later stage halves the map
                shortcut=shortcut,
                norm_layer=norm_layer,
                activation=activation,
            )
            stages.append(stage)
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(channels, num_classes, pool="avg", dropout=dropout)
        size = image_size or (32 if stem == "cifar" else 224)
        self.input_size: tuple[int, ...] = (in_channels, size, size)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def layer_groups(self) -> dict[str, list[nn.Module]]:
        """The layers from input to output in groups, the classifier last: the stem, each
        stage, the head (discriminative learning rates, :func:`cnnlab.train.fine_tune`)."""
        stages = {f"stages.{i}": [stage] for i, stage in enumerate(self.stages)}
        return {"stem": [self.stem], **stages, "head": [self.head]}


def _cifar(n: int, **kwargs) -> ResNet:
    """CIFAR-10 network of depth ``6n + 2`` (He et al., sec. 4.2); option A by default."""
    kwargs = {"num_classes": 10, "shortcut": "A", **kwargs}
    return ResNet(BasicBlock, layers=(n, n, n), widths=(16, 32, 64), stem="cifar", **kwargs)


@register_model
def resnet20(**kwargs) -> ResNet:
    """ResNet-20 (CIFAR-10, n = 3, option A shortcuts): 0.27M parameters."""
    return _cifar(3, **kwargs)


@register_model
def resnet32(**kwargs) -> ResNet:
    """ResNet-32 (CIFAR-10, n = 5): 0.46M parameters."""
    return _cifar(5, **kwargs)


@register_model
def resnet44(**kwargs) -> ResNet:
    """ResNet-44 (CIFAR-10, n = 7): 0.66M parameters."""
    return _cifar(7, **kwargs)


@register_model
def resnet56(**kwargs) -> ResNet:
    """ResNet-56 (CIFAR-10, n = 9): 0.85M parameters."""
    return _cifar(9, **kwargs)


@register_model
def resnet110(**kwargs) -> ResNet:
    """ResNet-110 (CIFAR-10, n = 18): 1.7M parameters."""
    return _cifar(18, **kwargs)


@register_model
def plain20(**kwargs) -> ResNet:
    """Plain-20: ResNet-20 without shortcuts (He et al., fig. 6 left)."""
    return _cifar(3, shortcut=None, **kwargs)


@register_model
def plain32(**kwargs) -> ResNet:
    """Plain-32: ResNet-32 without shortcuts."""
    return _cifar(5, shortcut=None, **kwargs)


@register_model
def plain44(**kwargs) -> ResNet:
    """Plain-44: ResNet-44 without shortcuts."""
    return _cifar(7, shortcut=None, **kwargs)


@register_model
def plain56(**kwargs) -> ResNet:
    """Plain-56: ResNet-56 without shortcuts (worse than Plain-20: the degradation problem)."""
    return _cifar(9, shortcut=None, **kwargs)


@register_model
def plain110(**kwargs) -> ResNet:
    """Plain-110: ResNet-110 without shortcuts."""
    return _cifar(18, shortcut=None, **kwargs)


@register_model(num_classes=1000)
def resnet18(**kwargs) -> ResNet:
    """ResNet-18 (ImageNet, table 1): basic blocks (2, 2, 2, 2), 11.7M parameters."""
    return ResNet(BasicBlock, layers=(2, 2, 2, 2), **kwargs)


@register_model(num_classes=1000)
def resnet34(**kwargs) -> ResNet:
    """ResNet-34 (ImageNet, table 1): basic blocks (3, 4, 6, 3), 21.8M parameters."""
    return ResNet(BasicBlock, layers=(3, 4, 6, 3), **kwargs)


@register_model(num_classes=1000)
def resnet50(**kwargs) -> ResNet:
    """ResNet-50 (ImageNet, table 1): bottleneck blocks (3, 4, 6, 3), 25.6M parameters."""
    return ResNet(Bottleneck, layers=(3, 4, 6, 3), **kwargs)
