"""The benchmark's time-to-accuracy and GFLOP/s sections (benchmarks/): seconds to a level
from per-epoch histories, the budget cut-off, medians over rounds, GFLOP/s from cnnlab's MAC
count, and the report's new sections and targets, from small fake results (nothing timed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import flops  # noqa: E402
import time_budget  # noqa: E402
from report import fmt_measured, markdown  # noqa: E402
from time_budget_report import tta_markdown_lines, tta_target_rows  # noqa: E402

from cnnlab.models import create_model  # noqa: E402
from cnnlab.summary import summarize  # noqa: E402

# (validation accuracy, seconds) per epoch: a slow first epoch (warm-up), then 2 s each
HISTORY = [(0.97, 10.0), (0.986, 2.0), (0.991, 2.0), (0.989, 2.0), (0.996, 2.0)]


def test_seconds_to_a_level_is_the_training_time_at_the_first_epoch_reaching_it():
    assert time_budget.seconds_to(HISTORY, 0.985) == pytest.approx(12.0)
    assert time_budget.seconds_to(HISTORY, 0.99) == pytest.approx(14.0)
    assert time_budget.seconds_to(HISTORY, 0.995) == pytest.approx(18.0)
    assert time_budget.seconds_to(HISTORY, 0.999) is None
    assert time_budget.seconds_to([], 0.5) is None


def test_only_epochs_ending_within_the_budget_count():
    assert time_budget.within_budget(HISTORY, None) == HISTORY
    assert time_budget.within_budget(HISTORY, 14.0) == HISTORY[:3]  # ends exactly at 14 s
    assert time_budget.within_budget(HISTORY, 13.9) == HISTORY[:2]
    assert time_budget.within_budget(HISTORY, 5.0) == []
    cut = time_budget.outcome(HISTORY, 17.0)
    assert cut["epochs_run"] == 4 and cut["seconds"] == pytest.approx(16.0)
    assert cut["best_accuracy"] == 0.991 and cut["accuracy"] == 0.989
    assert cut["seconds_to_0.99"] == pytest.approx(14.0) and cut["seconds_to_0.995"] is None
    assert cut["history"] == HISTORY  # what ran past the budget stays in the JSON
    nothing = time_budget.outcome(HISTORY, 5.0)
    assert nothing["best_accuracy"] is None and nothing["seconds_to_0.985"] is None


def test_medians_over_rounds_count_a_miss_as_the_worst_and_take_the_worse_of_two():
    assert time_budget.median_of([4.0, 6.0], max) == 6.0
    assert time_budget.median_of([0.99, 0.992], min) == 0.99
    assert time_budget.median_of([4.0, None, 5.0], max) == 5.0
    assert time_budget.median_of([4.0, None], max) is None
    assert time_budget.median_of([3.0], max) == 3.0 and time_budget.median_of([], max) is None
    rounds = [time_budget.outcome(HISTORY, 60.0), time_budget.outcome(HISTORY, 15.0)]
    summary = time_budget.summarise(rounds)
    assert summary["seconds_to_0.99"] == pytest.approx(14.0)
    assert summary["seconds_to_0.995"] is None  # the 15-s round missed it
    assert summary["best_accuracy"] == 0.991 and len(summary["runs"]) == 2


def test_a_contestant_is_named_by_its_cnnlab_command_or_keras_policy():
    sides = {side for side, _ in time_budget.CONTESTANTS.values()}
    assert sides == {"cnnlab", "keras"}
    for label in time_budget.FASTEST:
        assert "fastcnn" in time_budget.CONTESTANTS[label][1]
    card = time_budget.CONTESTANTS["cnnlab mnist-cnn (card recipe)"][1]
    assert card == f"mnist-cnn {time_budget.SPLITS}"  # no flags but model, data and splits


def test_a_failed_contestant_is_recorded_not_fatal(tmp_path):
    args = f"no-such-model {time_budget.SPLITS}"
    result = time_budget.race_once("cnnlab", args, 5.0, None, None, tmp_path, tmp_path / "log")
    assert result["error"].startswith("FAILED") and result["epochs_run"] == 0
    assert result["best_accuracy"] is None and result["other_cpu_cores"] >= 0.0


def fake_workload(macs: int) -> dict:
    def runs(rate: float) -> dict:
        return {
            "median_images_per_s": rate,
            "best_images_per_s": rate,
            "median_cpu_utilization": 1.9,
            "median_other_cpu_cores": 0.0,
            "runs": [{"images_per_s": rate, "loss_first": 2.0, "loss_last": 0.5}] * 3,
        }

    return {
        "settings": {
            "title": "LeNet-5",
            "samples": 3000,
            "batch_size": 128,
            "lr": 1e-3,
            "infer_samples": 3000,
            "infer_batch": 256,
            "notes": ["data: fake"],
        },
        "params": {"cnnlab": 61706, "keras": 61706},
        "train": {"cnnlab": runs(20_000.0), "keras": runs(10_000.0)},
        "infer": {"cnnlab": runs(50_000.0), "keras": runs(25_000.0)},
        "memory": {fw: {"peak_rss_mib": 500.0} for fw in ("cnnlab", "keras")},
        "load_average": {"before": [0.5, 0.5, 0.5], "after": [1.0, 1.0, 1.0]},
        "wall_seconds": 30.0,
        "checks": [],
        "macs_per_sample": macs,
    }


def test_gflops_are_cnnlab_macs_times_images_per_second():
    macs = flops.macs_per_sample("lenet5", {"image_size": 28}, (1, 28, 28))
    model = create_model("lenet5", image_size=28)
    assert macs == summarize(model, (1, 28, 28)).total_macs > 0
    table = flops.achieved(fake_workload(macs), macs)
    assert table["cnnlab"]["infer_gflops"] == pytest.approx(50_000 * 2 * macs / 1e9)
    assert table["cnnlab"]["train_gflops"] == pytest.approx(20_000 * 6 * macs / 1e9)
    result = fake_workload(macs)
    result["train"].pop("keras")  # an inference-only peer
    assert flops.achieved(result, macs)["keras"]["train_gflops"] is None
    assert flops.share(50.0, {"fp32": 100.0, "bf16": 400.0}) == "50.0 (50.0% / 12.5%)"


def tta_section() -> dict:
    def contestant(to_99: float | None, to_995: float | None, best: float) -> dict:
        round_ = {"seconds_to_0.985": 2.0, "seconds_to_0.99": to_99, "seconds_to_0.995": to_995}
        summary = {**round_, "best_accuracy": best, "epochs_run": 3, "seconds": 14.5}
        summary["other_cpu_cores"] = 0.1
        return {**summary, "runs": [{**summary}]}

    return {
        "budget_seconds": 15.0,
        "rounds": 1,
        "commands": {"cnnlab lenet5 (card recipe)": "cnnlab train lenet5 ..."},
        "contestants": {
            "cnnlab mnist-cnn (card recipe)": contestant(9.0, None, 0.9935),
            "cnnlab lenet5 (card recipe)": contestant(None, None, 0.987),
            "cnnlab fastcnn --recipe digits-fast": contestant(6.0, None, 0.9905),
            "cnnlab fastcnn digits-fast x12 shift": contestant(4.5, 25.0, 0.996),
            "Keras example (float32)": contestant(None, None, 0.9855),
        },
    }


def test_time_to_accuracy_targets_take_the_faster_fastcnn_command():
    rows = {r["target"]: r for r in tta_target_rows(tta_section())}
    to_99 = rows["fastest cnnlab command: training s to 99.0%"]
    assert to_99["measured"] == 4.5 and to_99["result"] == "PASS" and to_99["goal"] == "<= 5 s"
    assert fmt_measured(to_99) == "4.5 s (cnnlab fastcnn digits-fast x12 shift)"
    assert rows["fastest cnnlab command: training s to 99.5%"]["result"] == "PASS"
    lenet = rows["cnnlab lenet5 (card recipe): best val accuracy within the budget"]
    assert lenet["result"] == "FAIL" and fmt_measured(lenet) == "98.70%"
    mnist = rows["cnnlab mnist-cnn (card recipe): best val accuracy within the budget"]
    assert mnist["result"] == "PASS"
    slow = tta_section()
    for label in time_budget.FASTEST:
        slow["contestants"][label]["seconds_to_0.995"] = None
    missed = {r["target"]: r for r in tta_target_rows(slow)}
    assert fmt_measured(missed["fastest cnnlab command: training s to 99.5%"]) == "not reached"
    assert missed["fastest cnnlab command: training s to 99.5%"]["result"] == "FAIL"
    assert {r["result"] for r in tta_target_rows({"skipped": "no MNIST"})} == {"n/a"}
    assert {r["result"] for r in tta_target_rows(None)} == {"n/a"}


def test_the_report_renders_the_peak_gflops_and_time_to_accuracy_sections():
    macs = 416_520
    report = {
        "date": "2026-12-07 16:00:00",
        "command": "bench_train.py --quick",
        "repeats": 3,
        "quiet_wait": 10.0,
        "quiet_waiting_seconds": 0.0,
        "machine": {
            "cpu": "fake CPU",
            "logical_cpus": 2,
            "cpus_available": 2,
            "platform": "Linux",
            "python": "3.11",
            "load_average_start": [0.1, 0.2, 0.3],
        },
        "versions": {},
        "threads": {},
        "matmul_peak": {"fp32": 100.0, "bf16": 400.0, "sizes": [1024], "repeats": 5, "threads": 2},
        "workloads": {"lenet5": fake_workload(macs)},
        "time_budget": tta_section(),
        "targets": tta_target_rows(tta_section()),
    }
    text = markdown(report)
    assert "fp32 100.0 GFLOP/s, bf16 400.0 GFLOP/s" in text
    train = 20_000 * 6 * macs / 1e9
    cell = f"{train:,.1f} ({train / 100:.1%} / {train / 400:.1%})"
    assert f"| lenet5 | 416,520 | cnnlab | {cell}" in text
    assert "## Time to accuracy (MNIST test[:8000] -> test[8000:])" in text
    row = "| cnnlab fastcnn digits-fast x12 shift | 2.0 | 4.5 | 25.0 | 99.60% | 3 | 14.5 |"
    assert row in text
    assert "| Keras example (float32) | 2.0 | - | - | 98.55% | 3 | 14.5 | 98.55% | 0.10 |" in text
    assert "| fastest cnnlab command: training s to 99.0% | <= 5 s | 4.5 s (" in text
    skipped = tta_markdown_lines({"skipped": "no MNIST in the data directory"})
    assert skipped[2] == "Skipped: no MNIST in the data directory."
    assert tta_markdown_lines(None) == [] and flops.markdown_lines({"workloads": {}}) == []
