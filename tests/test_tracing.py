"""The tracing core shared by the summary and the diagram: hooks always removed, modes
restored, meta passes that allocate nothing, one record both views agree with."""

import itertools

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnlab.diagram import trace_graph
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.summary import summarize
from cnnlab.tracing import TraceError, Tracer, model_device, resolve_input_size


def hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._forward_hooks_with_kwargs)
        for m in model.modules()
    )


def test_hooks_are_removed_and_modes_restored_after_a_pass_and_after_a_failing_one():
    model = create_model("lenet5").train()
    model.features[1].eval()
    modes = {m: m.training for m in model.modules()}
    Tracer(model).run((torch.rand(1, 1, 32, 32),))
    assert hook_count(model) == 0
    assert {m: m.training for m in model.modules()} == modes
    with pytest.raises(
        TraceError, match=r"^LeNet5 cannot run on input 1x3x32x32 \(it takes 1x32x32\): "
    ) as info:
        Tracer(model).run((torch.rand(1, 3, 32, 32),), training=True)
    assert "\n" not in str(info.value) and isinstance(info.value, CnnlabError)
    assert hook_count(model) == 0
    assert {m: m.training for m in model.modules()} == modes


class Devices(TorchDispatchMode):
    """The devices of every tensor an operator produced."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor):
                self.seen.add(t.device.type)
        return out


class WeightDevices(Tracer):
    """Records the devices of the weights each leaf module sees while it runs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.mode = Devices()
        self.weights: set[str] = set()

    def operators(self) -> Devices:
        return self.mode

    def enter(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.weights.update(p.device.type for p in module.parameters(recurse=False))


def test_unet_at_572_on_meta_allocates_nothing_and_leaves_the_weights_alone():
    model = create_model("unet")  # real CPU weights: the pass must not touch or copy them
    weights = list(model.parameters())
    tracer = WeightDevices(model)
    tracer.run((torch.zeros(1, 1, 572, 572, device="meta"),), on_meta=True)
    assert tracer.weights == {"meta"} and tracer.mode.seen == {"meta"}
    assert tracer.calls[-1].output_shapes == ((1, 2, 388, 388),)
    after = list(model.parameters())
    assert all(a is b and a.device.type == "cpu" for a, b in zip(weights, after, strict=True))
    assert hook_count(model) == 0


def test_lenet5_record_is_what_the_summary_and_the_diagram_show():
    model = create_model("lenet5").eval()
    tracer = Tracer(model)
    tracer.run((torch.rand(1, 1, 32, 32),))
    calls = tracer.calls
    assert [c.order for c in calls] == list(range(len(calls))) and len(calls) == 12
    assert calls[0].input_shapes == ((1, 1, 32, 32),)
    for before, after in itertools.pairwise(calls):  # a chain: each feeds the next
        assert after.input_shapes == before.output_shapes
    rows = summarize(model, (1, 32, 32)).rows
    assert [(r.name, r.type, r.output_shape) for r in rows] == [
        (c.name, c.type, c.output_shapes[0]) for c in calls
    ]
    layers = trace_graph(model).of_kind("layer")
    assert [(n.name, n.shape) for n in layers] == [(c.name, c.output_shapes[0]) for c in calls]


def test_input_size_and_device_defaults():
    model = create_model("lenet5")
    assert resolve_input_size(model, None) == (1, 32, 32)
    assert resolve_input_size(model, "1x8x8") == "1x8x8"
    assert model_device(model).type == "cpu" and model_device(nn.ReLU()).type == "cpu"
    with torch.device("meta"):
        assert model_device(create_model("lenet5")).type == "meta"
    with pytest.raises(CnnlabError, match="ReLU has no input_size attribute"):
        resolve_input_size(nn.ReLU(), None)
