"""Plain geometry shared by the layout, the frames and the scene: boxes and edge paths."""

from __future__ import annotations

from dataclasses import dataclass

# SVG-style path commands: ("M", (x, y)), ("L", (x, y)), ("C", (x1, y1, x2, y2, x, y)).
Path = list[tuple[str, tuple[float, ...]]]


@dataclass
class Box:
    """A rectangle in pixels: top-left corner, width, height."""

    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass
class Route:
    """An edge as path commands (``M``/``L`` with a point, ``C`` with three), ending in an
    arrow at ``tip`` that points along ``heading``. ``skip`` marks a shortcut into a merge."""

    source: int
    target: int
    path: Path
    tip: tuple[float, float]
    heading: tuple[float, float]
    skip: bool


def sample_path(path: Path, steps: int = 8) -> list[tuple[float, float]]:
    """Points along a path, each piece cut in ``steps`` (a cubic Bezier evaluated in
    Bernstein form), to find what a path passes through."""
    points: list[tuple[float, float]] = []
    for command, values in path:
        if command == "M" or not points:
            points.append((values[-2], values[-1]))
            continue
        (x0, y0), end = points[-1], values[-2:]
        (x1, y1), (x2, y2) = (values[0:2], values[2:4]) if command == "C" else ((x0, y0), end)
        for i in range(1, steps + 1):
            t = i / steps
            if command == "C":
                a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
                points.append(
                    (a * x0 + b * x1 + c * x2 + d * end[0], a * y0 + b * y1 + c * y2 + d * end[1])
                )
            else:
                points.append((x0 + (end[0] - x0) * t, y0 + (end[1] - y0) * t))
    return points
