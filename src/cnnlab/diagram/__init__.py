"""Block diagrams traced from the real model, drawn without graphviz (SVG by hand, PNG by
matplotlib).

>>> from cnnlab.models import create_model
>>> from cnnlab.diagram import diagram
>>> drawn = diagram(create_model("lenet5"), (1, 32, 32), "lenet5.svg")  # doctest: +SKIP

Without a path nothing is written: the returned :class:`Diagram` shows itself in a notebook.

The pipeline, one module per step: :func:`trace_graph` (one forward pass on the ``meta``
device records layers, merges and the tensors between them), :func:`collapse` (fold blocks so
a deep network stays readable), :func:`layout_graph` (layered layout; U-Net drawn as a U),
then :func:`build_scene` rendered by :func:`to_svg` or :func:`write_png`.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cnnlab.diagram.collapse import collapse
from cnnlab.diagram.drawing import Diagram
from cnnlab.diagram.graph import Graph, Node, trace_graph
from cnnlab.diagram.layout import Layout, layout_graph
from cnnlab.diagram.scene import build_scene
from cnnlab.diagram.source import load_model
from cnnlab.diagram.svg import to_svg
from cnnlab.errors import CnnlabError

FORMATS = (".svg", ".png")

__all__ = [
    "Diagram",
    "Graph",
    "Layout",
    "Node",
    "collapse",
    "diagram",
    "layout_graph",
    "load_model",
    "trace_graph",
]


def diagram(
    model: nn.Module,
    input_size: tuple[int, ...] | str | None = None,
    path: str | Path | None = None,
    direction: str = "TB",
    depth: int | None = None,
) -> Diagram:
    """Draw ``model`` as a block diagram, into ``path`` (``.svg`` or ``.png``) when given.

    Args:
        model: any ``nn.Module``; it is not modified (the trace runs on meta copies).
        input_size: one input without the batch, C x H x W (``(1, 32, 32)`` or ``"1x32x32"``);
            None uses ``model.input_size``.
        path: the file to write; its suffix picks the format. None writes nothing.
        direction: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        depth: ``0`` draws every layer, ``N`` folds each module at path depth ``N`` into one box,
            None chooses by size (chains such as conv-norm-activation folded in big models).

    Returns:
        The :class:`Diagram` drawn: the :class:`Layout` (boxes, routes, canvas size) and its
        SVG, which a notebook shows.

    Raises:
        CnnlabError: for another suffix or direction, a negative depth, or an input the model
            cannot take.
    """
    path = None if path is None else Path(path)
    if path is not None and path.suffix.lower() not in FORMATS:
        raise CnnlabError(
            f"the diagram file must end in .svg or .png. Received: {str(path)!r}; "
            "e.g. --out lenet5.svg"
        )
    graph = collapse(trace_graph(model, input_size), depth)
    layout = layout_graph(graph, direction)
    scene = build_scene(graph, layout)
    svg = to_svg(scene)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".svg":
            path.write_text(svg, encoding="utf-8")
        else:
            from cnnlab.diagram.png import write_png  # matplotlib is imported only for PNGs

            write_png(scene, path)
    return Diagram.from_layout(layout, type(model).__name__, svg)
