"""How a fit runs: precision, memory format, optimizer implementation and allocator, resolved
from the settings and the machine, recorded in the run, and refused when impossible."""

import json
import re
import resource

import pytest
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.runs import RunRecorder
from cnnlab.train import TrainConfig, Trainer
from cnnlab.train import execution as ex

CPU = torch.device("cpu")


def test_auto_precision_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(ex, "native_bf16", lambda device: True)
    assert ex.resolve_precision("auto", CPU) == "bf16"
    monkeypatch.setattr(ex, "native_bf16", lambda device: False)
    assert ex.resolve_precision("auto", CPU) == "fp32"
    assert ex.resolve_precision("bf16", CPU) == "bf16"  # asked for: emulated, but honoured


def test_auto_precision_is_float32_on_cuda(monkeypatch):
    monkeypatch.setattr(ex, "native_bf16", lambda device: True)
    assert ex.resolve_precision("auto", torch.device("cuda")) == "fp32"


def test_native_bf16_reads_the_cpu_instruction_set(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False})
    assert not ex.native_bf16(CPU)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert ex.native_bf16(CPU)
    assert not ex.native_bf16(torch.device("meta"))


def test_channels_last_auto_is_on_for_conv_models_on_cpu():
    conv, mlp = create_model("lenet5"), create_model("mlp")
    assert ex.resolve_channels_last("auto", conv, CPU, reduced=False)
    assert not ex.resolve_channels_last("auto", mlp, CPU, reduced=False)
    assert not ex.resolve_channels_last("auto", conv, torch.device("cuda"), reduced=False)
    assert ex.resolve_channels_last("auto", conv, torch.device("cuda"), reduced=True)
    assert not ex.resolve_channels_last(False, conv, CPU, reduced=True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"precision": "fp16"}, "precision must be one of auto, fp32, bf16. Received: precision="),
        ({"channels_last": "sometimes"}, "channels_last must be auto, yes (True) or no (False)"),
    ],
)
def test_impossible_settings_are_refused_in_one_line(settings, message):
    with pytest.raises(CnnlabError, match=re.escape(message)) as info:
        TrainConfig(**settings)
    assert "\n" not in str(info.value)


def test_the_run_records_what_was_chosen(tmp_path):
    images = torch.randint(0, 256, (64, 1, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (64,))
    recorder = RunRecorder(tmp_path)
    trainer = Trainer(
        create_model("lenet5"), epochs=1, batch_size=32, verbose=0, callbacks=[recorder]
    )
    trainer.fit((images, labels))
    recorded = json.loads((tmp_path / "config.json").read_text())["execution"]
    assert recorded == trainer.execution.to_json()
    assert recorded["device"] == "cpu" and recorded["fused_optimizer"]
    assert recorded["channels_last"] and recorded["precision"] in ("fp32", "bf16")
    assert recorded["precision"] == ("bf16" if ex.native_bf16(CPU) else "fp32")
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in _conv_weights(trainer))
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    assert trainer.optimizer.defaults["fused"]


