"""Training and inference throughput: cnnlab ``fit`` vs Keras 3 (TensorFlow) vs the textbook
PyTorch loop, on the same models, data, batch sizes and optimizer (issue 8).

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_train.py``; ``--quick`` for a
one-minute smoke run with tiny sizes, ``--help`` for the knobs). The first run creates
``benchmarks/.keras-venv`` (``pip install keras tensorflow-cpu``) and reuses it afterwards.

Each framework runs in its own subprocess (``torch_worker.py`` for cnnlab and the textbook
loop, ``keras_worker.py`` in the Keras venv) that loads the data and builds the model once,
then trains or predicts on command. Per workload, ``--repeats`` rounds: each round starts a
fresh process per framework (on this VM the speed of a process varies by up to ~1.7x from one
process to the next, and over time), warms each up with a short run, then times one training
epoch per framework and one inference pass per framework, in an order rotated between rounds
(so a change in machine speed hits all alike). The median over the rounds is reported, with
the best round alongside. On a shared machine each timed run first waits (briefly) for other
jobs' CPU use to drop, and a run disturbed by them is repeated once (``--quiet-wait``,
``--quiet-budget``). Peak memory is each worker's ``ru_maxrss`` (data, model, training and
inference together; median over the rounds).

Checks (the run fails when one does not hold): equal parameter counts across frameworks, and in
every timed training run the mean loss of the last ~10% of steps is below that of the first
~10% (the data are learnable: real MNIST digits and ISBI slices when the data directory has
them, else cnnlab's generated shapes; the timing does not depend on pixel values).

Results: ``benchmarks/results/bench_train.json`` and ``bench_train.md``, also printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KERAS_VENV = HERE / ".keras-venv"
# tensorflow-cpu avoids the CUDA wheels; plain tensorflow is the fallback where it is missing
KERAS_REQUIREMENTS = (("keras>=3", "tensorflow-cpu"), ("keras>=3", "tensorflow"))
FRAMEWORKS = ("cnnlab", "keras", "textbook")
# what-if rows timed by default, so that a reader sees what each side's precision buys:
# cnnlab in float32 (its default is bfloat16 autocast on CPUs with native bf16) and Keras
# under its mixed_bfloat16 policy (its default is float32)
DEFAULT_CNNLAB_VARIANTS = ("precision='fp32'",)
DEFAULT_KERAS_VARIANTS = ("mixed_bfloat16",)

# (workload, what, framework ratio or absolute, goal); "ratio" is cnnlab / other
TARGETS = (
    ("lenet5", "train", "keras", 2.5),
    ("lenet5", "train", "textbook", 1.3),
    ("lenet5", "infer", None, 20_000.0),
    ("unet", "train", "keras", 2.0),
    ("unet", "train", "textbook", 1.0),
)


@dataclass
class Workload:
    name: str
    title: str
    model: str
    model_kwargs: dict
    data: str  # "digits" (N x 1 x 28 x 28, 10 classes) or "isbi" (256 x 256 crops, masks)
    samples: int
    batch_size: int
    warmup: int
    infer_samples: int
    infer_batch: int
    infer_warmup: int
    lr: float = 1e-3
    notes: list[str] = field(default_factory=list)


def workloads(args: argparse.Namespace) -> list[Workload]:
    quick = args.quick
    n_digits = 3_000 if quick else 60_000
    n_cnn = 3_000 if quick else args.mnist_cnn_samples
    width = 8 if quick else args.unet_width
    crops = 32 if quick else args.unet_crops

    def warm(n: int, batch: int, full: int) -> int:
        """``full`` batches plus the epoch's last partial batch: every batch shape once."""
        return min(n, full * batch + n % batch)

    digits_warm = 2 if quick else 10
    all_loads = [
        Workload(
            "lenet5",
            "LeNet-5",
            "lenet5",
            {"image_size": 28},
            "digits",
            n_digits,
            128,
            warm(n_digits, 128, digits_warm),
            min(n_digits, 10_000),
            256,
            warm(min(n_digits, 10_000), 256, 2),
        ),
        Workload(
            "mnist-cnn",
            "MNIST CNN (Keras example)",
            "mnist-cnn",
            {},
            "digits",
            n_cnn,
            128,
            warm(n_cnn, 128, digits_warm),
            min(n_cnn, 10_000),
            256,
            warm(min(n_cnn, 10_000), 256, 2),
        ),
        Workload(
            "unet",
            f"U-Net (same padding, base width {width})",
            "unet",
            {"padding": "same", "base_width": width, "image_size": 256},
            "isbi",
            crops,
            4,
            warm(crops, 4, 1 if quick else 2),
            args.unet_infer_samples if not quick else 4,
            1,
            2,
            # Keras' U-Net (Glorot init, no batch norm) has a loss spike in its first steps at
            # lr 1e-3 and can end a short epoch above its start; at 3e-4 all of them fall. The
            # quick width-8 U-Net's eight steps need 1e-3 to move its loss at all.
            lr=1e-3 if quick else 3e-4,
        ),
    ]
    chosen = [w for w in all_loads if w.name in args.workloads]
    if not chosen:
        raise SystemExit(f"no workload among {args.workloads}; choose from lenet5 mnist-cnn unet")
    return chosen


