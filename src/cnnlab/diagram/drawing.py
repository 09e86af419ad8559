"""What :func:`cnnlab.diagram.diagram` returns: the layout together with its SVG, so a
notebook shows the drawing itself (IPython's ``_repr_svg_``) whether or not a file was
written."""

from __future__ import annotations

from dataclasses import dataclass, fields

from cnnlab.diagram.layout import Layout


@dataclass(repr=False)
class Diagram(Layout):
    """A :class:`Layout` (boxes, routes, canvas size) with the model's name and the SVG
    document drawn from it, the same text a ``.svg`` file holds."""

    model_name: str
    svg: str

    @classmethod
    def from_layout(cls, layout: Layout, model_name: str, svg: str) -> Diagram:
        return cls(
            **{f.name: getattr(layout, f.name) for f in fields(layout)},
            model_name=model_name,
            svg=svg,
        )

    def __repr__(self) -> str:
        return (
            f"Diagram({self.model_name}: {len(self.boxes)} boxes, "
            f"{self.width:.0f} x {self.height:.0f} px, {self.direction})"
        )

    def _repr_svg_(self) -> str:
        return self.svg
