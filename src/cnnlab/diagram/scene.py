"""What is drawn, decided once: coloured boxes with their lines of text, edges with arrows.

The SVG writer and the PNG painter both render a :class:`Scene`, so the two files show the
same picture and neither knows about graphs or layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnlab.diagram.geometry import Route
from cnnlab.diagram.graph import Graph
from cnnlab.diagram.labels import node_lines
from cnnlab.diagram.layout import Layout
from cnnlab.diagram.theme import (
    ARROW_LENGTH,
    ARROW_WIDTH,
    COLORS,
    EDGE_COLOR,
    EDGE_WIDTH,
    FRAME_FILL,
    FRAME_STROKE,
    PAD_Y,
    SKIP_COLOR,
    TEXT_STYLES,
    text_width,
)


@dataclass
class Label:
    """One line of text, centred on ``x``, sitting on the baseline ``y``."""

    x: float
    y: float
    text: str
    size: float
    bold: bool
    color: str
    anchor: str = "middle"


@dataclass
class BoxItem:
    """A rounded rectangle (``radius``) with its lines of text and a hover ``tooltip``."""

    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str
    stroke_width: float
    radius: float
    tooltip: str
    labels: list[Label] = field(default_factory=list)


@dataclass
class EdgeItem:
    """An edge's path and the triangle of its arrowhead."""

    path: list[tuple[str, tuple[float, ...]]]
    arrow: list[tuple[float, float]]
    color: str
    width: float


@dataclass
class Scene:
    """Drawn in this order: block frames, edges, boxes, then the frames' name tags."""

    width: float
    height: float
    frames: list[BoxItem]
    edges: list[EdgeItem]
    boxes: list[BoxItem]
    tags: list[BoxItem]


def _arrow(route: Route) -> list[tuple[float, float]]:
    """Triangle with its tip on the target's border, pointing along the route's heading."""
    (tx, ty), (hx, hy) = route.tip, route.heading
    bx, by = tx - hx * ARROW_LENGTH, ty - hy * ARROW_LENGTH
    px, py = -hy * ARROW_WIDTH / 2, hx * ARROW_WIDTH / 2
    return [(tx, ty), (bx + px, by + py), (bx - px, by - py)]


def build_scene(graph: Graph, layout: Layout) -> Scene:
    """Boxes coloured by layer family (inputs and outputs grey, merges red, folded blocks with
    a thicker border) and edges, shortcuts into a merge in red."""
    edges = [
        EdgeItem(
            route.path,
            _arrow(route),
            SKIP_COLOR if route.skip else EDGE_COLOR,
            EDGE_WIDTH * (1.3 if route.skip else 1.0),
        )
        for route in layout.routes
    ]
    boxes = []
    for node in graph.nodes.values():
        box = layout.boxes[node.id]
        family = "io" if node.kind in ("input", "output") else node.category
        fill, stroke = COLORS.get(family, COLORS["other"])
        radius = box.h / 2 if node.kind == "op" else 4.0
        tooltip = node.name or node.title
        item = BoxItem(
            box.x,
            box.y,
            box.w,
            box.h,
            fill,
            stroke,
            2.0 if node.kind == "group" else 1.0,
            radius,
            tooltip,
        )
        top = box.y + PAD_Y
        for style, text in node_lines(node):
            size, height, bold, color = TEXT_STYLES[style]
            item.labels.append(
                Label(box.x + box.w / 2, top + height / 2 + size * 0.35, text, size, bold, color)
            )
            top += height
        boxes.append(item)
    frames, tags = [], []
    size, height, _, color = TEXT_STYLES["tag"]
    for frame in layout.frames:
        box = frame.box
        frames.append(BoxItem(box.x, box.y, box.w, box.h, FRAME_FILL, FRAME_STROKE, 1.0, 6.0, ""))
        width = text_width(frame.label, "tag") + 6
        tag = BoxItem(frame.tag_x, frame.tag_y, width, height, FRAME_FILL, "none", 0.0, 2.0, "")
        tag.labels.append(
            Label(
                frame.tag_x + 3,
                frame.tag_y + height / 2 + size * 0.35,
                frame.label,
                size,
                False,
                color,
                "start",
            )
        )
        tags.append(tag)
    return Scene(layout.width, layout.height, frames, edges, boxes, tags)
