"""Frames around the blocks that merge tensors: a residual block, an Inception module, a
U-Net up-step, each outlined and tagged with its module path (``stages.0.1 · BasicBlock``).

A frame encloses the block's boxes and the bends of the edges that pass beside them (a
residual shortcut). Its tag goes where no edge crosses the frame's top or bottom strip,
shortened to the path or the class when the full name finds no room.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.diagram.geometry import Box, Route, sample_path
from cnnlab.diagram.graph import Graph, Scope
from cnnlab.diagram.theme import text_width

FRAME_PAD, FRAME_LABEL = 6.0, 13.0
TAG_HEIGHT = 12.0


@dataclass
class Frame:
    """The outline of a block that merges, labelled ``stages.0.1 · BasicBlock``."""

    box: Box
    label: str
    tag_x: float
    tag_y: float


def merge_blocks(graph: Graph) -> dict[Scope, list[int]]:
    """The blocks whose own ``forward`` merges tensors, with the nodes inside each."""
    blocks: dict[Scope, list[int]] = {}
    for node in graph.of_kind("op"):
        if node.category == "merge" and node.scopes:
            blocks[node.scopes[-1]] = []
    for node in graph.nodes.values():
        for scope in node.scopes:
            if scope in blocks:
                blocks[scope].append(node.id)
    return blocks


def _tag_place(
    box: Box, width: float, points: list[tuple[float, float]], boxes: list[Box]
) -> tuple[float, float] | None:
    """Top-left corner of a frame's name tag: along the frame's top strip, else its bottom
    strip, the first place (a corner, or just past an obstacle) that no edge crosses and no
    box covers; None when there is none."""
    for y in (box.y + 2, box.y + box.h - 2 - TAG_HEIGHT):
        blocked = [(x - 6, x + 6) for x, py in points if y - 2 <= py <= y + TAG_HEIGHT + 2]
        blocked += [
            (b.x - 4, b.x + b.w + 4) for b in boxes if b.y < y + TAG_HEIGHT and y < b.y + b.h
        ]
        left, right = box.x + 3, box.x + box.w - 3 - width
        for x in [left, right, *(hi for _, hi in blocked)]:
            if left <= x <= right and not any(lo < x + width and x < hi for lo, hi in blocked):
                return x, y
    return None


def frame_blocks(
    boxes: dict[int, Box],
    routes: list[Route],
    blocks: dict[Scope, list[int]],
    bends: dict[Scope, list[tuple[float, ...]]],
) -> list[Frame]:
    """A frame for each block in ``blocks`` around its boxes and its ``bends``; a frame that
    would cover a box outside the block is left out."""
    frames = []
    points = [p for route in routes for p in sample_path(route.path)]
    for scope, members in blocks.items():
        xs = [v for i in members for v in (boxes[i].x, boxes[i].x + boxes[i].w)]
        ys = [v for i in members for v in (boxes[i].y, boxes[i].y + boxes[i].h)]
        xs += [x for x, _ in bends[scope]]
        ys += [y for _, y in bends[scope]]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        top = FRAME_PAD + FRAME_LABEL
        box = Box(x0 - FRAME_PAD, y0 - top, x1 - x0 + 2 * FRAME_PAD, y1 - y0 + top + FRAME_PAD)
        if any(box.overlaps(b) for i, b in boxes.items() if i not in members):
            continue
        leaf = scope.name.rsplit(".", 1)[-1]
        labels = [f"{scope.name} · {scope.type}", f"{leaf} · {scope.type}", scope.name, scope.type]
        inside = [boxes[i] for i in members]
        place = None
        for label in labels:
            place = _tag_place(box, text_width(label, "tag") + 6, points, inside)
            if place is not None:
                break
        frames.append(Frame(box, label, *(place or (box.x + 3, box.y + 2))))
    return frames
