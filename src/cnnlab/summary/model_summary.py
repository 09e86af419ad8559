"""The summary of a model: rows and totals as data, then Keras-style text and JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.info import model_info
from cnnlab.summary.receptive import SpatialField
from cnnlab.summary.render import summary_html, summary_lines, summary_repr
from cnnlab.summary.trace import LayerRow, trace
from cnnlab.tracing import model_device, resolve_input_size


@dataclass
class ModelSummary:
    """Rows (one per layer call, in call order) and totals of one traced forward pass."""

    model_name: str
    input_shapes: list[tuple[int, ...]]
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    param_bytes: int
    unused_params: int
    activation_bytes: int
    saved_bytes: int
    uncounted: dict[str, int] = field(default_factory=dict)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def total_flops(self) -> int:
        """FLOPs counted as 2 x MACs (one multiplication and one addition each)."""
        return 2 * self.total_macs

    def to_json(self) -> dict:
        return {
            "model": self.model_name,
            "input_shape": [list(s) for s in self.input_shapes],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
            "saved_for_backward_bytes": self.saved_bytes,
            "uncounted_ops": dict(self.uncounted),
            "layers": [
                {
                    "name": row.name,
                    "type": row.type,
                    "output_shape": list(row.output_shape),
                    "params": row.params,
                    "macs": row.macs,
                    "receptive_field": _field_json(row.field),
                }
                for row in self.rows
            ],
        }

    def lines(self) -> list[str]:
        """The table and totals as text lines, in the manner of Keras' ``model.summary()``."""
        return summary_lines(self)

    def print(self, print_fn: Callable[[str], object] = print) -> None:
        """Send each line to ``print_fn`` (Keras' hook for capturing the summary)."""
        for line in self.lines():
            print_fn(line)

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return summary_repr(self)

    def _repr_html_(self) -> str:
        """The layer table in a notebook (IPython's rich display protocol)."""
        return summary_html(self)


def _field_json(value: SpatialField | None) -> dict | None:
    if value is None:
        return None
    return {
        "size": [f.size for f in value.fields],
        "jump": [float(f.jump) for f in value.fields],
        "start": [float(f.start) for f in value.fields],
    }


def _example_inputs(model, input_size, batch_size, device) -> tuple[torch.Tensor, ...]:
    info = model_info(model)
    input_size = resolve_input_size(model, input_size)
    sizes = [input_size] if isinstance(input_size[0], int) else list(input_size)
    dtype = info.input_dtype
    if dtype.is_floating_point:
        return tuple(torch.rand(batch_size, *s, device=device) for s in sizes)
    return tuple(torch.zeros(batch_size, *s, dtype=dtype, device=device) for s in sizes)


def summarize(
    model: nn.Module,
    input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
    batch_size: int = 1,
    mode: str = "eval",
    inputs: Sequence[torch.Tensor] | None = None,
) -> ModelSummary:
    """Trace one forward pass of ``model`` and return its :class:`ModelSummary`.

    Args:
        model: any ``nn.Module``.
        input_size: one input's size without the batch dim, PyTorch order (C x H x W), or a
            list of them for several inputs; defaults to ``model.input_size``.
        batch_size: N of the example batch (MACs and memory scale with it).
        mode: ``"eval"`` (default, as at inference) or ``"train"`` (dropout masks, batch
            statistics and auxiliary heads included). Each module's mode is restored after.
        inputs: ready-made input tensors instead of ``input_size``.

    Raises:
        CnnlabError: when the input does not fit the model (the message names both shapes).
    """
    if batch_size < 1:
        raise CnnlabError(f"batch size must be >= 1. Received: batch_size={batch_size}")
    if mode not in ("eval", "train"):
        raise CnnlabError(f"mode must be 'eval' or 'train'. Received: mode={mode!r}")
    if inputs is not None:
        example = tuple(inputs)
    else:
        example = _example_inputs(model, input_size, batch_size, model_device(model))
    traced = trace(model, example, training=mode == "train")
    params = list(model.parameters())
    used = sum(row.params for row in traced.rows)
    return ModelSummary(
        model_name=type(model).__name__,
        input_shapes=[tuple(x.shape) for x in example],
        rows=traced.rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        unused_params=sum(p.numel() for p in params) - used,
        activation_bytes=traced.activation_bytes,
        saved_bytes=traced.saved_bytes,
        uncounted=dict(sorted(traced.uncounted.items())),
    )
