"""The benchmark harness's own logic (benchmarks/): the loss windows behind the "loss falls"
check, the paired ratios behind the verdicts, and one quick end-to-end run without Keras."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_common  # noqa: E402
import numpy as np  # noqa: E402
import timing  # noqa: E402
import torch  # noqa: E402
from onnx_peer import export_onnx, onnx_session, predict_classes, session_threads  # noqa: E402
from report import target_rows, train_cells, train_usage  # noqa: E402

from cnnlab.models import create_model  # noqa: E402


@given(
    losses=st.lists(st.floats(0.01, 10.0), min_size=10, max_size=200),
    batch=st.integers(1, 64),
)
def test_loss_windows_from_every_step_are_the_first_and_last_tenth(losses, batch):
    steps = len(losses)
    points = bench_common.from_step_losses(losses, [batch] * steps)
    windows = bench_common.loss_windows(points, steps)
    tenth = -(-steps // 10)
    assert windows["first_window_steps"] == [1, tenth]
    assert windows["last_window_steps"] == [steps - tenth + 1, steps]
    assert windows["loss_first"] == pytest.approx(sum(losses[:tenth]) / tenth)
    assert windows["loss_last"] == pytest.approx(sum(losses[-tenth:]) / tenth)
    assert windows["loss_epoch"] == pytest.approx(sum(losses) / steps)


def test_running_means_every_few_steps_give_wider_windows_not_gaps():
    losses = [2.0] * 10 + [1.0] * 80 + [0.5] * 10
    every_step = bench_common.from_step_losses(losses, [8] * 100)
    running = {s: total / seen for s, total, seen in every_step if s % 25 == 0}
    points = bench_common.from_running_means(running, batch_size=8, samples=800)
    windows = bench_common.loss_windows(points, 100)
    assert windows["first_window_steps"] == [1, 25]
    assert windows["last_window_steps"] == [76, 100]
    assert windows["loss_first"] == pytest.approx((10 * 2.0 + 15 * 1.0) / 25)
    assert windows["loss_last"] == pytest.approx((15 * 1.0 + 10 * 0.5) / 25)


def test_loss_windows_need_a_report_at_the_end_and_skip_one_step_epochs():
    with pytest.raises(ValueError, match="end of the epoch"):
        bench_common.loss_windows([(5, 10.0, 40)], 10)
    single = bench_common.loss_windows([(1, 3.0, 4)], 1)
    assert single["loss_first"] is None and single["loss_epoch"] == 0.75


def runs(*rates: float) -> dict:
    return {
        "median_images_per_s": sorted(rates)[len(rates) // 2],
        "best_images_per_s": max(rates),
        "runs": [{"images_per_s": r} for r in rates],
    }


def test_ratio_is_the_median_of_within_round_ratios():
    # a slow second round hits both sides: paired ratios are 2, 2, 1.5 -> median 2
    result = {"train": {"cnnlab": runs(20, 10, 30), "keras": runs(10, 5, 20)}}
    assert timing.ratio(result, "train", "keras") == pytest.approx(2.0)
    assert timing.ratio_to_best(result, "train", "keras", "cnnlab") == pytest.approx(1.0)
    assert timing.ratio(result, "train", "textbook") is None


def test_target_rows_pass_fail_and_missing_peers():
    results = {
        "lenet5": {
            "train": {"cnnlab": runs(30, 30, 30), "textbook": runs(20, 20, 20)},
            "infer": {"cnnlab": runs(25_000, 19_000, 21_000)},
        },
        "unet": {"train": {"cnnlab": runs(2, 2, 2), "keras": runs(1.1, 1.1, 1.1)}},
    }
    rows = {r["target"]: r for r in target_rows(results, variants=[])}
    assert rows["lenet5 training cnnlab / textbook"]["result"] == "PASS"  # 1.5x >= 1.3x
    assert rows["lenet5 training cnnlab / keras"]["result"] == "n/a"
    assert rows["lenet5 inference (cnnlab img/s)"]["measured"] == 21_000
    assert rows["unet training cnnlab / keras"]["result"] == "FAIL"  # 1.82x < 2.0x
    assert rows["unet training cnnlab / textbook"]["result"] == "n/a"
    assert not any(r["what_if"] for r in rows.values())


def test_onnx_runtime_is_an_inference_peer_in_the_targets_and_tables():
    results = {
        "unet": {
            "train": {"cnnlab": runs(2, 2, 2)},
            "infer": {"cnnlab": runs(8, 8, 8), "onnxruntime": runs(4, 10, 4)},
        }
    }
    rows = {r["target"]: r for r in target_rows(results, variants=[])}
    row = rows["unet inference cnnlab / onnxruntime"]
    assert row["measured"] == pytest.approx(2.0) and row["result"] == "PASS"
    assert row["vs_best_of_other"] == pytest.approx(0.8)
    assert rows["lenet5 inference cnnlab / onnxruntime"]["result"] == "n/a"
    assert train_cells(None) == "- | - | - | -" and train_usage(None) == "- | -"


def test_the_onnx_peer_runs_cnnlab_export_with_torch_threads(tmp_path):
    torch.manual_seed(0)
    model = create_model("lenet5", image_size=28).eval()
    path = export_onnx(model, tmp_path, (1, 28, 28))
    session = onnx_session(path)
    assert session_threads(session) == torch.get_num_threads()
    assert session.get_providers() == ["CPUExecutionProvider"]
    inputs = torch.rand(11, 1, 28, 28)
    classes = predict_classes(session, inputs.numpy(), batch_size=4)  # 4 + 4 + 3
    with torch.no_grad():
        logits = model(inputs)
    top2 = logits.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > 1e-4).numpy()  # ties may break either way
    assert classes.shape == (11,) and classes.dtype.kind == "i"
    assert np.array_equal(classes[clear], logits.argmax(1).numpy()[clear])


def test_loss_checks_flag_a_run_whose_loss_does_not_fall():
    train = {
        "cnnlab": {"runs": [{"loss_first": 1.0, "loss_last": 0.5}]},
        "textbook": {
            "runs": [
                {"loss_first": 0.6, "loss_last": 0.61},
                {"loss_first": None, "loss_last": None},
            ]
        },
    }
    passed = [c["passed"] for c in timing.loss_checks(train)]
    assert passed == [True, False, False]


@pytest.mark.slow
def test_quick_bench_runs_end_to_end_without_keras(tmp_path):
    command = [
        sys.executable,
        str(BENCHMARKS / "bench_train.py"),
        "--quick",
        "--workloads",
        "lenet5",
        "--frameworks",
        "cnnlab",
        "textbook",
        "onnxruntime",
        "--no-what-if",
        "--repeats",
        "3",
        "--quiet-wait",
        "0",
        "--tta-budget",
        "0",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "bench_train_quick.json").read_text())
    lenet = report["workloads"]["lenet5"]
    assert set(lenet["train"]) == {"cnnlab", "textbook"}  # ONNX Runtime does not train
    assert set(lenet["infer"]) == {"cnnlab", "textbook", "onnxruntime"}
    assert all(len(s["runs"]) == 3 for s in lenet["train"].values())
    assert all(c["passed"] for c in lenet["checks"])
    assert lenet["macs_per_sample"] > 0 and report["time_budget"] is None
    assert lenet["gflops"]["cnnlab"]["train_gflops"] > 0
    assert lenet["gflops"]["onnxruntime"]["train_gflops"] is None
    assert report["matmul_peak"]["fp32"] > 0 and report["matmul_peak"]["bf16"] > 0
    rows = {r["target"]: r for r in report["targets"]}
    assert rows["lenet5 training cnnlab / textbook"]["measured"] > 0
    assert rows["lenet5 training cnnlab / keras"]["result"] == "n/a"
    assert rows["lenet5 inference cnnlab / onnxruntime"]["measured"] > 0
    assert "LeNet-5: 61,706 parameters" in (tmp_path / "bench_train_quick.md").read_text()
