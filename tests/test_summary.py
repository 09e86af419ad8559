"""Model inspection: parameter and MAC counts, receptive fields and memory, each checked
against an independent source (published values, FlopCounterMode, gradients, autograd)."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, list_models
from cnnlab.summary import summarize
from cnnlab.summary.memory import measure_saved_bytes


class Branchy(nn.Module):
    """Inception-style branches, a residual add, a transposed conv and functional matmul."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1)
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b3 = nn.Conv2d(8, 4, 3, padding=1)
        self.b5 = nn.Conv2d(8, 4, 5, padding=2)
        self.grouped = nn.Conv2d(12, 12, 3, padding=2, dilation=2, groups=3)
        self.up = nn.ConvTranspose2d(12, 6, 2, stride=2)
        self.act = nn.Tanh()
        self.weight = nn.Parameter(torch.randn(6, 5))

    def forward(self, x):
        x = self.act(self.stem(x))
        x = torch.cat([self.b1(x), self.b3(x), self.b5(x)], dim=1)  # N x 12 x H x W
        x = self.act(x + self.grouped(x))
        x = self.act(self.up(x))  # N x 6 x 2H x 2W
        return x.mean(dim=(2, 3)) @ self.weight


class SharedTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


def flop_counter_macs(model, x) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return counter.get_total_flops() // 2


def test_lenet5_and_mlp_published_counts():
    lenet = summarize(create_model("lenet5"), (1, 32, 32))
    mlp = summarize(create_model("mlp"), (1, 28, 28))
    assert lenet.total_params == 61_706
    assert mlp.total_params == 669_706
    assert [row.output_shape for row in lenet.rows if row.type == "Conv2d"] == [
        (1, 6, 28, 28),
        (1, 16, 10, 10),
    ]


def test_lenet5_macs_equal_the_arith_formulas():
    summary = summarize(create_model("lenet5"), (1, 32, 32))
    conv_macs = 28 * 28 * 6 * 5 * 5 * 1 + 10 * 10 * 16 * 5 * 5 * 6
    dense_macs = 400 * 120 + 120 * 84 + 84 * 10
    assert summary.total_macs == conv_macs + dense_macs
    assert summary.total_flops == 2 * summary.total_macs


@pytest.mark.parametrize("model_name", ["lenet5", "mlp"])
def test_macs_agree_with_pytorch_flop_counter(model_name):
    model = create_model(model_name).eval()
    x = torch.rand(3, 1, 32, 32) if model_name == "lenet5" else torch.rand(3, 1, 28, 28)
    assert summarize(model, inputs=[x]).total_macs == flop_counter_macs(model, x)


def test_branching_model_counts_functional_and_transposed_ops():
    model = Branchy().eval()
    x = torch.rand(2, 2, 8, 8)
    summary = summarize(model, inputs=[x])
    assert summary.total_macs == flop_counter_macs(model, x)
    by_name = {row.name: row for row in summary.rows}
    # Transposed conv on its input size: 8*8 pixels * 12 in * 6 out * 2*2 kernel, batch 2.
    assert by_name["up"].macs == 2 * 8 * 8 * 12 * 6 * 2 * 2
    functional = [row for row in summary.rows if row.type == "functional"]
    assert {"cat", "add", "mean"} <= {row.name for row in functional}
    assert sum(row.macs for row in functional) == 2 * 6 * 5  # the x @ weight
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert "tanh" in summary.uncounted


def test_shared_parameters_are_counted_once():
    summary = summarize(SharedTwice(), (16,))
    calls = [row for row in summary.rows if row.name == "fc"]
    assert len(calls) == 2
    assert [row.params for row in calls] == [16 * 16 + 16, 0]
    assert summary.total_params == 16 * 16 + 16
    assert summary.total_macs == 2 * 16 * 16


def measured_receptive_field(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> int:
    """Height of the input region whose pixels change the centre output of ``layer``."""
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    x = x.clone().requires_grad_(True)
    model(x)
    handle.remove()
    out = captured["out"]
    out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(dim=(0, 2)) > 0)
    return int(rows.max() - rows.min() + 1)