# --- data ---------------------------------------------------------------------------------


def digits_data(n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` MNIST test digits tiled (when the data directory has them), else shapes."""
    from cnnlab.data import load
    from cnnlab.errors import CnnlabError

    try:
        images, labels = load("mnist", "test", data_dir=data_dir, download=False).tensors()
        source = f"MNIST test set (10,000 real digits) tiled to {n:,}"
    except CnnlabError:
        from cnnlab.data.synthetic import shapes

        images, _, labels = shapes(10_000, 28, 1, seed=0)
        source = f"generated shapes (cnnlab.data.synthetic, 3 classes) tiled to {n:,}"
    reps = -(-n // len(images))
    images = images.repeat(reps, 1, 1, 1)[:n]
    labels = labels.repeat(reps)[:n]
    return images.numpy(), labels.numpy().astype(np.uint8), source


def isbi_data(n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` 256 x 256 crops (the four quarters of each 512 x 512 ISBI training slice, in
    order), else generated shapes with binary masks."""
    from cnnlab.data import load
    from cnnlab.errors import CnnlabError

    try:
        images, masks = load("isbi2012", "train", data_dir=data_dir, download=False).tensors()
        images = images.unfold(2, 256, 256).unfold(3, 256, 256)  # S x 1 x 2 x 2 x 256 x 256
        images = images.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, 256, 256)
        masks = masks.unfold(1, 256, 256).unfold(2, 256, 256).reshape(-1, 256, 256)
        if n > len(images):
            raise SystemExit(f"ISBI has {len(images)} crops of 256 x 256; asked for {n}")
        source = f"ISBI 2012 training slices, first {n} of {len(images)} 256x256 quarter crops"
        images, masks = images[:n], masks[:n]
    except CnnlabError:
        from cnnlab.data.synthetic import shapes

        images, masks, _ = shapes(n, 256, 1, seed=0)
        masks = (masks > 0).long()
        source = f"{n} generated 256x256 shapes with binary masks (ISBI not found)"
    return images.numpy(), masks.numpy().astype(np.uint8), source


def write_data(workload: Workload, folder: Path, data_dir: str | None) -> str:
    make = digits_data if workload.data == "digits" else isbi_data
    images, labels, source = make(workload.samples, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", np.ascontiguousarray(images))
    np.save(folder / "labels.npy", np.ascontiguousarray(labels))
    return source


# --- the Keras environment ----------------------------------------------------------------


def keras_python(reinstall: bool) -> Path:
    """The Keras venv's python, created and installed on first use (a stamp marks success)."""
    python = KERAS_VENV / "bin" / "python"
    stamp = KERAS_VENV / ".bench-installed"
    if stamp.exists() and python.exists() and not reinstall:
        return python
    print(f"Setting up {KERAS_VENV} (one time; about 1.5 GB of wheels) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(KERAS_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    errors = []
    for requirements in KERAS_REQUIREMENTS:
        result = subprocess.run([*pip, *requirements], capture_output=True, text=True)
        if result.returncode == 0:
            stamp.write_text(" ".join(requirements) + "\n")
            return python
        errors.append(f"pip install {' '.join(requirements)}:\n{result.stderr[-2000:]}")
    raise RuntimeError("could not install Keras:\n" + "\n".join(errors))


# --- workers ------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


class Worker:
    """One framework's subprocess: JSON commands in on stdin, JSON answers out on stdout."""

    def __init__(self, framework: str, argv: list[str], log: Path) -> None:
        self.framework = framework
        self.log_path = log
        self.log = log.open("w")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=HERE,
            env=env,
        )
        self.info: dict = {}

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise WorkerError(f"{self.framework} worker died:\n{self._log_tail()}")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise WorkerError(f"{self.framework} worker failed:\n{reply['error']}")
        return reply

    def call(self, cmd: str, **kwargs) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def _log_tail(self) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_workers(
    workload: Workload, data: Path, frameworks: list[str], keras_py: Path | None, logs: Path
) -> dict[str, Worker]:
    spec = {
        "data_dir": str(data),
        "model": workload.model,
        "model_kwargs": workload.model_kwargs,
        "batch_size": workload.batch_size,
        "lr": workload.lr,
    }
    workers = {}
    for framework in frameworks:
        if framework.startswith("keras"):
            argv = [str(keras_py), str(HERE / "keras_worker.py")]
        else:
            argv = [sys.executable, str(HERE / "torch_worker.py")]
        argv.append(json.dumps({**spec, "framework": framework}))
        log = logs / f"{workload.name}-{framework}.log"
        workers[framework] = Worker(framework, argv, log)
    for worker in workers.values():
        worker.info = worker.read()
    return workers


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores; not idle or iowait)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


