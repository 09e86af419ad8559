"""A :class:`~cnnlab.diagram.scene.Scene` painted with matplotlib's Agg canvas.

One scene pixel is one point on a figure of ``width / 72`` inches, so font sizes and line
widths carry over from the SVG unchanged; the figure is saved at ``72 * scale`` dots per inch.
The canvas is created directly (no ``pyplot``), so no global backend is switched.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon
from matplotlib.path import Path as CurvePath

from cnnlab.diagram.scene import BoxItem, Scene
from cnnlab.diagram.theme import BACKGROUND, FONT_FAMILY

# The longest side of the PNG, in pixels: a large network is drawn smaller, not cut.
MAX_PIXELS = 8000
_CODES = {"M": [CurvePath.MOVETO], "L": [CurvePath.LINETO], "C": [CurvePath.CURVE4] * 3}
_ALIGN = {"middle": "center", "start": "left"}


def _curve(path: list[tuple[str, tuple[float, ...]]]) -> CurvePath:
    vertices, codes = [], []
    for command, values in path:
        vertices += [values[i : i + 2] for i in range(0, len(values), 2)]
        codes += _CODES[command]
    return CurvePath(vertices, codes)


def _box(axes: Axes, box: BoxItem) -> None:
    axes.add_patch(
        FancyBboxPatch(
            (box.x, box.y),
            box.w,
            box.h,
            boxstyle=f"round,pad=0,rounding_size={box.radius}",
            facecolor=box.fill,
            edgecolor=box.stroke,
            lw=box.stroke_width,
        )
    )
    for label in box.labels:
        axes.text(
            label.x,
            label.y,
            label.text,
            fontsize=label.size,
            fontfamily=FONT_FAMILY,
            fontweight="bold" if label.bold else "normal",
            color=label.color,
            ha=_ALIGN[label.anchor],
            va="baseline",
        )


def write_png(scene: Scene, path: str | Path, scale: float = 2.0) -> None:
    """Paint ``scene`` into the PNG file ``path`` at ``scale`` pixels per scene pixel."""
    scale = min(scale, MAX_PIXELS / max(scene.width, scene.height))
    figure = Figure(figsize=(scene.width / 72, scene.height / 72), dpi=72 * scale)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, scene.width)
    axes.set_ylim(scene.height, 0)  # y grows downwards, as in SVG
    axes.set_axis_off()
    for box in scene.frames:
        _box(axes, box)
    for edge in scene.edges:
        curve = PathPatch(_curve(edge.path), fill=False, edgecolor=edge.color, lw=edge.width)
        axes.add_patch(curve)
        axes.add_patch(Polygon(edge.arrow, closed=True, facecolor=edge.color, edgecolor="none"))
    for box in [*scene.boxes, *scene.tags]:
        _box(axes, box)
    figure.savefig(path, dpi=72 * scale, facecolor=BACKGROUND)