def test_receptive_field_of_lenet5_matches_gradients():
    torch.manual_seed(0)
    model = create_model("lenet5").eval()
    x = torch.rand(1, 1, 32, 32)
    summary = summarize(model, inputs=[x])
    field = {row.name: row.field.fields[0].size for row in summary.rows if row.field}
    for name in ("features.0", "features.2", "features.3"):
        layer = model.get_submodule(name)
        assert field[name] == measured_receptive_field(model, layer, x), name
    assert field["features.3"] == 14


def test_receptive_field_through_branches_and_skips_matches_gradients():
    torch.manual_seed(0)
    model = Branchy().eval()
    x = torch.rand(1, 2, 32, 32)
    summary = summarize(model, inputs=[x])
    rows = {row.name: row for row in summary.rows}
    # stem 3 -> b5 adds 4 -> 7; the dilated grouped conv adds 2*(3-1) = 4 -> 11 (largest path).
    assert rows["cat"].field.fields[0].size == 7
    assert rows["add"].field.fields[0].size == 11
    assert measured_receptive_field(model, model.b5, x) == 7
    assert measured_receptive_field(model, model.grouped, x) == 11


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_saved_memory_estimate_matches_autograd(mode):
    model = create_model("lenet5")
    x = torch.rand(8, 1, 32, 32)
    summary = summarize(model, inputs=[x], mode=mode)
    model.train(mode == "train")
    assert summary.saved_bytes == measure_saved_bytes(model, [x])


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.conv1, self.bn1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        z = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        x = torch.relu(z + x)  # a[l+2] = g(z[l+2] + a[l])
        return self.head(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_saved_memory_estimate_matches_autograd_on_a_residual_net(mode):
    model = TinyResNet()
    x = torch.rand(4, 3, 16, 16)
    summary = summarize(model, inputs=[x], mode=mode)
    model.train(mode == "train")
    measured = measure_saved_bytes(model, [x])
    assert summary.saved_bytes == pytest.approx(measured, rel=0.01)
    assert summary.activation_bytes >= summary.saved_bytes


def test_summary_text_is_captured_through_print_fn():
    lines: list[str] = []
    summarize(create_model("lenet5"), (1, 32, 32)).print(lines.append)
    text = "\n".join(lines)
    assert "Total params: 61,706" in text
    assert "FLOPs (2 x MACs)" in text
    assert "features.0 (Conv2d)" in text


def test_json_has_the_documented_keys():
    data = summarize(create_model("lenet5"), (1, 32, 32)).to_json()
    assert {"total_params", "trainable_params", "non_trainable_params", "total_macs"} <= set(data)
    layer = data["layers"][0]
    assert set(layer) == {"name", "type", "output_shape", "params", "macs", "receptive_field"}
    assert layer["receptive_field"]["size"] == [5, 5]


def test_frozen_parameters_are_non_trainable():
    model = create_model("lenet5")
    for p in model.features.parameters():
        p.requires_grad_(False)
    summary = summarize(model, (1, 32, 32))
    assert summary.non_trainable_params == 156 + 2_416
    assert summary.trainable_params == 61_706 - 156 - 2_416


def test_wrong_input_is_one_clear_error():
    with pytest.raises(CnnlabError, match=r"cannot run on input 1x3x32x32") as info:
        summarize(create_model("lenet5"), (3, 32, 32))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_agrees_with_pytorch_flop_counter(name):
    with torch.device("meta"):  # shapes only: the whole zoo at canonical sizes in a second
        model = create_model(name).eval()
        summary = summarize(model)
        x = torch.zeros(1, *model.input_size, dtype=getattr(model, "input_dtype", torch.float32))
    assert summary.total_macs == flop_counter_macs(model, x)
    assert summary.total_params == sum(p.numel() for p in model.parameters())


def test_saved_memory_estimate_matches_autograd_on_resnet20():
    model = create_model("resnet20")
    x = torch.rand(2, 3, 32, 32)
    summary = summarize(model, inputs=[x], mode="train")
    model.train()
    assert summary.saved_bytes == pytest.approx(measure_saved_bytes(model, [x]), rel=0.01)


def test_summary_on_meta_equals_summary_on_cpu():
    cpu = summarize(create_model("resnet20"), mode="train")
    with torch.device("meta"):
        meta = summarize(create_model("resnet20"), mode="train")
    assert (meta.total_macs, meta.total_params) == (cpu.total_macs, cpu.total_params)
    assert (meta.activation_bytes, meta.saved_bytes) == (cpu.activation_bytes, cpu.saved_bytes)
