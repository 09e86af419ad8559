"""Which row (top to bottom) or column (left to right) each box goes in.

The first step of a layered drawing (Sugiyama, Tagawa & Toda, 1981): every edge points to a
later rank. Longest-path ranking puts a node one rank below its deepest input, so a residual
block's skip edge spans the block it bypasses.

An encoder-decoder (U-Net) is folded into a U instead: the encoder goes down the left, the
decoder comes back up on the right, and each skip edge joins two boxes of the same row. The
rows then come from difference constraints (``rank[v] >= rank[u] + w``) solved by
Bellman-Ford relaxation: encoder edges point down, decoder edges up, skips are level.
"""

from __future__ import annotations

import heapq
import itertools

from cnnlab.diagram.graph import Graph

ENCODER, TURN, DECODER = 0, 1, 2
# An edge spanning this many ranks or more is a candidate skip of an encoder-decoder.
LONG_SPAN = 3


def topological_order(graph: Graph) -> list[int]:
    """Kahn's algorithm, earliest-executed node first among the ready ones."""
    indegree = dict.fromkeys(graph.nodes, 0)
    for _, v in graph.edges:
        indegree[v] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for v in graph.successors(node):
            indegree[v] -= 1
            if indegree[v] == 0:
                heapq.heappush(ready, v)
    return order + sorted(set(graph.nodes) - set(order))


def longest_path(graph: Graph) -> dict[int, int]:
    """Rank of each node: one more than its deepest predecessor; sources sit just above their
    first consumer."""
    rank: dict[int, int] = {}
    for node in topological_order(graph):
        rank[node] = max((rank[u] + 1 for u in graph.predecessors(node) if u in rank), default=0)
    for node in graph.nodes:
        successors = graph.successors(node)
        if not graph.predecessors(node) and successors:
            rank[node] = min(rank[v] for v in successors) - 1
    low = min(rank.values(), default=0)
    return {n: r - low for n, r in rank.items()}


def _nested(spans: list[tuple[int, int]]) -> bool:
    """Is every pair strictly nested, like the parentheses of ``(((())))``?"""
    ordered = sorted(spans)
    return all(a1 < a2 and b2 < b1 for (a1, b1), (a2, b2) in itertools.pairwise(ordered))


def _solve(nodes: list[int], constraints: list[tuple[int, int, int]]) -> dict[int, int] | None:
    """Smallest ranks >= 0 with ``rank[v] >= rank[u] + w``; None when they contradict."""
    rank = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes) + 1):
        changed = False
        for u, v, w in constraints:
            if rank[v] < rank[u] + w:
                rank[v], changed = rank[u] + w, True
        if not changed:
            return rank
    return None


def u_ranks(graph: Graph, rank: dict[int, int]) -> tuple[dict[int, int], dict[int, int]] | None:
    """Ranks and sides (encoder, turn, decoder) of a U, or None when the graph is not one.

    A graph is drawn as a U when it has two or more long edges and they nest: the skips of an
    encoder-decoder. The U turns at the middle of the innermost skip.
    """
    long = [(u, v) for u, v in graph.edges if rank[v] - rank[u] >= LONG_SPAN]
    if len(long) < 2 or not _nested([(rank[u], rank[v]) for u, v in long]):
        return None
    inner = max(long, key=lambda edge: rank[edge[0]])
    turn = (rank[inner[0]] + rank[inner[1]]) // 2
    side = {n: ENCODER if r < turn else TURN if r == turn else DECODER for n, r in rank.items()}
    constraints = []
    for u, v in graph.edges:
        if side[u] == ENCODER and side[v] == DECODER:  # a skip: level
            constraints += [(u, v, 0), (v, u, 0)]
        elif side[v] == DECODER:  # the decoder climbs back up
            constraints.append((v, u, 1))
        else:
            constraints.append((u, v, 1))
    solved = _solve(list(graph.nodes), constraints)
    if solved is None:
        return None
    for node in graph.nodes:
        successors = graph.successors(node)
        if not graph.predecessors(node) and successors and side[node] == ENCODER:
            solved[node] = min(solved[v] for v in successors) - 1
    low = min(solved.values())
    return {n: r - low for n, r in solved.items()}, side
