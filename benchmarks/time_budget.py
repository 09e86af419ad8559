"""Time to accuracy under a wall-clock budget: cnnlab's recipes vs the Keras MNIST example's.

Every contestant trains on MNIST ``test[:8000]`` and is validated on ``test[8000:]`` after each
epoch. Its clock is the sum of its epochs' wall times, each epoch's training steps plus its
validation (start-up, data loading and model building excluded): cnnlab's ``history.csv``
column ``time``, and the same span measured by ``keras_example.py`` around Keras' epochs. Only
epochs that end within the budget count; a contestant is stopped at the first epoch end past
it. The shared pieces (one ``cnnlab train`` run read from its history, seconds to a level)
also serve ``time_to_accuracy.py``.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import busy_seconds

HERE = Path(__file__).resolve().parent
SPLITS = "--dataset mnist --train-split test[:8000] --val-split test[8000:]"
LEVELS = (0.985, 0.99, 0.995)
# label -> the ``cnnlab train`` arguments, or the Keras example under a dtype policy
CONTESTANTS: dict[str, tuple[str, str]] = {
    "cnnlab mnist-cnn (card recipe)": ("cnnlab", f"mnist-cnn {SPLITS}"),
    "cnnlab lenet5 (card recipe)": ("cnnlab", f"lenet5 {SPLITS}"),
    "cnnlab fastcnn --recipe digits-fast": ("cnnlab", f"fastcnn {SPLITS} --recipe digits-fast"),
    "cnnlab fastcnn digits-fast x12 shift": (
        "cnnlab",
        f"fastcnn {SPLITS} --recipe digits-fast --epochs 12 --augment shift",
    ),
    "Keras example (float32)": ("keras", "float32"),
    "Keras example (mixed_bfloat16)": ("keras", "mixed_bfloat16"),
}
FASTEST = ("cnnlab fastcnn --recipe digits-fast", "cnnlab fastcnn digits-fast x12 shift")

Epochs = list[tuple[float, float]]  # (validation accuracy, wall seconds) per epoch


def read_history(path: Path) -> Epochs:
    """``(val_accuracy, time)`` per epoch of a cnnlab ``history.csv``."""
    with path.open(newline="") as file:
        return [(float(r["val_accuracy"]), float(r["time"])) for r in csv.DictReader(file)]


def within_budget(epochs: Epochs, budget: float | None) -> Epochs:
    """The epochs that end within ``budget`` seconds of training (all when ``None``)."""
    kept, total = [], 0.0
    for accuracy, seconds in epochs:
        total += seconds
        if budget is not None and total > budget:
            break
        kept.append((accuracy, seconds))
    return kept


def seconds_to(epochs: Epochs, level: float) -> float | None:
    """Training seconds at the end of the first epoch whose accuracy is at least ``level``."""
    total = 0.0
    for accuracy, seconds in epochs:
        total += seconds
        if accuracy >= level:
            return total
    return None


def outcome(epochs: Epochs, budget: float | None) -> dict:
    """What a run achieved within ``budget``: seconds to each level, best and last accuracy."""
    kept = within_budget(epochs, budget)
    accuracies = [a for a, _ in kept]
    return {
        "epochs_run": len(kept),
        "seconds": sum(s for _, s in kept),
        "best_accuracy": max(accuracies, default=None),
        "accuracy": accuracies[-1] if accuracies else None,
        **{f"seconds_to_{level}": seconds_to(kept, level) for level in LEVELS},
        "history": epochs,
    }


def run_cnnlab(
    args: str, budget: float | None = None, threads: int | None = None, poll: float = 0.25
) -> Epochs:
    """``cnnlab train ARGS`` in a fresh process; its epochs from ``history.csv`` (written
    atomically at each epoch end), stopping the process at the first epoch end past ``budget``."""
    env = dict(os.environ) | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
    with tempfile.TemporaryDirectory(prefix="cnnlab-tta-") as out:
        command = [sys.executable, "-m", "cnnlab", "train", *shlex.split(args)]
        proc = subprocess.Popen([*command, "--quiet", "--out", out], env=env, stdout=-3)
        epochs: Epochs = []
        try:
            while True:
                done = proc.poll() is not None
                histories = list(Path(out).glob("*/history.csv"))
                if histories:
                    epochs = read_history(histories[0])
                if done or (budget is not None and sum(s for _, s in epochs) >= budget):
                    break
                time.sleep(poll)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if done and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, command)
    return epochs


def run_keras(keras_py: Path, data: Path, policy: str, budget: float | None, log: Path) -> Epochs:
    """The Keras example's recipe under ``policy`` in the Keras venv (``keras_example.py``)."""
    result = log.with_suffix(".json")
    spec = {"data": str(data), "policy": policy, "budget": budget, "out": str(result)}
    with log.open("w") as stream:
        subprocess.run(
            [str(keras_py), str(HERE / "keras_example.py"), json.dumps(spec)],
            check=True,
            stdout=stream,
            stderr=stream,
            cwd=HERE,
        )
    return [tuple(e) for e in json.loads(result.read_text())["epochs"]]


