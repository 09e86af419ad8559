"""Ranks, orders and cross-axis positions of a layered drawing (Sugiyama, Tagawa & Toda, 1981).

- An edge that spans several ranks is split by a dummy point in each rank it crosses; the
  dummy takes a slot in the rank's order, so the edge is routed around the boxes.
- Order within each rank: barycenter sweeps down and up, keeping the order with the fewest
  crossings (the heuristic of Sugiyama et al.).
- Cross-axis positions: each rank is pulled toward the mean of its neighbours, solved as a
  weighted least-squares fit that keeps the order and the gaps (isotonic regression by
  pool-adjacent-violators), sweeping down and up (the idea of Gansner et al., 1993). A U
  (:func:`cnnlab.diagram.ranks.u_ranks`) gets two columns instead.

Positions are along a main axis (the ranks) and a cross axis; :mod:`cnnlab.diagram.layout`
turns them into x and y.
"""

from __future__ import annotations

import itertools

from cnnlab.diagram.graph import Graph
from cnnlab.diagram.ranks import DECODER, ENCODER, longest_path, u_ranks

RANK_GAP = 34.0
NODE_GAP = 22.0
DUMMY_GAP = 12.0
U_GAP = 72.0
PORT_GAP = 14.0
SWEEPS = 8
REAL_WEIGHT = 4.0  # boxes move less than the bends of long edges


