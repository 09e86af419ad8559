"""The memory estimate of training: exact against autograd on real tensors, computed without
allocating (a 31 M-parameter U-Net at batch 64 under a 2 GB cap), and close to the resident
memory a real fit grows by."""

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.summary.memory import measure_saved_bytes
from cnnlab.train import memory
from cnnlab.train.memory import (
    MemoryEstimate,
    available_bytes,
    cgroup_rooms,
    check_fits,
    estimate_training,
    format_bytes,
    largest_batch_size,
    trace_activations,
)

MiB, GiB = 1 << 20, 1 << 30
SMALL_UNET = {"base_width": 8, "depth": 2, "padding": "same", "norm_layer": "batch"}
MODELS = [
    ("lenet5", {}, (1, 32, 32)),
    ("mnist-cnn", {}, (1, 28, 28)),
    ("unet", SMALL_UNET, (1, 64, 64)),
]


def run_capped(code: str, cap: int, env: dict[str, str] | None = None) -> dict:
    """``code`` in a fresh interpreter whose address space is capped at ``cap`` bytes (with
    ``env`` added to the environment); the JSON it prints last."""
    prologue = textwrap.dedent(f"""
        import resource
        _, _hard = resource.getrlimit(resource.RLIMIT_AS)
        _cap = {cap} if _hard == resource.RLIM_INFINITY else min({cap}, _hard)
        resource.setrlimit(resource.RLIMIT_AS, (_cap, _hard))
        """)
    result = subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(("name", "kwargs", "shape"), MODELS)
def test_meta_saved_activations_equal_autograd_on_real_tensors(name, kwargs, shape):
    model = create_model(name, **kwargs)
    traced = trace_activations(model, shape, 8)
    model.train()
    assert traced.saved == measure_saved_bytes(model, [torch.rand(8, *shape)])


@pytest.mark.parametrize(("name", "kwargs", "shape"), MODELS)
def test_activations_and_batch_scale_with_the_batch_size(name, kwargs, shape):
    model = create_model(name, **kwargs)
    eight, sixteen = (estimate_training(model, shape, n) for n in (8, 16))
    # all but the per-channel statistics batch norm saves (a few hundred bytes)
    assert sixteen.activations == pytest.approx(2 * eight.activations, rel=1e-4)
    assert sixteen.batch == 2 * eight.batch
    assert sixteen.total - sixteen.activations - sixteen.batch == eight.fixed


@pytest.mark.parametrize(("name", "kwargs", "shape"), MODELS)
def test_bfloat16_estimate_bounds_what_autocast_saves(name, kwargs, shape):
    model = create_model(name, **kwargs)
    bound = estimate_training(model, shape, 8, autocast_dtype=torch.bfloat16).activations
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        saved = measure_saved_bytes(model, [torch.rand(8, *shape)])
    assert saved <= bound


def test_the_model_is_left_as_it_was():
    model = create_model("lenet5").eval()
    estimate_training(model, (1, 32, 32), 4)
    assert not model.training
    assert all(p.device.type == "cpu" and p.grad is None for p in model.parameters())


def test_weights_gradients_optimizer_and_batch_are_counted():
    model = create_model("lenet5")  # 61,706 float32 parameters
    for p in model.features.parameters():
        p.requires_grad_(False)
    trainable = (61_706 - 156 - 2_416) * 4
    adam = estimate_training(model, (1, 32, 32), 8, data_bytes=12_345)
    assert (adam.parameters, adam.gradients) == (61_706 * 4, trainable)
    assert adam.optimizer_state == 2 * trainable
    assert adam.batch == 8 * 32 * 32 * 4 + 8 * 8  # images and class ids
    assert adam.data == 12_345
    assert estimate_training(model, (1, 32, 32), 8, optimizer="sgd").optimizer_state == trainable
    plain = estimate_training(model, (1, 32, 32), 8, optimizer="sgd", momentum=0.0)
    assert plain.optimizer_state == 0


