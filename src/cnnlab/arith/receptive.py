"""Receptive fields along one axis: how many input pixels one output position can see.

Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks" (Distill,
2019), extended to transposed convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cnnlab.arith.report import field_html, field_repr, fields_html, fields_repr
from cnnlab.arith.sizes import effective_kernel


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output position along one axis, in input pixels.

    ``size``: how many input pixels can influence it; ``jump``: the distance in input pixels
    between two neighbouring outputs (the product of the strides so far); ``start``: the input
    coordinate of the centre of the first output's field (pixel centres are 0, 1, ...;
    negative values reach into the padding).
    """

    size: int
    jump: Fraction
    start: Fraction

    @classmethod
    def identity(cls) -> ReceptiveField:
        """The field of an input pixel: itself."""
        return cls(1, Fraction(1), Fraction(0))

    def conv(
        self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
    ) -> ReceptiveField:
        """After a convolution or pooling window (Araujo et al., Distill 2019, eq. 1-3).

        ``size' = size + (d(f-1)) * jump``, ``jump' = jump * s``,
        ``start' = start + (d(f-1)/2 - p_before) * jump``.
        """
        extent = effective_kernel(kernel, dilation) - 1
        return ReceptiveField(
            size=self.size + int(extent * self.jump),
            jump=self.jump * stride,
            start=self.start + (Fraction(extent, 2) - padding) * self.jump,
        )

    def transposed(
        self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
    ) -> ReceptiveField:
        """After a transposed convolution: outputs are ``s`` times denser than inputs.

        An output reads the input pixels whose kernel taps land on it: at most one per residue
        class of ``k * d`` modulo ``s``; ``size`` grows by the widest such span (the largest
        field over the output positions).
        """
        spans: dict[int, tuple[int, int]] = {}
        for k in range(kernel):
            residue = (k * dilation) % stride
            low, high = spans.get(residue, (k, k))
            spans[residue] = (min(low, k), max(high, k))
        widest = max((high - low) * dilation // stride for low, high in spans.values())
        extent = effective_kernel(kernel, dilation) - 1
        return ReceptiveField(
            size=self.size + int(widest * self.jump),
            jump=self.jump / stride,
            start=self.start + (padding - Fraction(extent, 2)) / stride * self.jump,
        )

    def merge(self, other: ReceptiveField) -> ReceptiveField:
        """Where two paths meet (add, concatenate), the larger field wins."""
        return self if self.size >= other.size else other

    def __repr__(self) -> str:
        return field_repr(self)

    def _repr_html_(self) -> str:
        return field_html(self)


class ReceptiveFields(list[ReceptiveField]):
    """What :func:`receptive_fields` returns: a list of fields, one per layer, that keeps
    the layers too, so a notebook shows them side by side."""

    def __init__(self, layers: list[dict], fields: list[ReceptiveField]) -> None:
        super().__init__(fields)
        self.layers = [dict(layer) for layer in layers]

    def __repr__(self) -> str:
        return fields_repr(self)

    def _repr_html_(self) -> str:
        return fields_html(self)


def receptive_fields(layers: list[dict]) -> ReceptiveFields:
    """Receptive field after each layer of a chain, along one axis.

    Args:
        layers: dicts with ``kernel`` and optional ``stride``, ``padding`` (int, before),
            ``dilation`` and ``transposed`` (bool).

    Returns:
        One :class:`ReceptiveField` per layer, in a list that shows itself as a table.
    """
    field = ReceptiveField.identity()
    out = []
    for layer in layers:
        step = field.transposed if layer.get("transposed") else field.conv
        field = step(
            layer["kernel"],
            layer.get("stride", 1),
            layer.get("padding", 0),
            layer.get("dilation", 1),
        )
        out.append(field)
    return ReceptiveFields(layers, out)
