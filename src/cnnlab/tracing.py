"""One forward pass of a model with a hook on every module: the tracing core of
:mod:`cnnlab.summary` (a row per layer) and :mod:`cnnlab.diagram` (a graph of layers).

A :class:`Tracer` runs the model once, in the mode asked for and with each module's mode
restored after; on the ``meta`` device when asked, with meta copies of the weights, so the
model is left untouched and a 572x572 U-Net allocates nothing. It records every leaf module
call as a :class:`LeafCall`, removes its hooks however the pass ends, and turns a failing
pass into one :class:`TraceError` line naming the model and the input. A view subclasses it:
:meth:`Tracer.enter` and :meth:`Tracer.leave` see every module call, and
:meth:`Tracer.operators` may add a mode that sees the operators in between.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from cnnlab.errors import CnnlabError
from cnnlab.models.info import model_info

Shape = tuple[int, ...]


class TraceError(CnnlabError):
    """The model cannot run on the traced input; a view may retry another way."""


@dataclass(frozen=True)
class LeafCall:
    """One call of a leaf module (one without children): what the views are built from.

    ``order`` counts the leaf calls as they start; shapes are those of the tensors in the
    arguments and in the output, depth first.
    """

    order: int
    name: str
    type: str
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]


def tensors(value) -> list[torch.Tensor]:
    """The tensors in ``value`` (nested tuples, lists and dict values), depth first."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, tuple | list):
        return [t for item in value for t in tensors(item)]
    return []


def shapes_of(value) -> tuple[Shape, ...]:
    """The shapes of :func:`tensors`, in their order."""
    return tuple(tuple(t.shape) for t in tensors(value))


def is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def model_device(model: nn.Module) -> torch.device:
    """Where the weights live (``meta`` for a model built there); CPU for a model without."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def resolve_input_size(model: nn.Module, given: Sequence | str | None) -> Sequence | str:
    """``given``, else the input size the model declares.

    Raises:
        CnnlabError: when neither says it.
    """
    size = given if given is not None else model_info(model).input_size
    if size is None:
        raise CnnlabError(
            f"{type(model).__name__} has no input_size attribute; pass the input size "
            "(C x H x W), e.g. --input 1x32x32"
        )
    return size


def _meta_twins(model: nn.Module) -> dict[str, torch.Tensor]:
    """Meta copies of the weights by name; a tensor shared under two names gets one copy."""
    twins: dict[int, torch.Tensor] = {}
    named = itertools.chain(
        model.named_parameters(remove_duplicate=False),
        model.named_buffers(remove_duplicate=False),
    )
    return {name: twins.setdefault(id(t), torch.empty_like(t, device="meta")) for name, t in named}


def _failure(model: nn.Module, inputs: Sequence[torch.Tensor], error: Exception) -> str:
    text = str(error).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
    shapes = ", ".join("x".join(map(str, x.shape)) for x in inputs)
    declared = model_info(model).input_size
    takes = f" (it takes {'x'.join(map(str, declared))})" if declared else ""
    return f"{type(model).__name__} cannot run on input {shapes}{takes}: {reason}"


class Tracer:
    """Hooks on every module of ``model`` for one pass, and the :class:`LeafCall` record."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {module: name for name, module in model.named_modules()}
        self.calls: list[LeafCall] = []
        self._started: list[tuple[int, tuple[Shape, ...]]] = []  # leaf calls under way
        self._order = itertools.count()

    def enter(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Before ``module`` runs."""

    def leave(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        """After ``module`` ran; for a leaf its call is already ``self.calls[-1]``."""

    def operators(self) -> AbstractContextManager:
        """A mode active during the pass, to see the operators; none here."""
        return nullcontext()

    def _pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if is_leaf(module):
            self._started.append((next(self._order), shapes_of([args, kwargs])))
        self.enter(module, args, kwargs)

    def _post(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        if is_leaf(module):
            order, shapes = self._started.pop()
            name, kind = self.names[module], type(module).__name__
            self.calls.append(LeafCall(order, name, kind, shapes, shapes_of(output)))
        self.leave(module, args, kwargs, output)

    def run(
        self,
        inputs: tuple[torch.Tensor, ...],
        *,
        training: bool = False,
        grad: bool = False,
        on_meta: bool = False,
    ) -> object:
        """``model(*inputs)`` once with the hooks in place; returns its output.

        Args:
            inputs: the input tensors (on ``meta`` with ``on_meta``).
            training: train mode (dropout, batch statistics, auxiliary heads) or eval.
            grad: record autograd history (what backward would keep), or not.
            on_meta: run on meta copies of the weights, whatever device they are on.

        Raises:
            TraceError: when the model cannot run on ``inputs`` (one line).
        """
        state = _meta_twins(self.model) if on_meta else {}
        modes = {module: module.training for module in self.model.modules()}
        handles = []
        try:
            for module in modes:
                handles.append(module.register_forward_pre_hook(self._pre, with_kwargs=True))
                handles.append(module.register_forward_hook(self._post, with_kwargs=True))
            self.model.train(training)
            with torch.set_grad_enabled(grad), self.operators():
                if on_meta:
                    return functional_call(self.model, state, inputs)
                return self.model(*inputs)
        except (NotImplementedError, RuntimeError) as error:
            raise TraceError(_failure(self.model, inputs, error)) from error
        finally:
            for handle in handles:
                handle.remove()
            for module, training_before in modes.items():
                module.training = training_before