def _conv_weights(trainer: Trainer) -> list[torch.Tensor]:
    return [m.weight for m in trainer.model.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_steps_autocast_and_evaluation_follows_its_own_setting(precision):
    seen: list[tuple[bool, torch.dtype]] = []  # (training mode, output dtype) per forward
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    model[2].register_forward_hook(
        lambda module, args, out: seen.append((module.training, out.dtype))
    )
    model.input_size = (1, 8, 8)
    images = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    trainer = Trainer(
        model, epochs=1, batch_size=8, verbose=0, precision=precision, eval_precision="fp32"
    )
    trainer.fit((images, torch.randint(0, 3, (8,))))
    expected = torch.bfloat16 if precision == "bf16" else torch.float32
    assert [dtype for training, dtype in seen if training] == [expected]
    assert all(dtype == torch.float32 for training, dtype in seen if not training)
    trainer.predict(images)
    assert seen[-1] == (False, torch.float32)
    trainer.predict(images, precision="bf16")
    assert seen[-1] == (False, torch.bfloat16)
    assert trainer.history.rows[0]["loss"] > 0  # the loss saw float32 logits: finite, positive


def test_freed_memory_is_reused_instead_of_faulted_in_again():
    """With the trainer's allocator setting, a fit of the MNIST CNN (activations of 5-22 MB
    per batch of 256) reuses freed memory: a few page faults per epoch. Measured with
    glibc's default thresholds: 25,000-54,000 faults for the same epoch."""
    if not ex.keep_freed_memory().startswith("glibc"):
        pytest.skip(f"allocator left as it is here: {ex.keep_freed_memory()}")
    images = torch.randint(0, 256, (1024, 1, 28, 28), dtype=torch.uint8)
    data = (images, torch.randint(0, 10, (1024,)))
    model = create_model("mnist-cnn")
    Trainer(model, epochs=1, batch_size=256, verbose=0).fit(data)

    def faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    counts = []
    for _ in range(2):
        before = faults()
        Trainer(model, epochs=1, batch_size=256, verbose=0).fit(data)
        counts.append(faults() - before)
    assert min(counts) < 5_000, counts


def test_the_recorded_mmap_threshold_is_the_one_in_force():
    """Buffers of 48 MiB (a U-Net width-64 activation is 33.5 MB) stay on the heap when
    the record says the threshold is above them: reused, not page-faulted in again."""
    record = ex.keep_freed_memory()
    if not record.startswith("glibc"):
        pytest.skip(f"allocator left as it is here: {record}")
    threshold_mib = int(record.split("mmap threshold ")[1].split(" MiB")[0])
    if threshold_mib <= 48:
        pytest.skip(f"this glibc keeps buffers up to {threshold_mib} MiB only")

    def faults_of_one_buffer() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.empty(12 << 20).fill_(1.0)  # 12 Mi float32 = 48 MiB, freed at once
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    # the heap grows first; where earlier tests left it decides how many buffers that takes
    settled = [faults_of_one_buffer() for _ in range(4)]
    faults = [faults_of_one_buffer() for _ in range(5)]
    assert sum(faults) < 2_000, (settled, faults)  # an mmap per buffer: ~12,000 each


def huge_page_heap_bytes() -> int:
    """Bytes of this process's heap in mappings marked MADV_HUGEPAGE ("hg" in smaps)."""
    marked, size, in_heap = 0, 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", fields[0]):
                start, end = (int(a, 16) for a in fields[0].split("-"))
                size, in_heap = end - start, fields[-1] == "[heap]"
            elif fields[0] == "VmFlags:" and in_heap and "hg" in fields[1:]:
                marked += size
    return marked


def test_a_fit_marks_heap_for_its_steps_activations_as_huge_pages():
    """The steps' activations are carved from heap marked MADV_HUGEPAGE, so the kernel backs
    them with 2 MiB pages; the run records how much was marked."""
    if not ex.keep_freed_memory().startswith("glibc: mmap threshold 1024"):
        pytest.skip(f"allocator left as it is here: {ex.keep_freed_memory()}")
    if not ex.huge_pages_allowed():
        pytest.skip("transparent huge pages are off here")
    images = torch.randint(0, 256, (512, 1, 28, 28), dtype=torch.uint8)
    trainer = Trainer(create_model("mnist-cnn"), epochs=1, batch_size=256, verbose=0)
    trainer.fit((images, torch.randint(0, 10, (512,))))
    marked = trainer.execution.huge_pages_mib
    assert 0 < marked <= ex.STEP_HEAP >> 20
    assert huge_page_heap_bytes() >= marked << 20
    assert trainer.execution.to_json()["huge_pages_mib"] == marked


def test_nothing_is_marked_when_the_allocator_is_left_alone():
    execution = ex.resolve_execution(create_model("lenet5"), CPU, "fp32", "auto", False)
    left = ex.mark_step_heap(ex.replace(execution, allocator="default"))
    assert left.huge_pages_mib == 0
