"""The Inception cost table of the course notes ("Inception Block"): a direct convolution vs a
1x1 bottleneck before it."""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.arith.layers import LayerArithmetic, PairSpec, ShapeSpec, conv2d
from cnnlab.arith.report import bottleneck_html, bottleneck_repr
from cnnlab.arith.sizes import PaddingSpec


@dataclass(frozen=True)
class BottleneckComparison:
    """The course notes' Inception cost table: a direct convolution vs a 1x1 bottleneck first."""

    direct: LayerArithmetic
    reduce: LayerArithmetic
    conv: LayerArithmetic

    @property
    def bottleneck_params(self) -> int:
        """Parameters of the bottleneck path: the 1x1 reduction plus the convolution."""
        return self.reduce.params + self.conv.params

    @property
    def bottleneck_macs(self) -> int:
        """MACs of the bottleneck path: the 1x1 reduction plus the convolution."""
        return self.reduce.macs + self.conv.macs

    @property
    def macs_ratio(self) -> float:
        """How many times fewer multiplications the bottleneck path needs."""
        return self.direct.macs / self.bottleneck_macs

    @property
    def params_ratio(self) -> float:
        """How many times fewer parameters the bottleneck path needs."""
        return self.direct.params / self.bottleneck_params

    def to_json(self) -> dict:
        """The machine-readable form printed by ``cnnlab arith conv --bottleneck N --json``."""
        return {
            "direct": self.direct.to_json(),
            "bottleneck": [self.reduce.to_json(), self.conv.to_json()],
            "bottleneck_params": self.bottleneck_params,
            "bottleneck_macs": self.bottleneck_macs,
            "macs_ratio": self.macs_ratio,
            "params_ratio": self.params_ratio,
        }

    def __repr__(self) -> str:
        return bottleneck_repr(self)

    def _repr_html_(self) -> str:
        """The cost table and the walk-through of each convolution, in a notebook."""
        return bottleneck_html(self)


def bottleneck_comparison(
    input_shape: ShapeSpec,
    kernel: PairSpec,
    filters: int,
    bottleneck: int,
    stride: PairSpec = 1,
    padding: PaddingSpec = "same",
) -> BottleneckComparison:
    """Compare ``kernel`` conv with ``filters`` against 1x1 conv to ``bottleneck`` then the same.

    With the course notes' numbers (28x28x192, 5x5 same, 32 filters, 16 in the bottleneck) the
    direct convolution needs 120,422,400 multiplications and the bottleneck path 12,443,648.
    """
    direct = conv2d(input_shape, kernel, filters, stride, padding)
    reduce = conv2d(input_shape, 1, bottleneck)
    conv = conv2d(reduce.output_shape, kernel, filters, stride, padding)
    return BottleneckComparison(direct, reduce, conv)
