"""Reusable building blocks of the model zoo, one small idea per module (timm ``layers/`` style).

>>> from cnnlab.layers import ConvNormAct
>>> ConvNormAct(3, 16, 3, padding=1)  # conv -> (norm) -> activation
"""

from cnnlab.layers.conv import ConvNormAct, get_activation, get_norm
from cnnlab.layers.heads import ClassifierHead
from cnnlab.layers.inception import Inception
from cnnlab.layers.residual import BasicBlock, Bottleneck, ZeroPadShortcut, make_shortcut
from cnnlab.layers.unet import DoubleConv, UpBlock, center_crop

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ClassifierHead",
    "ConvNormAct",
    "DoubleConv",
    "Inception",
    "UpBlock",
    "ZeroPadShortcut",
    "center_crop",
    "get_activation",
    "get_norm",
    "make_shortcut",
]
