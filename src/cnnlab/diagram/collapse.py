"""Fold the boxes of a block into one, so that a deep network fits on a page.

Two rules, both from the module tree the model was written as:

- **depth** ``N``: every module at path depth ``N`` (``stages.0.1`` is at depth 3) becomes one
  box labelled with its class and channels, ``BasicBlock 16->32``;
- **chains**: a block whose layers form a single path (``ConvNormAct``: conv, norm, activation;
  U-Net's ``DoubleConv``) becomes one box listing them, ``2× (Conv 3x3,64 · ReLU)``. Blocks
  with a merge inside (a residual add, a concatenation) stay open, so skips stay visible.

With no depth given, small models are drawn layer by layer, larger ones with their chains
folded, and the largest with their blocks folded as well (:func:`collapse`).
"""

from __future__ import annotations

import itertools

from cnnlab.diagram.graph import Graph, Node, Scope
from cnnlab.diagram.labels import compress_tokens, count_tokens
from cnnlab.errors import CnnlabError

# Up to this many nodes every layer gets its own box (LeNet-5 has 14).
FULL_LIMIT = 30
# Above this many nodes after folding chains, whole blocks are folded too.
FOLDED_LIMIT = 70
# A chain of more layers than this is a stage, not a block: its blocks are folded instead.
MAX_CHAIN = 8


def _members(graph: Graph) -> dict[Scope, list[int]]:
    members: dict[Scope, list[int]] = {}
    for node in graph.nodes.values():
        for scope in node.scopes:
            members.setdefault(scope, []).append(node.id)
    return members


def is_chain(graph: Graph, ids: list[int]) -> bool:
    """Do these layers form one path, entered at the first and left from the last?"""
    inside = set(ids)
    if len(ids) < 2 or any(graph.nodes[i].kind != "layer" for i in ids):
        return False
    links = {(u, v) for u, v in graph.edges if u in inside and v in inside}
    if links != set(itertools.pairwise(ids)):
        return False
    entries = {v for u, v in graph.edges if v in inside and u not in inside}
    exits = {u for u, v in graph.edges if u in inside and v not in inside}
    return entries <= {ids[0]} and exits <= {ids[-1]}


def _group_node(graph: Graph, scope: Scope, ids: list[int]) -> Node:
    inside = set(ids)
    nodes = [graph.nodes[i] for i in ids]
    outer = [graph.nodes[u] for u, v in graph.edges if v in inside and u not in inside]
    exits = [u for u, v in graph.edges if u in inside and v not in inside]
    last = graph.nodes[max(exits, default=ids[-1])]
    title = scope.type
    if outer and len(outer[0].shape) > 1 and len(last.shape) > 1:
        title = f"{title} {outer[0].shape[1]}->{last.shape[1]}"
    tokens = [n.token for n in nodes]
    weighty = [n for n in nodes if n.params] or nodes
    return Node(
        id=ids[0],
        kind="group",
        title=title,
        shape=last.shape,
        params=scope.params,
        category=weighty[0].category,
        name=scope.name,
        token=scope.type,
        detail=compress_tokens(tokens) if is_chain(graph, ids) else count_tokens(tokens),
        scopes=nodes[0].scopes[: nodes[0].scopes.index(scope)],
    )


def fold(graph: Graph, owners: dict[int, Scope]) -> Graph:
    """Replace the nodes owned by each scope with one group node (a lone layer stays)."""
    groups: dict[Scope, list[int]] = {}
    for node_id, scope in owners.items():
        groups.setdefault(scope, []).append(node_id)
    rename = {i: i for i in graph.nodes}
    replaced: dict[int, Node] = {}
    for scope, ids in groups.items():
        ids.sort()
        if len(ids) == 1 and graph.nodes[ids[0]].kind == "layer":
            continue
        replaced[ids[0]] = _group_node(graph, scope, ids)
        rename.update(dict.fromkeys(ids, ids[0]))
    folded = Graph()
    for node_id in sorted(set(rename.values())):
        folded.nodes[node_id] = replaced.get(node_id, graph.nodes[node_id])
    for u, v in graph.edges:
        edge = (rename[u], rename[v])
        if edge[0] != edge[1] and edge not in folded.edges:
            folded.edges.append(edge)
    return folded


def fold_chains(graph: Graph) -> Graph:
    """Fold every outermost block whose layers (at most :data:`MAX_CHAIN`) form a single
    path. The box is named after the innermost module holding the same layers (U-Net's
    ``bottom``, a ``Sequential`` around one ``DoubleConv``, is labelled ``DoubleConv``)."""
    members = _members(graph)
    chains = {s for s, ids in members.items() if len(ids) <= MAX_CHAIN and is_chain(graph, ids)}
    owners = {}
    for node in graph.nodes.values():
        outer = next((s for s in node.scopes if s in chains), None)
        if outer is not None:  # named after the innermost module holding the same layers
            same = [s for s in node.scopes if members[s] == members[outer]]
            owners[node.id] = same[-1]
    return fold(graph, owners)


def fold_depth(graph: Graph, depth: int) -> Graph:
    """Fold every module at path depth ``depth`` (or deeper, when a level is skipped)."""
    owners = {}
    for node in graph.nodes.values():
        scope = next((s for s in node.scopes if s.depth >= depth), None)
        if scope is not None:
            owners[node.id] = scope
    return fold(graph, owners)


def collapse(graph: Graph, depth: int | None = None) -> Graph:
    """The graph as drawn: ``depth=0`` every layer, ``depth=N`` blocks at depth ``N``
    folded, ``None`` chosen by size (:data:`FULL_LIMIT`, :data:`FOLDED_LIMIT`).

    Raises:
        CnnlabError: for a negative depth.
    """
    if depth is not None and depth < 0:
        raise CnnlabError(f"depth must be 0 (every layer) or more. Received: depth={depth}")
    if depth is not None:
        return fold_depth(graph, depth) if depth else graph
    if len(graph.nodes) <= FULL_LIMIT:
        return graph
    folded = fold_chains(graph)
    deepest = max((s.depth for s in _members(graph)), default=0)
    for level in range(deepest, 0, -1):
        if len(folded.nodes) <= FOLDED_LIMIT:
            break
        folded = fold_chains(fold_depth(graph, level))
    return folded
