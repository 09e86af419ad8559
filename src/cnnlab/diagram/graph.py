"""Trace a model into a graph: layers and merges as nodes, tensors flowing between them as edges.

One forward pass runs with the hooks of :class:`cnnlab.tracing.Tracer` on every module and a
``TorchFunctionMode`` that sees every ``torch`` function called outside the leaf modules. Each
tensor remembers the node that produced it, so the edges are the real data flow, whatever
Python the ``forward`` contains (loops, shape checks, ``x + shortcut(x)``, ``torch.cat`` of
branches or of a U-Net skip). ``torch.fx`` would need a traceable ``forward``; U-Net's size
checks are not.

Nodes are leaf modules (``Conv2d``, ``ReLU``...), functional operators with tensor inputs
(``add``, ``cat``, ``amax``), the input and the output. Views and copies (``view``, slicing,
``pad``, ``transpose``) pass their input's node through, and ``nn.Identity`` is no node, so a
residual shortcut is an edge that bypasses the block. The pass runs on the ``meta`` device
(shapes only, nothing computed) unless the model needs real values.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnlab.diagram.labels import category, layer_label
from cnnlab.models.info import model_info
from cnnlab.shapes import parse_dims
from cnnlab.tracing import (
    TraceError,
    Tracer,
    is_leaf,
    model_device,
    resolve_input_size,
    shapes_of,
    tensors,
)

# Operators that only view, copy or move their first tensor input: its node passes through.
PASS_THROUGH = frozenset(
    {
        *("getitem", "get", "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten"),
        *("transpose", "t", "permute", "movedim", "swapaxes", "squeeze", "unsqueeze"),
        *("contiguous", "clone", "detach", "to", "type", "float", "double", "half"),
        *("expand", "expand_as", "narrow", "pad", "split", "chunk", "unbind", "select"),
        "requires_grad",
    }
)
# Operators whose output is new data that depends on no tensor's values.
FRESH = frozenset(
    {
        *("zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like"),
        *("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor"),
    }
)
MERGES = frozenset({"add", "sub", "mul", "div", "cat", "concat", "concatenate", "stack", "matmul"})
_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "truediv", "matmul"})


@dataclass(frozen=True)
class Scope:
    """One call of a container module (a block): where a node sits in the module tree."""

    name: str
    call: int
    type: str
    params: int

    @property
    def depth(self) -> int:
        """Components of the module path: ``stages.0.1`` is at depth 3."""
        return len(self.name.split("."))


@dataclass
class Node:
    """A box of the diagram.

    ``kind`` is ``input``, ``layer`` (a leaf module call), ``op`` (a functional operator),
    ``group`` (folded modules) or ``output``. ``title`` is the label (``Conv2d 5x5, 6, s1``),
    ``token`` its short form inside a group, ``detail`` a group's contents.
    """

    id: int
    kind: str
    title: str
    shape: tuple[int, ...] = ()
    params: int = 0
    category: str = "other"
    name: str = ""
    token: str = ""
    detail: str = ""
    scopes: tuple[Scope, ...] = ()


@dataclass
class Graph:
    """Nodes in execution order (ids increase) and edges ``(source id, target id)``."""

    nodes: dict[int, Node] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)

    def predecessors(self, node_id: int) -> list[int]:
        return [u for u, v in self.edges if v == node_id]

    def successors(self, node_id: int) -> list[int]:
        return [v for u, v in self.edges if u == node_id]

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == kind]


def op_name(func) -> str:
    """``Tensor.__iadd__`` -> ``add``, ``torch.cat`` -> ``cat``, ``Tensor.add_`` -> ``add``."""
    name = getattr(func, "__name__", str(func)).strip("_")
    if name[:1] in ("i", "r") and name[1:] in _ARITHMETIC:
        name = name[1:]
    return "div" if name == "truediv" else name


class _Tracer(Tracer):
    """Builds the graph from the core's leaf calls (layers), the hooks (blocks) and the
    function mode (operators)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.graph = Graph()
        self.params = {m: {id(p): p.numel() for p in m.parameters()} for m in model.modules()}
        self.counted: set[int] = set()
        self.sources: dict[int, tuple[weakref.ref, int]] = {}
        self.scopes: list[Scope] = []
        self.block_calls = itertools.count()
        self.in_leaf = 0

    def operators(self) -> _Recorder:
        return _Recorder(self)

    def add_node(self, node_kind: str, title: str, inputs, output, **extra) -> None:
        node_id = len(self.graph.nodes)
        shape = next(iter(shapes_of(output)), ())
        node = Node(node_id, node_kind, title, shape, scopes=tuple(self.scopes), **extra)
        self.graph.nodes[node_id] = node
        for source in self.source_ids(inputs):
            self.graph.edges.append((source, node_id))
        self.set_source(output, node_id)

    def source_ids(self, value) -> list[int]:
        """Nodes that produced the tensors in ``value``, each once, in argument order."""
        found: list[int] = []
        for t in tensors(value):
            entry = self.sources.get(id(t))
            if entry is not None and entry[0]() is t and entry[1] not in found:
                found.append(entry[1])
        return found

    def set_source(self, value, node_id: int) -> None:
        for t in tensors(value):
            self.sources[id(t)] = (weakref.ref(t), node_id)

    def new_params(self, module: nn.Module) -> int:
        """Parameters not drawn on an earlier box (a layer called twice shows them once)."""
        fresh = {k: n for k, n in self.params[module].items() if k not in self.counted}
        self.counted.update(fresh)
        return sum(fresh.values())

    def enter(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if is_leaf(module):
            self.in_leaf += 1
        elif module is not self.model:
            params = sum(self.params[module].values())
            name, kind = self.names[module], type(module).__name__
            self.scopes.append(Scope(name, next(self.block_calls), kind, params))

    def leave(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        if not is_leaf(module):
            if module is not self.model:
                self.scopes.pop()
            return
        self.in_leaf -= 1
        if self.in_leaf:  # a module called inside a layer is part of that layer
            return
        if isinstance(module, nn.Identity):
            for source in self.source_ids([args, kwargs])[:1]:
                self.set_source(output, source)
            return
        self.add_node(
            "layer",
            layer_label(module),
            [args, kwargs],
            output,
            params=self.new_params(module),
            category=category(module),
            name=self.calls[-1].name,
            token=layer_label(module, short=True),
        )

    def record(self, func, args, kwargs, output) -> None:
        """A ``torch`` function called by a container's ``forward`` (not inside a layer)."""
        if self.in_leaf:
            return
        name = op_name(func)
        sources = self.source_ids([args, kwargs])
        if name in FRESH or not sources or not tensors(output):
            return
        if name in PASS_THROUGH:
            self.set_source(output, sources[0])
            return
        owner = self.scopes[-1].name if self.scopes else ""
        merge = name in MERGES or len(sources) > 1
        self.add_node(
            "op",
            name,
            [args, kwargs],
            output,
            category="merge" if merge else "other",
            name=f"{owner}.{name}" if owner else name,
            token=name,
        )


class _Recorder(TorchFunctionMode):
    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        self.tracer.record(func, args, kwargs, output)
        return output


def _run(model: nn.Module, x: torch.Tensor, on_meta: bool) -> Graph:
    tracer = _Tracer(model)
    tracer.add_node("input", "Input", [], x)
    output = tracer.run((x,), on_meta=on_meta)
    tracer.add_node("output", "Output", output, output)
    return _drop_dead_ops(tracer.graph)


def _drop_dead_ops(graph: Graph) -> Graph:
    """Leave out operators whose result never reaches the output (``if x.sum() > 0``)."""
    live = {n.id for n in graph.of_kind("output")}
    for u, v in reversed(graph.edges):  # edges are in execution order
        if v in live:
            live.add(u)
    dead = {n.id for n in graph.of_kind("op") if n.id not in live}
    graph.nodes = {i: n for i, n in graph.nodes.items() if i not in dead}
    graph.edges = [(u, v) for u, v in graph.edges if u not in dead and v not in dead]
    return graph


def trace_graph(model: nn.Module, input_size: tuple[int, ...] | str | None = None) -> Graph:
    """Run ``model`` once in eval mode on a zero input of ``input_size`` (C x H x W, no batch)
    and return its graph; the model's ``input_size`` attribute is the default.

    Shapes come from the ``meta`` device when the forward allows it; a model that needs real
    values (``.item()``, data-dependent branches) runs on its own device instead.

    Raises:
        CnnlabError: without an input size, or when the model cannot take that input.
    """
    size = parse_dims(resolve_input_size(model, input_size), name="input (C x H x W)")
    dtype = model_info(model).input_dtype
    device = model_device(model)
    try:
        try:
            return _run(model, torch.zeros(1, *size, dtype=dtype, device="meta"), True)
        except TraceError:
            if device.type == "meta":
                raise
            return _run(model, torch.zeros(1, *size, dtype=dtype, device=device), False)
    except TraceError as error:
        raise TraceError(
            f"{error}; pass an input size (C x H x W) that it accepts, e.g. --input 1x32x32"
        ) from error
