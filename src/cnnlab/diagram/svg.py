"""A :class:`~cnnlab.diagram.scene.Scene` as an SVG document, written by hand (no graphviz).

Every piece of text goes through XML escaping, so layer names such as ``Linear 400->120`` or
a user's ``Block<3>`` stay well-formed. Each box carries a ``<title>`` with its module path,
which browsers show as a tooltip.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from cnnlab.diagram.scene import BoxItem, EdgeItem, Scene
from cnnlab.diagram.theme import BACKGROUND, SVG_FONT_STACK


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _path_data(path: list[tuple[str, tuple[float, ...]]]) -> str:
    return " ".join(f"{command} {' '.join(_num(v) for v in values)}" for command, values in path)


def _edge(edge: EdgeItem) -> list[str]:
    points = " ".join(f"{_num(x)},{_num(y)}" for x, y in edge.arrow)
    return [
        f'<path d="{_path_data(edge.path)}" fill="none" stroke="{edge.color}" '
        f'stroke-width="{_num(edge.width)}"/>',
        f'<polygon points="{points}" fill="{edge.color}"/>',
    ]


def _box(box: BoxItem) -> list[str]:
    lines = ["<g>", f"<title>{escape(box.tooltip)}</title>"] if box.tooltip else ["<g>"]
    lines += [
        f'<rect x="{_num(box.x)}" y="{_num(box.y)}" width="{_num(box.w)}" height="{_num(box.h)}" '
        f'rx="{_num(box.radius)}" fill="{box.fill}" stroke="{box.stroke}" '
        f'stroke-width="{_num(box.stroke_width)}"/>',
    ]
    for label in box.labels:
        weight = ' font-weight="bold"' if label.bold else ""
        lines.append(
            f'<text x="{_num(label.x)}" y="{_num(label.y)}" font-size="{_num(label.size)}"'
            f'{weight} text-anchor="{label.anchor}" fill="{label.color}">'
            f"{escape(label.text)}</text>"
        )
    lines.append("</g>")
    return lines


def to_svg(scene: Scene) -> str:
    """The whole document: background, edges underneath, boxes on top."""
    width, height = _num(scene.width), _num(scene.height)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family={quoteattr(SVG_FONT_STACK)}>',
        f'<rect width="100%" height="100%" fill="{BACKGROUND}"/>',
    ]
    for box in scene.frames:
        lines += _box(box)
    for edge in scene.edges:
        lines += _edge(edge)
    for box in [*scene.boxes, *scene.tags]:
        lines += _box(box)
    lines.append("</svg>")
    return "\n".join(lines) + "\n"
