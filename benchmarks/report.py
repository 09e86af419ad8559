"""The benchmark's report: the issue's targets and their verdicts, the Markdown write-up, the
summary table printed at the end, and the result files ``benchmarks/results/bench_train.json``
and ``bench_train.md`` (``bench_train_quick.*`` for ``--quick``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from flops import markdown_lines as flops_lines
from time_budget_report import tta_markdown_lines, tta_target_rows
from timing import ratio, ratio_to_best

RESULTS = Path(__file__).resolve().parent / "results"

# (workload, what, framework ratio or absolute, goal); "ratio" is cnnlab / other
TARGETS = (
    ("lenet5", "train", "keras", 2.5),
    ("lenet5", "train", "textbook", 1.3),
    ("lenet5", "infer", None, 20_000.0),
    ("unet", "train", "keras", 2.0),
    ("unet", "train", "textbook", 1.0),
    ("lenet5", "infer", "onnxruntime", 1.0),
    ("mnist-cnn", "infer", "onnxruntime", 1.0),
    ("unet", "infer", "onnxruntime", 1.0),
    ("lenet5", "train", "keras[mixed_bfloat16]", 1.0),
    ("mnist-cnn", "train", "keras[mixed_bfloat16]", 1.0),
    ("unet", "train", "keras[mixed_bfloat16]", 1.0),
)


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "cpus_available": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "torch_parallel": torch.__config__.parallel_info().splitlines()[:4],
        "load_average_start": os.getloadavg(),
    }


def target_rows(results: dict, variants: list[str]) -> list[dict]:
    """The issue's targets for cnnlab as users run it, then (marked "what-if") for each
    ``--cnnlab-variant``."""
    rows = []
    for ours in ["cnnlab", *variants]:
        for name, what, other, goal in TARGETS:
            label = {"train": "training", "infer": "inference"}[what]
            if other is None:
                measured = results.get(name, {}).get(what, {}).get(ours, {})
                value = measured.get("median_images_per_s")
                text = f"{name} {label} ({ours} img/s)"
                goal_text = f">= {goal:,.0f} img/s"
            else:
                value = ratio(results[name], what, other, ours) if name in results else None
                text = f"{name} {label} {ours} / {other}"
                goal_text = f">= {goal:.1f}x"
            status = "n/a" if value is None else ("PASS" if value >= goal else "FAIL")
            row = {"target": text, "goal": goal_text, "measured": value, "result": status}
            if other is not None and name in results:
                row["vs_best_of_other"] = ratio_to_best(results[name], what, other, ours)
            rows.append({**row, "what_if": ours != "cnnlab"})
    return rows


def fmt_measured(row: dict) -> str:
    value = row["measured"]
    if "measured_text" in row:
        return row["measured_text"]
    if value is None:
        return "n/a"
    return f"{value:,.0f} img/s" if "img/s" in row["goal"] else f"{value:.2f}x"


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def train_cells(train: dict | None) -> str:
    """Median, best, every run and the loss windows of a framework's training ('-' for an
    inference-only peer)."""
    if train is None:
        return "- | - | - | -"
    runs = ", ".join(rate(r["images_per_s"]) for r in train["runs"])
    windows = [r for r in train["runs"] if r["loss_first"] is not None]
    falling = sum(r["loss_last"] < r["loss_first"] for r in windows)
    losses = "n/a"
    if windows:
        first = statistics.mean(r["loss_first"] for r in windows)
        last = statistics.mean(r["loss_last"] for r in windows)
        losses = f"{first:.3f} -> {last:.3f} ({falling}/{len(train['runs'])})"
    median, best = rate(train["median_images_per_s"]), rate(train["best_images_per_s"])
    return f"{median} | {best} | {runs} | {losses}"


def train_usage(train: dict | None) -> str:
    if train is None:
        return "- | -"
    return f"{train['median_cpu_utilization']:.2f} | {train['median_other_cpu_cores']:.2f}"


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        "# Training benchmark: cnnlab vs Keras 3 (TensorFlow) vs the textbook PyTorch loop "
        "(inference also vs ONNX Runtime)",
        "",
        f"Run {report['date']} with `{report['command']}`.",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['cpus_available']} available), {machine['platform']}, Python "
        f"{machine['python']}. Versions: {report['versions']}. Threads: "
        f"{report['threads']}.",
        f"Load average at start: {', '.join(f'{x:.2f}' for x in machine['load_average_start'])}"
        " (1, 5, 15 min; other jobs share this machine, see each workload's load below).",
        "",
        f"Median (and best) of {report['repeats']} rounds; each round starts a fresh worker "
        "process per framework, warms it up, then times one run per framework in rotated "
        "order. Training: one epoch, Adam, cross-entropy. img/s = images "
        "(or crops) per second of wall time of the whole call (`Trainer.fit`, `model.fit`, "
        "the textbook epoch loop; `Trainer.predict`, `model.predict`, the no_grad loop, "
        "ONNX Runtime's `session.run` per batch on cnnlab's ONNX export; ONNX Runtime does "
        "not train: '-').",
        "Shared machine: before each timed run the harness waited (up to "
        f"{report['quiet_wait']:.0f}"
        " s) for other jobs' CPU use to fall below 0.25 cores; a run during which they used more "
        "than 0.5 cores was repeated once and the quieter run kept (both in the JSON). Waited "
        f"{report['quiet_waiting_seconds']:.0f} s in total. The column 'other jobs' CPU cores' "
        "is the median over the kept runs: near 0 means a clean measurement.",
        "",
    ]
    for result in report["workloads"].values():
        s = result["settings"]
        params = next(iter(result["params"].values()))
        lines += [
            f"## {s['title']}: {params:,} parameters",
            "",
            f"Training: {s['samples']:,} images, batch {s['batch_size']}, Adam lr {s['lr']:g}. "
            f"Inference: "
            f"{s['infer_samples']:,} images at batch {s['infer_batch']}. "
            + " ".join(n[0].upper() + n[1:] + "." for n in s["notes"]),
            f"Load average before / after: {result['load_average']['before'][0]:.2f} / "
            f"{result['load_average']['after'][0]:.2f}; wall time {result['wall_seconds']:.0f} s.",
            "",
            "| framework | train img/s median | best | train runs "
            "| loss first -> last 10% (mean; runs falling) | inference img/s median | best "
            "| peak RSS MiB | CPU cores used (train) | other jobs' CPU cores (train) |",
            "|---|---:|---:|---|---|---:|---:|---:|---:|---:|",
        ]
        for fw, infer in result["infer"].items():
            rss = result["memory"][fw]["peak_rss_mib"]
            lines.append(
                f"| {fw} | {train_cells(result['train'].get(fw))} "
                f"| {rate(infer['median_images_per_s'])} | {rate(infer['best_images_per_s'])} "
                f"| {rss:,.0f} | {train_usage(result['train'].get(fw))} |"
            )
        ratios = []
        others = [fw for fw in result["infer"] if not fw.startswith("cnnlab")]
        for ours in (fw for fw in result["infer"] if fw.startswith("cnnlab")):
            for what in ("train", "infer"):
                for other in others:
                    value = ratio(result, what, other, ours)
                    if value is not None:
                        ratios.append(f"{what} {ours}/{other} {value:.2f}x")
        lines += ["", "Ratios (median of the per-round ratios): " + ", ".join(ratios) + ".", ""]
    lines += flops_lines(report) + tta_markdown_lines(report.get("time_budget"))
    lines += [
        "## Targets (issues 8 and 20, Performance II)",
        "",
        "Measured: the median over the rounds of the within-round ratio (what the verdict "
        "uses). Against the peer's best: cnnlab's median over the peer's fastest round.",
        "",
        "| target | goal | measured | result | against the peer's best round |",
        "|---|---|---:|---|---:|",
    ]
    for row in report["targets"]:
        best = row.get("vs_best_of_other")
        best_text = f"{best:.2f}x" if best is not None else ""
        lines.append(
            f"| {row['target']} | {row['goal']} | {fmt_measured(row)} | {row['result']} "
            f"| {best_text} |"
        )
    failed = [c for r in report["workloads"].values() for c in r["checks"] if not c["passed"]]
    lines += [
        "",
        "Checks: parameter counts equal across frameworks in every workload; "
        + ("loss falls in every timed run." if not failed else f"FAILED: {failed}"),
        "",
    ]
    return "\n".join(lines)


def print_summary(report: dict) -> None:
    labels = [f"{name} / {fw}" for name, r in report["workloads"].items() for fw in r["infer"]]
    left = max([28, *(len(label) + 2 for label in labels)])
    width = left + 42
    print("\n" + "=" * width)
    head = f"{'workload / framework':<{left}}{'train img/s':>14}{'infer img/s':>14}"
    print(f"{head}{'peak RSS MiB':>14}")
    for name, result in report["workloads"].items():
        for fw, infer in result["infer"].items():
            train = result["train"].get(fw)
            trained = f"{train['median_images_per_s']:>14,.1f}" if train else f"{'-':>14}"
            rss = result["memory"][fw]["peak_rss_mib"]
            label = f"{name} / {fw}"
            print(f"{label:<{left}}{trained}{infer['median_images_per_s']:>14,.1f}{rss:>14,.0f}")
    left = max([42, *(len(row["target"]) + 2 for row in report["targets"])])
    mid = max([14, *(len(fmt_measured(row)) + 2 for row in report["targets"])])
    print("-" * (left + mid + 42))
    print(f"{'target':<{left}}{'goal':>18}{'measured':>{mid}}{'result':>8}{'vs peer best':>16}")
    for row in report["targets"]:
        best = row.get("vs_best_of_other")
        best_text = f"{best:.2f}x" if best is not None else ""
        print(
            f"{row['target']:<{left}}{row['goal']:>18}{fmt_measured(row):>{mid}}"
            f"{row['result']:>8}{best_text:>16}"
        )
    print("=" * (left + mid + 42))


def report_run(cmd: str, name: str, round_: int, result: dict) -> None:
    extra = ""
    if result.get("loss_first") is not None:
        extra = f"  loss {result['loss_first']:.4f} -> {result['loss_last']:.4f}"
    if "discarded_noisy_run" in result:
        extra += "  (repeated: others were busy)"
    print(
        f"    {cmd:<5} {name:<9} run {round_ + 1}: {result['images_per_s']:10,.1f} img/s"
        f"  ({result['seconds']:.2f} s, others {result['other_cpu_cores']:.2f} cores){extra}",
        flush=True,
    )


def assemble(
    results: dict,
    variants: list[str],
    machine: dict,
    args,
    argv: list[str],
    waited: float,
    matmul_peak: dict | None = None,
    time_budget: dict | None = None,
) -> dict:
    """The report of a run: settings, machine, versions, every workload's results, the matmul
    peak, the time-to-accuracy section, targets."""
    versions, threads = {}, {}
    for result in results.values():
        for fw, info in result["workers"].items():
            versions.update(info["versions"])
            threads[fw] = info["threads"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(["bench_train.py", *argv]),
        "quick": args.quick,
        "repeats": args.repeats,
        "quiet_wait": args.quiet_wait,
        "quiet_waiting_seconds": waited,
        "machine": machine,
        "versions": versions,
        "threads": threads,
        "matmul_peak": matmul_peak,
        "workloads": results,
        "time_budget": time_budget,
        "targets": target_rows(results, variants) + tta_target_rows(time_budget),
    }


def publish(report: dict, out: Path) -> None:
    """Write ``bench_train[_quick].json`` and ``.md`` into ``out``, then print both tables."""
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench_train_quick" if report["quick"] else "bench_train"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(report))
    print("\n" + markdown(report))
    print_summary(report)
    print(f"Written: {out / (stem + '.json')} and {stem}.md")
