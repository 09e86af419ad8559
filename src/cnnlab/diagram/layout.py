"""Boxes, edge routes and block frames of a diagram, in pixels (x to the right, y down).

:mod:`cnnlab.diagram.placement` gives every box a rank and a cross-axis position; here

- a long drawing is wrapped into side-by-side columns (rows, left to right) at ranks that
  every path goes through, so ResNet-20 is three columns rather than a 3000 px strip; the
  edge that continues runs back up the gutter between columns, like a wrapped line of text;
- edges run straight through a rank (in their dummy's slot) and as S-curves between ranks;
- a block that merges (a residual block, an Inception module, a U-Net up-step) is never
  split between columns, and gets a frame (:mod:`cnnlab.diagram.frames`);
- main and cross axes become y and x (``TB``) or x and y (``LR``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnlab.diagram.frames import FRAME_LABEL, FRAME_PAD, Frame, frame_blocks, merge_blocks
from cnnlab.diagram.geometry import Box, Path, Route
from cnnlab.diagram.graph import Graph, Scope
from cnnlab.diagram.labels import node_lines
from cnnlab.diagram.placement import RANK_GAP, Placement
from cnnlab.diagram.theme import box_size
from cnnlab.errors import CnnlabError

DIRECTIONS = ("TB", "LR")
MARGIN = 16.0
COLUMN_GAP = 56.0
WRAP_LENGTH = 1600.0  # a drawing longer than this (px along the ranks) wraps into columns
MIN_COLUMN = 1000.0
WRAP_TOP = FRAME_PAD + FRAME_LABEL + 10.0  # a wrapped edge runs this far above a column


@dataclass
class Layout:
    """Everything drawn, in pixels: node boxes, edge routes and block frames on a canvas of
    ``width`` x ``height``; ``ranks`` and ``columns`` tell how it was laid out."""

    boxes: dict[int, Box]
    routes: list[Route]
    frames: list[Frame]
    ranks: dict[int, int]
    width: float
    height: float
    direction: str
    u_shaped: bool
    columns: int

    def __repr__(self) -> str:
        return (
            f"Layout({len(self.boxes)} boxes, {len(self.routes)} routes, "
            f"{self.width:.0f} x {self.height:.0f} px, {self.direction})"
        )


def _is_skip(graph: Graph, u: int, v: int) -> bool:
    """An edge into a merge from a tensor that is also used elsewhere: a shortcut."""
    target = graph.nodes[v]
    return target.kind == "op" and target.category == "merge" and len(graph.successors(u)) > 1


def _columns(place: Placement, bands: list[tuple[float, float]], kept: set[int]) -> list[int]:
    """Ranks after which the drawing wraps: single-box ranks near equal shares of its length,
    never inside a block (``kept``)."""
    length = bands[-1][1]
    width = max(place.cross[v] + place.cross_ext[v] / 2 for v in place.cross) - min(
        place.cross[v] - place.cross_ext[v] / 2 for v in place.cross
    )
    if place.u_shaped or length <= WRAP_LENGTH:
        return []
    # About as many columns as make the drawing square, none shorter than MIN_COLUMN.
    count = min(round(math.sqrt(length / (width + COLUMN_GAP))), int(length // MIN_COLUMN))
    candidates = [
        r
        for r, layer in enumerate(place.layers[:-1])
        if len(layer) == 1 and layer[0] >= 0 and r not in kept
    ]
    cuts: list[int] = []
    for j in range(1, count):
        later = [r for r in candidates if not cuts or r > cuts[-1]]
        if later:
            cuts.append(min(later, key=lambda r: abs(bands[r][1] - length * j / count)))
    return cuts


class _Canvas:
    """Turns ``(main, cross)`` positions of a rank into ``(x, y)`` pixels, column by column."""

    def __init__(self, place: Placement, bands, cuts: list[int], direction: str) -> None:
        self.direction = direction
        starts = [0, *(c + 1 for c in cuts)]
        self.column = [sum(1 for s in starts[1:] if r >= s) for r in range(len(bands))]
        top = WRAP_TOP if cuts else 0.0  # room for the wrapped edges' run along the top
        self.main_shift = [bands[s][0] - top for s in starts]
        low = [math.inf] * len(starts)
        high = [-math.inf] * len(starts)
        for v, c in place.cross.items():
            j = self.column[place.rank[v]]
            low[j] = min(low[j], c - place.cross_ext[v] / 2)
            high[j] = max(high[j], c + place.cross_ext[v] / 2)
        offset, self.cross_shift, self.gutter = 0.0, [], []
        for j in range(len(starts)):
            self.cross_shift.append(offset - low[j])
            offset += high[j] - low[j] + COLUMN_GAP
            self.gutter.append(offset - COLUMN_GAP / 2)

    def xy(self, rank: int, *values: float) -> tuple[float, ...]:
        """Pairs ``(main, cross)`` of ``rank``'s column as flat ``x, y, x, y...``."""
        j = self.column[rank]
        out: list[float] = []
        for i in range(0, len(values), 2):
            m, c = values[i] - self.main_shift[j], values[i + 1] + self.cross_shift[j]
            out += [c, m] if self.direction == "TB" else [m, c]
        return tuple(out)

    def heading(self, main: float, cross: float) -> tuple[float, float]:
        return (cross, main) if self.direction == "TB" else (main, cross)