def test_segmentation_targets_are_a_mask_per_pixel():
    model = create_model("unet", **SMALL_UNET)
    estimate = estimate_training(model, (1, 64, 64), 2)
    assert estimate.batch == 2 * 64 * 64 * 4 + 2 * 64 * 64 * 8


def test_unknown_optimizer_and_wrong_input_are_one_line_errors():
    model = create_model("lenet5")
    with pytest.raises(CnnlabError, match="unknown optimizer 'rmsprop'"):
        estimate_training(model, (1, 32, 32), 8, optimizer="rmsprop")
    with pytest.raises(CnnlabError, match="cannot run on input 8x3x32x32") as info:
        estimate_training(model, (3, 32, 32), 8)
    assert "\n" not in str(info.value)


def test_sizes_read_in_binary_units():
    assert [format_bytes(n) for n in (512, 1536, 118 * MiB, 41.2 * GiB)] == [
        "512 B",
        "1.5 KiB",
        "118 MiB",
        "41.2 GiB",
    ]


ESTIMATE = MemoryEstimate(
    parameters=100 * MiB,
    gradients=100 * MiB,
    optimizer_state=200 * MiB,
    activations=64 * 10 * MiB,
    batch=64 * MiB,
    data=0,
    batch_size=64,
    optimizer="adam",
)


def test_describe_lists_every_part_and_the_total():
    assert ESTIMATE.describe() == (
        "parameters 100 MiB + gradients 100 MiB + Adam moments 200 MiB + activations of a "
        "batch of 64 640 MiB + inputs and targets 64.0 MiB = 1.1 GiB"
    )


def test_check_fits_names_the_largest_batch_size_that_fits():
    check_fits(ESTIMATE, 2 * GiB)  # 1.1 GiB of 80% of 2 GiB
    # 80% of 1 GiB = 819.2 MiB; 400 MiB fixed; 11 MiB a sample -> 38 samples
    assert largest_batch_size(ESTIMATE, 0.8 * GiB) == 38
    with pytest.raises(CnnlabError) as info:
        check_fits(ESTIMATE, GiB)
    message = str(info.value)
    assert "\n" not in message
    assert ESTIMATE.describe() in message
    assert "80% of the 1.0 GiB" in message
    assert message.endswith("use --batch-size 38 (batch_size=38)")


def test_check_fits_asks_for_smaller_inputs_when_one_sample_does_not_fit():
    with pytest.raises(CnnlabError, match=r"use smaller inputs \(-m image_size=N\) or model"):
        check_fits(ESTIMATE, 500 * MiB)


def test_unet_572_at_batch_64_is_estimated_in_seconds_under_a_2_gb_cap():
    found = run_capped(
        """
        import json, time
        from cnnlab.errors import CnnlabError
        from cnnlab.models import create_model
        from cnnlab.train.memory import check_fits, estimate_training
        model = create_model("unet")
        started = time.perf_counter()
        estimate = estimate_training(model, (1, 572, 572), 64)
        seconds = time.perf_counter() - started
        try:
            check_fits(estimate, 16 << 30)
            message = ""
        except CnnlabError as error:
            message = str(error)
        fix = message.rsplit("=", 1)[-1].rstrip(")")
        smaller = estimate_training(model, (1, 572, 572), int(fix)) if fix.isdigit() else None
        print(json.dumps({
            "total": estimate.total, "seconds": seconds, "message": message,
            "fix": smaller.total if smaller else None,
            "totals": {n: estimate_training(model, (1, 572, 572), n).total for n in (4, 1)},
        }))
        """,
        cap=2 * GiB,
    )
    print(found)
    assert found["total"] > 20 * GiB
    assert "\n" not in found["message"]
    assert "--batch-size" in found["message"] or "smaller inputs" in found["message"]
    if found["fix"] is not None:
        assert found["fix"] <= 0.8 * 16 * GiB


def test_available_bytes_is_positive_and_at_most_memavailable():
    before = memory._kib_field(memory.PROC / "meminfo", "MemAvailable")
    assert 0 < available_bytes() <= before + 256 * MiB  # other processes come and go


