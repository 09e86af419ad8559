"""Classifier heads: global pooling (or flattening), dropout, one dense layer."""

from __future__ import annotations

from typing import Literal

from torch import nn

from cnnlab.errors import CnnlabError

PoolType = Literal["avg", "max"] | None


class ClassifierHead(nn.Sequential):
    """``[global pool] -> flatten -> [dropout] -> dense`` to class logits.

    Global average pooling (Lin, Chen & Yan, "Network in Network", 2013) replaces each of the
    ``C`` feature maps with its mean, ``y_c = 1/(HW) sum_ij x_cij``, so the dense layer has
    ``(C + 1) * classes`` parameters whatever the input size: the network accepts larger inputs
    than it was trained on. With ``pool=None`` the maps are flattened as they are (the Keras
    ``Flatten -> Dense`` head), which ties the dense layer to one input size.

    Args:
        in_features: ``C`` with a global pool, ``C * H * W`` without.
        num_classes: outputs (logits; softmax belongs to the loss).
        pool: ``"avg"``, ``"max"`` or None (flatten only).
        dropout: probability of dropping a feature in training (0 disables dropout).

    Shapes:
        ``N x C x H x W -> N x num_classes``.
    """

    def __init__(
        self, in_features: int, num_classes: int, pool: PoolType = "avg", dropout: float = 0.0
    ) -> None:
        pools = {"avg": nn.AdaptiveAvgPool2d, "max": nn.AdaptiveMaxPool2d}
        if pool is not None and pool not in pools:
            raise CnnlabError(f"pool must be 'avg', 'max' or None. Received: pool={pool!r}")
        if not 0.0 <= dropout < 1.0:
            raise CnnlabError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        layers: list[nn.Module] = [] if pool is None else [pools[pool](1)]
        layers.append(nn.Flatten())  # N x in_features
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(in_features, num_classes))  # N x num_classes
        super().__init__(*layers)