def _place(desired: list[float], weights: list[float], gaps: list[float]) -> list[float]:
    """Positions nearest ``desired`` (weighted least squares) with ``p[i] - p[i-1] >= gaps[i]``.

    Subtracting the cumulative gaps turns the constraint into "non-decreasing", which
    pool-adjacent-violators solves exactly.
    """
    offsets = list(itertools.accumulate(gaps))
    blocks: list[list[float]] = []  # [mean, weight, count]
    targets = [d - o for d, o in zip(desired, offsets, strict=True)]
    for target, weight in zip(targets, weights, strict=True):
        blocks.append([target, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, w2, n2), (m1, w1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    fitted = [mean for mean, _, count in blocks for _ in range(int(count))]
    return [f + o for f, o in zip(fitted, offsets, strict=True)]


class Placement:
    """The graph with dummy points: ranks, orders and positions of every vertex.

    Vertices are node ids (>= 0) and dummies (< 0). ``main_ext``/``cross_ext`` give each
    box's size along the ranks and across them.
    """

    def __init__(
        self, graph: Graph, main_ext: dict[int, float], cross_ext: dict[int, float]
    ) -> None:
        self.graph = graph
        ranks = longest_path(graph)
        folded = u_ranks(graph, ranks)
        self.side = dict.fromkeys(graph.nodes, ENCODER)
        if folded is not None:
            ranks, self.side = folded
        self.u_shaped = folded is not None
        self.rank = dict(ranks)
        self.main_ext, self.cross_ext = dict(main_ext), dict(cross_ext)
        self.up: dict[int, list[int]] = {v: [] for v in graph.nodes}
        self.down: dict[int, list[int]] = {v: [] for v in graph.nodes}
        self.chains: list[list[int]] = []
        self.flat: list[tuple[int, int]] = []
        dummies = itertools.count(-1, -1)
        for u, v in graph.edges:
            if self.rank[u] == self.rank[v]:
                self.flat.append((u, v))
                continue
            step = 1 if self.rank[v] > self.rank[u] else -1
            chain = [u]
            for r in range(self.rank[u] + step, self.rank[v], step):
                dummy = next(dummies)
                self.rank[dummy], self.main_ext[dummy], self.cross_ext[dummy] = r, 0.0, 0.0
                self.side[dummy] = DECODER if self.side[v] == DECODER else ENCODER
                self.up[dummy], self.down[dummy] = [], []
                chain.append(dummy)
            chain.append(v)
            for a, b in itertools.pairwise(chain):
                upper, lower = (a, b) if self.rank[a] < self.rank[b] else (b, a)
                self.down[upper].append(lower)
                self.up[lower].append(upper)
            self.chains.append(chain)
        self.layers = self._initial_order()
        self.cross: dict[int, float] = {}

    def _initial_order(self) -> list[list[int]]:
        """Depth-first discovery order along the data flow: a block's main path comes before
        its shortcut, an Inception module's branches in the order they were called."""
        following: dict[int, list[int]] = {v: [] for v in self.rank}
        for chain in self.chains:
            for a, b in itertools.pairwise(chain):
                following[a].append(b)
        seen: dict[int, int] = {}
        for root in sorted(self.graph.nodes):
            stack = [root]
            while stack:
                vertex = stack.pop()
                if vertex in seen:
                    continue
                seen[vertex] = len(seen)
                stack.extend(reversed(following[vertex]))
        layers: list[list[int]] = [[] for _ in range(max(self.rank.values()) + 1)]
        for vertex in sorted(self.rank, key=lambda v: (self.side[v], seen[v])):
            layers[self.rank[vertex]].append(vertex)
        return layers

    def crossings(self) -> int:
        total = 0
        for layer, lower in itertools.pairwise(self.layers):
            pos = {v: i for i, v in enumerate(layer)}
            below = {v: i for i, v in enumerate(lower)}
            links = [(pos[a], below[b]) for a in layer for b in self.down[a]]
            total += sum(
                1
                for (a1, b1), (a2, b2) in itertools.combinations(links, 2)
                if (a1 - a2) * (b1 - b2) < 0
            )
        return total

    def order(self) -> None:
        """Barycenter sweeps; the best order seen is kept."""
        best, fewest = [list(layer) for layer in self.layers], self.crossings()
        for _ in range(SWEEPS):
            for layers, neighbours in (
                (self.layers[1:], self.up),
                (self.layers[-2::-1], self.down),
            ):
                for layer in layers:
                    pos = {v: i for row in self.layers for i, v in enumerate(row)}
                    layer.sort(
                        key=lambda v, n=neighbours, p=pos: (
                            sum(p[x] for x in n[v]) / len(n[v]) if n[v] else p[v]
                        )
                    )
            count = self.crossings()
            if count < fewest:
                best, fewest = [list(layer) for layer in self.layers], count
        self.layers = best

    def _gap(self, a: int, b: int) -> float:
        if a < 0 or b < 0:
            gap = DUMMY_GAP
        elif self.side[a] != self.side[b]:
            gap = U_GAP
        else:
            gap = NODE_GAP
        return (self.cross_ext[a] + self.cross_ext[b]) / 2 + gap

    def _fit(self, layer: list[int], desired: list[float]) -> None:
        gaps = [0.0] + [self._gap(a, b) for a, b in itertools.pairwise(layer)]
        weights = [1.0 if v < 0 else REAL_WEIGHT for v in layer]
        for vertex, x in zip(layer, _place(desired, weights, gaps), strict=True):
            self.cross[vertex] = x

    def position(self) -> None:
        """Cross-axis coordinates: U columns, or neighbour means swept up then down."""
        if self.u_shaped:
            width = {s: 0.0 for s in (ENCODER, DECODER)}
            for layer in self.layers:
                for s in width:
                    boxes = [self.cross_ext[v] for v in layer if self.side[v] == s]
                    width[s] = max(width[s], sum(boxes) + NODE_GAP * max(len(boxes) - 1, 0))
            left, right = width[ENCODER] / 2, width[ENCODER] + U_GAP + width[DECODER] / 2
            column = {ENCODER: left, DECODER: right}
            for layer in self.layers:
                self._fit(layer, [column.get(self.side[v], (left + right) / 2) for v in layer])
            return
        for layer in self.layers:
            self._fit(layer, [0.0] * len(layer))
        for _ in range(SWEEPS):
            # Upward first, so the last word goes to the parents: a branch hangs straight
            # below the box it leaves, and a merge sits at the mean of its inputs.
            for layers, neighbours in (
                (self.layers[-2::-1], self.down),
                (self.layers[1:], self.up),
            ):
                for layer in layers:
                    self._fit(layer, [self._pull(v, neighbours[v]) for v in layer])

    def _pull(self, vertex: int, neighbours: list[int]) -> float:
        if not neighbours:
            return self.cross[vertex]
        weights = [REAL_WEIGHT if (n >= 0 and vertex >= 0) else 1.0 for n in neighbours]
        return sum(w * self.cross[n] for w, n in zip(weights, neighbours, strict=True)) / sum(
            weights
        )

    def bands(self) -> list[tuple[float, float]]:
        """Start and end of each rank along the main axis (as thick as its largest box)."""
        bands, start = [], 0.0
        for layer in self.layers:
            thick = max((self.main_ext[v] for v in layer), default=0.0)
            bands.append((start, start + thick))
            start += thick + RANK_GAP
        return bands

    def ports(self) -> dict[tuple[int, int], float]:
        """Cross coordinate where each chain leaves (``(i, 0)``) and enters (``(i, 1)``) its
        boxes: the edges on one face are spread out in the order of where they go."""
        faces: dict[tuple[int, int], list[tuple[float, tuple[int, int]]]] = {}
        for i, chain in enumerate(self.chains):
            step = 1 if self.rank[chain[-1]] > self.rank[chain[0]] else -1
            faces.setdefault((chain[0], step), []).append((self.cross[chain[1]], (i, 0)))
            faces.setdefault((chain[-1], -step), []).append((self.cross[chain[-2]], (i, 1)))
        ports = {}
        for (vertex, _), ends in faces.items():
            ends.sort()
            count = len(ends)
            spread = min(PORT_GAP * (count - 1), 0.6 * self.cross_ext[vertex])
            for j, (_, key) in enumerate(ends):
                offset = spread * (j / (count - 1) - 0.5) if count > 1 else 0.0
                ports[key] = self.cross[vertex] + offset
        return ports