def _curve(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, ...]:
    """Control points and end of an S-curve from ``a`` to ``b`` (``(main, cross)`` points)
    that leaves and arrives along the main axis."""
    middle = (a[0] + b[0]) / 2
    return (middle, a[1], middle, b[1], b[0], b[1])


def _route_chain(place: Placement, bands, canvas: _Canvas, chain: list[int], ports) -> Path:
    """Path of one edge through its dummies; a hop across a wrap runs up the gutter."""
    step = 1 if place.rank[chain[-1]] > place.rank[chain[0]] else -1

    def face(v: int, side: int) -> float:
        band = bands[place.rank[v]]
        start = band[0] + (band[1] - band[0] - place.main_ext[v]) / 2
        return start + (place.main_ext[v] if side > 0 else 0.0)

    def edge(rank: int, side: int) -> float:
        return bands[rank][1] if side > 0 else bands[rank][0]

    first, last = chain[0], chain[-1]
    ru, c = place.rank[first], ports[0]
    path: Path = [
        ("M", canvas.xy(ru, face(first, step), c)),
        ("L", canvas.xy(ru, edge(ru, step), c)),
    ]
    for index, vertex in enumerate(chain[1:], start=1):
        r, prev = place.rank[vertex], place.rank[chain[index - 1]]
        to_c = ports[1] if vertex == last else place.cross[vertex]
        a, b = (edge(prev, step), c), (edge(r, -step), to_c)
        if canvas.column[r] != canvas.column[prev]:
            below, above = a[0] + RANK_GAP / 2, b[0] - WRAP_TOP
            gutter = canvas.gutter[canvas.column[prev]]
            path += [
                ("L", canvas.xy(prev, below, c)),
                ("L", canvas.xy(prev, below, gutter - canvas.cross_shift[canvas.column[prev]])),
                ("L", canvas.xy(r, above, gutter - canvas.cross_shift[canvas.column[r]])),
                ("L", canvas.xy(r, above, to_c)),
                ("L", canvas.xy(r, *b)),
            ]
        else:
            path.append(("C", canvas.xy(r, *_curve(a, b))))
        end = face(last, -step) if vertex == last else edge(r, step)
        path.append(("L", canvas.xy(r, end, to_c)))
        c = to_c
    return path


def _routes(graph: Graph, place: Placement, bands, canvas: _Canvas) -> list[Route]:
    ports = place.ports()
    routes = []
    for i, chain in enumerate(place.chains):
        u, v = chain[0], chain[-1]
        start = ports[i, 0]
        if canvas.column[place.rank[u]] != canvas.column[place.rank[chain[1]]]:
            start = place.cross[u]  # wrapped edges leave together, as one line up the gutter
        path = _route_chain(place, bands, canvas, chain, (start, ports[i, 1]))
        step = 1.0 if place.rank[v] > place.rank[u] else -1.0
        tip = path[-1][1][-2:]
        routes.append(Route(u, v, path, tip, canvas.heading(step, 0.0), _is_skip(graph, u, v)))
    for u, v in place.flat:
        rank = place.rank[u]
        middle = sum(bands[rank]) / 2
        sign = 1.0 if place.cross[v] > place.cross[u] else -1.0
        a = canvas.xy(rank, middle, place.cross[u] + sign * place.cross_ext[u] / 2)
        b = canvas.xy(rank, middle, place.cross[v] - sign * place.cross_ext[v] / 2)
        skip = _is_skip(graph, u, v)
        routes.append(Route(u, v, [("M", a), ("L", b)], b, canvas.heading(0.0, sign), skip))
    return sorted(routes, key=lambda route: not route.skip)  # shortcuts drawn underneath