def write_mnist_test(data_dir: str | None, path: Path) -> str | None:
    """MNIST's test set as ``images`` (N x 28 x 28 uint8) and ``labels`` in ``path`` (.npz) for
    the Keras side; the reason to skip when the data directory has no MNIST."""
    from cnnlab.data import load
    from cnnlab.errors import CnnlabError

    try:
        images, labels = load("mnist", "test", data_dir=data_dir, download=False).tensors()
    except CnnlabError as error:
        return f"no MNIST in the data directory ({error})"
    np.savez(path, images=images[:, 0].numpy(), labels=labels.numpy().astype(np.uint8))
    return None


def children_seconds() -> float:
    """CPU seconds of this process's finished children (the contestant, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_of(values: list[float | None], worse: Callable) -> float | None:
    """The median over rounds, a missed level (``None``) counting as the worst; of an even
    number of rounds the worse middle one (``worse``: ``max`` for seconds, ``min`` for
    accuracy), so a single lucky round cannot carry it."""
    if not values:
        return None
    bad = float("inf") if worse is max else float("-inf")
    ordered = sorted(bad if v is None else v for v in values)
    n = len(ordered)
    middle = ordered[n // 2] if n % 2 else worse(ordered[n // 2 - 1], ordered[n // 2])
    return None if middle in (float("inf"), float("-inf")) else middle


def summarise(runs: list[dict]) -> dict:
    """Per contestant: the median over the rounds of each measure, and the rounds."""
    keys = [f"seconds_to_{level}" for level in LEVELS]
    summary = {k: median_of([r[k] for r in runs], max) for k in keys}
    summary["best_accuracy"] = median_of([r["best_accuracy"] for r in runs], min)
    summary["epochs_run"] = statistics.median(r["epochs_run"] for r in runs)
    summary["seconds"] = statistics.median(r["seconds"] for r in runs)
    summary["other_cpu_cores"] = statistics.median(r.get("other_cpu_cores", 0.0) for r in runs)
    return {**summary, "runs": runs}


def race_once(
    side: str,
    what: str,
    budget: float,
    data_dir: str | None,
    keras_py: Path | None,
    data: Path,
    log: Path,
) -> dict:
    """One contestant's run under ``budget``: its :func:`outcome`, the process's wall and CPU
    seconds, and the other jobs' CPU use meanwhile (in cores). A failed run is recorded with
    its error and no epochs, so one crash does not lose the whole benchmark."""
    start, cpu, busy = time.perf_counter(), children_seconds(), busy_seconds()
    error = None
    try:
        if side == "cnnlab":
            where = f" --data-dir {shlex.quote(data_dir)}" if data_dir else ""
            epochs = run_cnnlab(what + where, budget)
        else:
            epochs = run_keras(keras_py, data, what, budget, log)
    except (subprocess.CalledProcessError, OSError, ValueError) as failure:
        epochs, error = [], f"FAILED: {failure}"
    wall = time.perf_counter() - start
    own = children_seconds() - cpu
    result = outcome(epochs, budget)
    result["process_wall_seconds"] = wall
    result["process_cpu_seconds"] = own
    result["other_cpu_cores"] = max(0.0, (busy_seconds() - busy - own) / wall)
    return result | ({"error": error} if error else {})


def run_section(
    budget: float,
    rounds: int,
    data_dir: str | None,
    keras_py: Path | None,
    work: Path,
    settle: Callable[[], None],
) -> dict:
    """Every contestant ``rounds`` times under ``budget``, rounds interleaved (this VM's speed
    drifts over minutes); ``{"skipped": reason}`` without MNIST."""
    data = work / "mnist-test.npz"
    reason = write_mnist_test(data_dir, data)
    if reason is not None:
        print(f"\n== Time to accuracy: skipped: {reason}", flush=True)
        return {"skipped": reason}
    chosen = {k: v for k, v in CONTESTANTS.items() if v[0] == "cnnlab" or keras_py is not None}
    print(f"\n== Time to accuracy: {budget:g} s budget each, {rounds} round(s)", flush=True)
    runs: dict[str, list[dict]] = {label: [] for label in chosen}
    for round_ in range(rounds):
        for label, (side, what) in chosen.items():
            settle()
            log = work / f"tta-{side}-{round_}-{len(runs[label])}.log"
            result = race_once(side, what, budget, data_dir, keras_py, data, log)
            runs[label].append(result)
            best, to_99 = result["best_accuracy"], result["seconds_to_0.99"]
            print(
                f"    {label:<38} run {round_ + 1}: best "
                f"{'-' if best is None else f'{best:.2%}'} in {result['epochs_run']} epochs "
                f"({result['seconds']:.1f} s of training, {len(result['history'])} run), "
                f"to 99.0%: {'-' if to_99 is None else f'{to_99:.1f} s'}, others "
                f"{result['other_cpu_cores']:.2f} cores {result.get('error', '')}",
                flush=True,
            )
    return {
        "budget_seconds": budget,
        "rounds": rounds,
        "commands": {
            k: f"cnnlab train {what}" if side == "cnnlab" else f"keras_example.py ({what})"
            for k, (side, what) in chosen.items()
        },
        "contestants": {label: summarise(rs) for label, rs in runs.items()},
    }
