"""Checkpoints: atomic writes, damaged files detected, optimizer state round trip, clear
messages for weights that do not fit the model."""

import os

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.runs import checkpoint as ckpt
from cnnlab.train import state


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    meta = {"epoch": 3, "nested": {"x": [1.5, None]}, "nan": float("nan")}
    path = ckpt.save_checkpoint(tmp_path / "c.safetensors", tensors, meta)
    loaded, loaded_meta = ckpt.load_checkpoint(path)
    assert torch.equal(loaded["a"], tensors["a"]) and torch.equal(loaded["b"], tensors["b"])
    assert loaded_meta["epoch"] == 3 and loaded_meta["nested"] == {"x": [1.5, None]}


def test_shared_storage_views_are_saved(tmp_path):
    base = torch.arange(4.0)
    path = ckpt.save_checkpoint(tmp_path / "c.safetensors", {"x": base, "y": base[:2]}, {})
    loaded, _ = ckpt.load_checkpoint(path)
    assert loaded["y"].tolist() == [0.0, 1.0]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    ckpt.save_checkpoint(path, {"w": torch.zeros(3)}, {"epoch": 1})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(path, {"w": torch.ones(3)}, {"epoch": 2})
    monkeypatch.undo()
    tensors, meta = ckpt.load_checkpoint(path)
    assert meta["epoch"] == 1 and tensors["w"].sum() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.safetensors"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header", "bit"])
def test_damaged_files_are_detected(tmp_path, damage):
    path = ckpt.save_checkpoint(tmp_path / "c.safetensors", {"w": torch.zeros(100)}, {"e": 1})
    payload = path.read_bytes()
    broken = {
        "truncate": payload[: len(payload) - 50],
        "garbage": os.urandom(len(payload)),
        "empty": b"",
        "header": payload[:8] + b"[" + payload[9:],
        "bit": payload[:-10] + bytes([payload[-10] ^ 1]) + payload[-9:],
    }[damage]
    path.write_bytes(broken)
    with pytest.raises(CnnlabError, match="not a readable cnnlab checkpoint"):
        ckpt.load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CnnlabError, match="cannot read checkpoint"):
        ckpt.load_checkpoint(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizer_state_round_trip(name):
    model = nn.Linear(3, 2)
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "adam": torch.optim.Adam}
    optimizer = make[name](model.parameters())
    for _ in range(2):
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
    tensors, meta = state.optimizer_to_state(optimizer)
    fresh = make[name](model.parameters())
    state.optimizer_from_state(fresh, tensors, meta)
    a, b = optimizer.state_dict(), fresh.state_dict()
    for index, entries in a["state"].items():
        for key, value in entries.items():
            assert torch.equal(value, b["state"][index][key])


@pytest.mark.parametrize("fused", [False, True])
def test_restored_moments_take_the_channels_last_layout_of_their_parameter(fused):
    """A checkpoint stores moments contiguous; restored as such next to a channels_last
    weight, PyTorch's fused Adam would pair each weight with another element's moments."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(conv.parameters(), lr=0.1, fused=fused)
    x = torch.randn(2, 3, 6, 6).contiguous(memory_format=torch.channels_last)

    def step(opt: torch.optim.Optimizer) -> None:
        opt.zero_grad()
        (conv(x) ** 2).sum().backward()
        opt.step()

    step(optimizer)
    tensors, meta = state.optimizer_to_state(optimizer)
    saved = {k: v.clone(memory_format=torch.contiguous_format) for k, v in tensors.items()}
    start = {k: v.clone() for k, v in conv.state_dict().items()}
    step(optimizer)
    expected = {k: v.clone() for k, v in conv.state_dict().items()}
    conv.load_state_dict(start)
    restored = torch.optim.Adam(conv.parameters(), lr=0.1, fused=fused)
    state.optimizer_from_state(restored, saved, meta)
    assert restored.state[conv.weight]["exp_avg"].stride() == conv.weight.stride()
    step(restored)
    for key, value in expected.items():
        assert torch.equal(value, conv.state_dict()[key]), key


def test_wrong_architecture_lists_the_mismatch():
    small, other = nn.Sequential(nn.Linear(3, 2)), nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pytest.raises(CnnlabError) as info:
        state.load_weights(other, small.state_dict(), "run/best.safetensors")
    message = str(info.value)
    assert "\n" not in message
    assert "0.weight (2, 3) vs (4, 3)" in message and "run/best.safetensors" in message
    with pytest.raises(CnnlabError, match="1 unexpected: extra"):
        state.load_weights(small, {**small.state_dict(), "extra": torch.zeros(1)}, "f")