def _bends(place: Placement, bands, canvas: _Canvas, blocks) -> dict[Scope, list]:
    """Points where edges into or out of each block pass beside its boxes (dummies)."""
    bends: dict[Scope, list[tuple[float, ...]]] = {}
    for scope, members in blocks.items():
        ranks = [place.rank[i] for i in members]
        points = bends.setdefault(scope, [])
        for chain in place.chains:
            if chain[0] in members or chain[-1] in members:
                for d in chain[1:-1]:
                    r = place.rank[d]
                    if min(ranks) <= r <= max(ranks):
                        points += [canvas.xy(r, band, place.cross[d]) for band in bands[r]]
    return bends


def _shift(layout: Layout) -> None:
    """Move everything so that the drawing starts at the margin; size the canvas to fit."""
    xs, ys = [], []
    for box in [*layout.boxes.values(), *(f.box for f in layout.frames)]:
        xs += [box.x, box.x + box.w]
        ys += [box.y, box.y + box.h]
    for route in layout.routes:
        for _, values in route.path:
            xs += values[0::2]
            ys += values[1::2]
    dx, dy = MARGIN - min(xs), MARGIN - min(ys)
    for box in [*layout.boxes.values(), *(f.box for f in layout.frames)]:
        box.x, box.y = box.x + dx, box.y + dy
    for frame in layout.frames:
        frame.tag_x, frame.tag_y = frame.tag_x + dx, frame.tag_y + dy
    for route in layout.routes:
        route.path = [
            (cmd, tuple(v + (dx if i % 2 == 0 else dy) for i, v in enumerate(values)))
            for cmd, values in route.path
        ]
        route.tip = (route.tip[0] + dx, route.tip[1] + dy)
    layout.width, layout.height = max(xs) + dx + MARGIN, max(ys) + dy + MARGIN


def layout_graph(graph: Graph, direction: str = "TB") -> Layout:
    """Boxes, edge routes and frames of ``graph`` drawn top to bottom (``TB``) or left to
    right (``LR``).

    Raises:
        CnnlabError: for another direction.
    """
    direction = str(direction).upper()
    if direction not in DIRECTIONS:
        raise CnnlabError(f"direction must be TB or LR. Received: direction={direction!r}")
    sizes = {n.id: box_size(node_lines(n)) for n in graph.nodes.values()}
    along = 1 if direction == "TB" else 0  # which of (width, height) lies along the ranks
    place = Placement(
        graph,
        {i: size[along] for i, size in sizes.items()},
        {i: size[1 - along] for i, size in sizes.items()},
    )
    if not place.u_shaped:
        place.order()
    place.position()
    bands = place.bands()
    blocks = merge_blocks(graph)
    kept = set()
    for members in blocks.values():
        ranks = [place.rank[i] for i in members]
        kept.update(range(min(ranks), max(ranks)))
    cuts = _columns(place, bands, kept)
    canvas = _Canvas(place, bands, cuts, direction)
    boxes = {}
    for node_id, (w, h) in sizes.items():
        rank = place.rank[node_id]
        band = bands[rank]
        start = band[0] + (band[1] - band[0] - place.main_ext[node_id]) / 2
        x, y = canvas.xy(rank, start, place.cross[node_id] - place.cross_ext[node_id] / 2)
        boxes[node_id] = Box(x, y, w, h)
    routes = _routes(graph, place, bands, canvas)
    layout = Layout(
        boxes=boxes,
        routes=routes,
        frames=frame_blocks(boxes, routes, blocks, _bends(place, bands, canvas, blocks)),
        ranks={n: place.rank[n] for n in graph.nodes},
        width=0.0,
        height=0.0,
        direction=direction,
        u_shaped=place.u_shaped,
        columns=len(cuts) + 1,
    )
    _shift(layout)
    return layout
