"""Training and inference throughput: cnnlab ``fit`` vs Keras 3 (TensorFlow) vs the textbook
PyTorch loop, on the same models, data, batch sizes and optimizer (issue 8); and inference
against ONNX Runtime (CPU provider, torch's thread count) on the same model exported by
cnnlab (issue 20).

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_train.py``; ``--quick`` for a
smoke run of a few minutes with tiny sizes, ``--help`` for the knobs). The first run creates
``benchmarks/.keras-venv`` (``pip install keras tensorflow-cpu``) and reuses it afterwards.

Each framework runs in its own subprocess (``torch_worker.py`` for cnnlab, the textbook loop
and ONNX Runtime, ``keras_worker.py`` in the Keras venv) that loads the data and builds the
model once, then trains or predicts on command (ONNX Runtime only predicts). Per workload,
``--repeats`` rounds: each round starts a fresh process per framework (on this VM the speed of
a process varies by up to ~1.7x from one process to the next, and over time), warms each up
with a short run, then times one training epoch per framework and one inference pass per
framework, in an order rotated between rounds (so a change in machine speed hits all alike).
The median over the rounds is reported, with the best round alongside. On a shared machine each
timed run first waits (briefly) for other jobs' CPU use to drop, and a run disturbed by them is
repeated once (``--quiet-wait``, ``--quiet-budget``). Peak memory is each worker's
``ru_maxrss`` (data, model, training and inference together; median over the rounds).

Checks (the run fails when one does not hold): equal parameter counts across frameworks, and in
every timed training run the mean loss of the last ~10% of steps is below that of the first
~10% (the data are learnable: real MNIST digits and ISBI slices when the data directory has
them, else cnnlab's generated shapes; the timing does not depend on pixel values).

Beside the throughput: the machine's matmul peak (fp32 and bf16, measured once per run) and
each workload's achieved GFLOP/s (``flops.py``), and a time-to-accuracy race on real MNIST
under one wall-clock budget per contestant: cnnlab's recipes vs the Keras MNIST example's
(``time_budget.py``; ``--tta-budget``, ``--tta-rounds``; skipped without MNIST).

Results: ``benchmarks/results/bench_train.json`` and ``bench_train.md``, also printed.

Modules: ``workloads.py`` (the models, sizes and data), ``workers.py`` (the worker processes
and the Keras venv), ``timing.py`` (quiet-machine waits, timed runs, medians, paired ratios,
the loss check), ``report.py`` (targets, verdicts, tables, result files).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from flops import achieved, macs_per_sample, matmul_peak
from report import RESULTS, assemble, machine_info, publish, report_run
from time_budget import run_section
from timing import Quiet, loss_checks, rotated, summarise, timed_runs
from workers import WorkerError, keras_python, start_workers
from workloads import INPUT_SIZES, NAMES, Workload, workloads, write_data

FRAMEWORKS = ("cnnlab", "keras", "textbook", "onnxruntime")
INFERENCE_ONLY = ("onnxruntime",)  # peers that predict but do not train
# what-if rows timed by default, so that a reader sees what each side's precision buys:
# cnnlab in float32 (its default is bfloat16 autocast on CPUs with native bf16) and Keras
# under its mixed_bfloat16 policy (its default is float32)
DEFAULT_CNNLAB_VARIANTS = ("precision='fp32'",)
DEFAULT_KERAS_VARIANTS = ("mixed_bfloat16",)


def run_workload(
    workload: Workload,
    frameworks: list[str],
    keras_py: Path | None,
    args: argparse.Namespace,
    work: Path,
    quiet: Quiet,
) -> dict:
    """``--repeats`` rounds; each starts a fresh worker process per framework (speed on this
    VM also varies from process to process), warms each up, then times one training and one
    inference run per framework, in an order rotated from round to round."""
    data = work / workload.name
    source = write_data(workload, data, args.data_dir)
    workload.notes.append(f"data: {source}")
    print(f"\n== {workload.title}: {workload.samples:,} images, batch {workload.batch_size}")
    print(f"   {source}", flush=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    train: dict[str, list[dict]] = {n: [] for n in frameworks if n not in INFERENCE_ONLY}
    infer: dict[str, list[dict]] = {name: [] for name in frameworks}
    memory: dict[str, list[dict]] = {name: [] for name in frameworks}
    infos: dict[str, dict] = {}
    for round_ in range(args.repeats):
        order = rotated(frameworks, round_)
        workers = start_workers(workload, data, frameworks, keras_py, work)
        try:
            params = {name: w.info["params"] for name, w in workers.items()}
            if round_ == 0:
                print(f"   parameters: {params}", flush=True)
            if len(set(params.values())) != 1:
                raise WorkerError(f"parameter counts differ: {params}")
            trained = timed_runs(
                workers,
                [name for name in order if name not in INFERENCE_ONLY],
                "train",
                {"samples": workload.warmup},
                {"samples": workload.samples},
                quiet,
            )
            inferred = timed_runs(
                workers,
                order,
                "infer",
                {"samples": workload.infer_warmup, "batch_size": workload.infer_batch},
                {"samples": workload.infer_samples, "batch_size": workload.infer_batch},
                quiet,
            )
            for name in order:
                if name in trained:
                    report_run("train", name, round_, trained[name])
            for name in order:
                report_run("infer", name, round_, inferred[name])
            for name, worker in workers.items():
                if name in trained:
                    train[name].append(trained[name])
                infer[name].append(inferred[name])
                exit_info = worker.call("exit")
                memory[name].append(
                    {**exit_info, "rss_after_setup_mib": worker.info["rss_after_setup_mib"]}
                )
                infos[name] = worker.info
        finally:
            for worker in workers.values():
                worker.close()
    result = {
        "settings": asdict(workload),
        "params": params,
        "workers": infos,
        "train": summarise(train),
        "infer": summarise(infer),
        "memory": {
            name: {
                "peak_rss_mib": statistics.median(m["peak_rss_mib"] for m in runs),
                "per_process": runs,
            }
            for name, runs in memory.items()
        },
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "wall_seconds": time.perf_counter() - started,
    }
    result["checks"] = loss_checks(result["train"])
    sample = INPUT_SIZES[workload.data]
    result["macs_per_sample"] = macs_per_sample(workload.model, workload.model_kwargs, sample)
    result["gflops"] = achieved(result, result["macs_per_sample"])
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the harness")
    parser.add_argument(
        "--repeats", type=int, default=5, help="rounds (fresh processes, one timed run each)"
    )
    parser.add_argument("--workloads", nargs="+", default=list(NAMES), metavar="NAME")
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), metavar="NAME")
    parser.add_argument(
        "--cnnlab-variant",
        action="append",
        default=None,
        metavar="SETTINGS",
        help="also time cnnlab with Trainer settings, e.g. \"precision='fp32'\" or "
        "'channels_last=False,sync_every=50' (what-if rows; repeatable; default: "
        f"{' and '.join(DEFAULT_CNNLAB_VARIANTS)})",
    )
    parser.add_argument(
        "--keras-variant",
        action="append",
        default=None,
        metavar="POLICY",
        help="also time Keras under this dtype policy, e.g. mixed_bfloat16 (what-if rows; "
        f"repeatable; default: {' and '.join(DEFAULT_KERAS_VARIANTS)})",
    )
    parser.add_argument(
        "--no-what-if", action="store_true", help="time only the three frameworks as users run them"
    )
    parser.add_argument("--mnist-cnn-samples", type=int, default=60_000)
    parser.add_argument(
        "--unet-width", type=int, default=64, help="U-Net base width (64: Ronneberger et al.)"
    )
    parser.add_argument(
        "--unet-crops",
        type=int,
        default=48,
        help="U-Net training crops (of 96: the quarters of the 24 ISBI training slices)",
    )
    parser.add_argument("--unet-infer-samples", type=int, default=8)
    parser.add_argument(
        "--tta-budget",
        type=float,
        default=None,
        help="seconds of training per time-to-accuracy contestant (default 60, 15 with "
        "--quick; 0 leaves the section out)",
    )
    parser.add_argument(
        "--tta-rounds", type=int, default=None, help="time-to-accuracy rounds (2; 1 with --quick)"
    )
    parser.add_argument("--data-dir", default=None, help="default: $CNNLAB_DATA_DIR")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reinstall-keras", action="store_true")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="seconds to wait, before each timed run, for other jobs' CPU use to drop",
    )
    parser.add_argument(
        "--quiet-budget", type=float, default=120.0, help="total seconds of such waiting"
    )
    args = parser.parse_args(argv)
    if args.cnnlab_variant is None:
        args.cnnlab_variant = [] if args.no_what_if else list(DEFAULT_CNNLAB_VARIANTS)
    if args.keras_variant is None:
        args.keras_variant = [] if args.no_what_if else list(DEFAULT_KERAS_VARIANTS)
    if args.tta_budget is None:
        args.tta_budget = 15.0 if args.quick else 60.0
    if args.tta_rounds is None:
        args.tta_rounds = 1 if args.quick else 2
    if args.repeats < 3:
        parser.error("--repeats must be at least 3 (the median of 3 or more)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frameworks = [f for f in FRAMEWORKS if f in args.frameworks]
    variants = [f"cnnlab[{v}]" for v in args.cnnlab_variant]
    frameworks[1:1] = variants
    if "keras" in frameworks:
        at = frameworks.index("keras") + 1
        frameworks[at:at] = [f"keras[{policy}]" for policy in args.keras_variant]
    keras_py = None
    if "keras" in frameworks:
        try:
            keras_py = keras_python(args.reinstall_keras)
        except (RuntimeError, subprocess.CalledProcessError) as error:
            print(f"Keras is left out: {error}", file=sys.stderr)
            frameworks = [f for f in frameworks if not f.startswith("keras")]
    if "onnxruntime" in frameworks and importlib.util.find_spec("onnxruntime") is None:
        print("ONNX Runtime is left out: onnxruntime is not installed", file=sys.stderr)
        frameworks.remove("onnxruntime")
    machine = machine_info()
    print(f"{machine['cpu']}, {machine['logical_cpus']} CPUs, load {machine['load_average_start']}")
    if machine["load_average_start"][0] > 1.5:
        print("WARNING: the machine is busy (1-min load > 1.5); timings will be noisy.")
    peak = matmul_peak()
    print(f"matmul peak: fp32 {peak['fp32']:,.1f} GFLOP/s, bf16 {peak['bf16']:,.1f} GFLOP/s")
    results: dict[str, dict] = {}
    quiet = Quiet(args.quiet_wait, args.quiet_budget)
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-") as tmp:
        work = Path(tmp)
        for workload in workloads(args):
            try:
                results[workload.name] = run_workload(
                    workload, frameworks, keras_py, args, work, quiet
                )
            except WorkerError as error:
                print(f"\n{workload.name}: {error}", file=sys.stderr)
                return 1
        budget = None
        if args.tta_budget > 0:
            budget = run_section(
                args.tta_budget, args.tta_rounds, args.data_dir, keras_py, work, quiet.settle
            )
    argv = argv if argv is not None else sys.argv[1:]
    report = assemble(results, variants, machine, args, argv, quiet.waited, peak, budget)
    publish(report, args.out)
    failed = [c for r in results.values() for c in r["checks"] if not c["passed"]]
    if failed:
        print(f"CHECK FAILED: {len(failed)} run(s) without a falling loss", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