def process_seconds(pid: int) -> float:
    """CPU seconds used by process ``pid`` (user + system, all threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICK


def call_measured(worker: Worker, cmd: str, **kwargs) -> dict:
    """``worker.call`` plus how much CPU the rest of the machine used meanwhile (in cores):
    the noise indicator of each run on a shared machine."""
    busy, own = busy_seconds(), process_seconds(worker.proc.pid)
    start = time.perf_counter()
    result = worker.call(cmd, **kwargs)
    wall = time.perf_counter() - start
    others = busy_seconds() - busy - (process_seconds(worker.proc.pid) - own)
    result["other_cpu_cores"] = max(0.0, others / wall)
    result["load_1min"] = os.getloadavg()[0]
    return result


def rotated(items: list[str], shift: int) -> list[str]:
    shift %= len(items)
    return items[shift:] + items[:shift]


class Quiet:
    """Waiting for the machine to be quiet before a timed run, within a total time budget.

    Other jobs' CPU use is measured from /proc/stat (the idle workers use none). A run during
    which others used more than ``noisy`` cores is repeated once and the quieter run is kept
    (both are in the JSON), the same rule for every framework.
    """

    def __init__(self, wait: float, budget: float, noisy: float = 0.5) -> None:
        self.wait, self.budget, self.noisy = wait, budget, noisy
        self.waited = 0.0

    def settle(self) -> None:
        deadline = time.perf_counter() + min(self.wait, self.budget - self.waited)
        while time.perf_counter() < deadline:
            start, busy = time.perf_counter(), busy_seconds()
            time.sleep(0.5)
            elapsed = time.perf_counter() - start
            self.waited += elapsed
            if (busy_seconds() - busy) / elapsed < 0.25:
                return


def timed_runs(
    workers: dict[str, Worker], order: list[str], cmd: str, warmup: dict, timed: dict, quiet
) -> dict[str, dict]:
    """One warm-up call per framework, then one timed call each in ``order``."""
    for name in order:
        workers[name].call(cmd, **warmup)
    results = {}
    for name in order:
        quiet.settle()
        result = call_measured(workers[name], cmd, **timed)
        if result["other_cpu_cores"] > quiet.noisy:
            quiet.settle()
            again = call_measured(workers[name], cmd, **timed)
            noisy, result = sorted((result, again), key=lambda r: -r["other_cpu_cores"])
            result["discarded_noisy_run"] = noisy
        results[name] = result
    return results


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
    train: dict[str, list[dict]] = {name: [] for name in frameworks}
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
                order,
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
                report_run("train", name, round_, trained[name])
            for name in order:
                report_run("infer", name, round_, inferred[name])
            for name, worker in workers.items():
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
    return result


def summarise(runs: dict[str, list[dict]]) -> dict:
    return {
        name: {
            "median_images_per_s": statistics.median(r["images_per_s"] for r in rs),
            "best_images_per_s": max(r["images_per_s"] for r in rs),
            "median_other_cpu_cores": statistics.median(r["other_cpu_cores"] for r in rs),
            "median_cpu_utilization": statistics.median(
                r["cpu_seconds"] / r["seconds"] for r in rs
            ),
            "runs": rs,
        }
        for name, rs in runs.items()
    }


def loss_checks(train: dict) -> list[dict]:
    checks = []
    for name, summary in train.items():
        for index, run in enumerate(summary["runs"], start=1):
            checks.append(
                {
                    "check": f"{name} run {index}: loss falls (last 10% of steps < first 10%)",
                    "first": run["loss_first"],
                    "last": run["loss_last"],
                    "passed": run["loss_first"] is not None
                    and run["loss_last"] < run["loss_first"],
                }
            )
    return checks


# --- reporting ----------------------------------------------------------------------------


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


def ratio(result: dict, what: str, other: str, ours: str = "cnnlab") -> float | None:
    """Median over the rounds of (ours / other) within a round: both ran minutes apart in
    fresh processes of the same round, so a slow spell of the machine cancels out."""
    summary = result[what]
    if ours not in summary or other not in summary:
        return None
    pairs = zip(summary[ours]["runs"], summary[other]["runs"], strict=True)
    return statistics.median(a["images_per_s"] / b["images_per_s"] for a, b in pairs)


def ratio_to_best(result: dict, what: str, other: str, ours: str) -> float | None:
    """The conservative reading: our median over the OTHER side's best round (a peer whose
    speed swings from round to round, as TensorFlow's thread use does, is taken at its best)."""
    summary = result[what]
    if ours not in summary or other not in summary:
        return None
    return summary[ours]["median_images_per_s"] / summary[other]["best_images_per_s"]


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
    if value is None:
        return "n/a"
    return f"{value:,.0f} img/s" if "img/s" in row["goal"] else f"{value:.2f}x"


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        "# Training benchmark: cnnlab vs Keras 3 (TensorFlow) vs the textbook PyTorch loop",
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
        "the textbook epoch loop; `Trainer.predict`, `model.predict`, the no_grad loop).",
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
        for fw, train in result["train"].items():
            runs = ", ".join(rate(r["images_per_s"]) for r in train["runs"])
            windows = [r for r in train["runs"] if r["loss_first"] is not None]
            falling = sum(r["loss_last"] < r["loss_first"] for r in windows)
            losses = "n/a"
            if windows:
                first = statistics.mean(r["loss_first"] for r in windows)
                last = statistics.mean(r["loss_last"] for r in windows)
                losses = f"{first:.3f} -> {last:.3f} ({falling}/{len(train['runs'])})"
            infer = result["infer"][fw]
            rss = result["memory"][fw]["peak_rss_mib"]
            lines.append(
                f"| {fw} | {rate(train['median_images_per_s'])} "
                f"| {rate(train['best_images_per_s'])} | {runs} | {losses} "
                f"| {rate(infer['median_images_per_s'])} | {rate(infer['best_images_per_s'])} "
                f"| {rss:,.0f} | {train['median_cpu_utilization']:.2f} "
                f"| {train['median_other_cpu_cores']:.2f} |"
            )
        ratios = []
        others = [fw for fw in result["train"] if not fw.startswith("cnnlab")]
        for ours in (fw for fw in result["train"] if fw.startswith("cnnlab")):
            for what in ("train", "infer"):
                for other in others:
                    value = ratio(result, what, other, ours)
                    if value is not None:
                        ratios.append(f"{what} {ours}/{other} {value:.2f}x")
        lines += ["", "Ratios (median of the per-round ratios): " + ", ".join(ratios) + ".", ""]
    lines += [
        "## Targets (issue 8)",
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
    labels = [f"{name} / {fw}" for name, r in report["workloads"].items() for fw in r["train"]]
    left = max([28, *(len(label) + 2 for label in labels)])
    width = left + 42
    print("\n" + "=" * width)
    head = f"{'workload / framework':<{left}}{'train img/s':>14}{'infer img/s':>14}"
    print(f"{head}{'peak RSS MiB':>14}")
    for name, result in report["workloads"].items():
        for fw, train in result["train"].items():
            infer = result["infer"][fw]["median_images_per_s"]
            rss = result["memory"][fw]["peak_rss_mib"]
            label = f"{name} / {fw}"
            print(
                f"{label:<{left}}{train['median_images_per_s']:>14,.1f}{infer:>14,.1f}{rss:>14,.0f}"
            )
    left = max([42, *(len(row["target"]) + 2 for row in report["targets"])])
    print("-" * (left + 56))
    print(f"{'target':<{left}}{'goal':>18}{'measured':>14}{'result':>8}{'vs peer best':>16}")
    for row in report["targets"]:
        best = row.get("vs_best_of_other")
        best_text = f"{best:.2f}x" if best is not None else ""
        print(
            f"{row['target']:<{left}}{row['goal']:>18}{fmt_measured(row):>14}"
            f"{row['result']:>8}{best_text:>16}"
        )
    print("=" * (left + 56))


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the harness")
    parser.add_argument(
        "--repeats", type=int, default=5, help="rounds (fresh processes, one timed run each)"
    )
    parser.add_argument(
        "--workloads", nargs="+", default=["lenet5", "mnist-cnn", "unet"], metavar="NAME"
    )
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
    machine = machine_info()
    print(f"{machine['cpu']}, {machine['logical_cpus']} CPUs, load {machine['load_average_start']}")
    if machine["load_average_start"][0] > 1.5:
        print("WARNING: the machine is busy (1-min load > 1.5); timings will be noisy.")
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
    versions, threads = {}, {}
    for result in results.values():
        for fw, info in result["workers"].items():
            versions.update(info["versions"])
            threads[fw] = info["threads"]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(["bench_train.py", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "repeats": args.repeats,
        "quiet_wait": args.quiet_wait,
        "quiet_waiting_seconds": quiet.waited,
        "machine": machine,
        "versions": versions,
        "threads": threads,
        "workloads": results,
        "targets": target_rows(results, variants),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench_train_quick" if args.quick else "bench_train"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    print("\n" + markdown(report))
    print_summary(report)
    print(f"Written: {args.out / (stem + '.json')} and {stem}.md")
    failed = [c for r in results.values() for c in r["checks"] if not c["passed"]]
    if failed:
        print(f"CHECK FAILED: {len(failed)} run(s) without a falling loss", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