def test_available_bytes_takes_the_tightest_of_the_kernel_cgroups_and_rlimit(tmp_path, monkeypatch):
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n")
    (proc / "self" / "status").write_text("VmSize: 1048576 kB\n")
    (proc / "self" / "cgroup").write_text("0::/job\n")
    (cgroup / "job").mkdir(parents=True)
    (cgroup / "job" / "memory.max").write_text(f"{6 * GiB}\n")
    (cgroup / "job" / "memory.current").write_text(f"{GiB}\n")
    monkeypatch.setattr(memory, "PROC", proc)
    monkeypatch.setattr(memory, "CGROUP", cgroup)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    limit = 5 * GiB if soft == resource.RLIM_INFINITY else min(5 * GiB, soft - GiB)
    assert available_bytes() == limit


def test_cgroup_v1_limits_of_parents_bind_too(tmp_path):
    (tmp_path / "cgroup").write_text("5:cpu:/\n4:memory:/a/b\n")
    levels = {"": 9223372036854771712, "a": 4 * GiB, "a/b": 9223372036854771712}
    for path, limit in levels.items():
        folder = tmp_path / "memory" / path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
        (folder / "memory.usage_in_bytes").write_text(f"{3 * GiB}\n")
    assert min(cgroup_rooms(tmp_path / "cgroup", tmp_path)) == GiB


def test_cgroup_v2_max_means_no_limit(tmp_path):
    (tmp_path / "cgroup").write_text("0::/job\n")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "memory.max").write_text("max\n")
    (tmp_path / "job" / "memory.current").write_text("123\n")
    assert list(cgroup_rooms(tmp_path / "cgroup", tmp_path)) == []


def test_available_bytes_respects_a_soft_address_space_limit():
    found = run_capped(
        """
        import json, resource
        from cnnlab.train.memory import PROC, _kib_field, available_bytes
        size = lambda: _kib_field(PROC / "self" / "status", "VmSize")
        soft = size() + (512 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))
        before = size()
        available = available_bytes()
        print(json.dumps({"soft": soft, "before": before, "after": size(), "available": available}))
        """,
        cap=4 * GiB,
    )
    assert found["soft"] - found["after"] <= found["available"] <= found["soft"] - found["before"]


@pytest.mark.slow
def test_estimate_is_within_a_factor_2_of_what_a_real_fit_grows_by():
    # Every tensor above 64 KiB gets its own mapping, returned when freed, so the resident
    # peak follows the live tensors; the trainer's own allocator choice keeps freed memory.
    found = run_capped(
        """
        import json, torch
        from cnnlab.models import create_model
        from cnnlab.train import Trainer, execution
        from cnnlab.train.memory import PROC, _kib_field, estimate_training
        execution.keep_freed_memory = lambda: "default"
        torch.manual_seed(0)
        model = create_model("mnist-cnn")
        x = torch.randint(0, 256, (1024, 1, 28, 28), dtype=torch.uint8)
        y = torch.randint(0, 10, (1024,))
        prepared = x.numel() * 4 + y.numel() * 8  # float32 images, int64 labels
        estimate = estimate_training(model, (1, 28, 28), 256, data_bytes=prepared)
        # a fit of one sample loads the kernels: the growth measured is training memory
        settings = {"epochs": 1, "precision": "fp32", "verbose": 0}
        Trainer(model, batch_size=1, **settings).fit((x[:1], y[:1]))
        model.zero_grad(set_to_none=True)
        before = _kib_field(PROC / "self" / "status", "VmHWM")
        Trainer(model, batch_size=256, **settings).fit((x, y))
        growth = _kib_field(PROC / "self" / "status", "VmHWM") - before
        print(json.dumps({"estimate": estimate.total - estimate.parameters, "growth": growth,
                          "describe": estimate.describe()}))
        """,
        cap=4 * GiB,
        env={"MALLOC_MMAP_THRESHOLD_": "65536"},
    )
    print(found)
    assert 0.5 <= found["growth"] / found["estimate"] <= 2
