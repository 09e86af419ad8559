"""What the benchmark workers share: the command protocol, the loss-window check, memory.

Pure Python (plus the standard library), because it is imported by the workers of both
environments: ``torch_worker.py`` in the project venv and ``keras_worker.py`` in the Keras venv.

Protocol: a worker reads one JSON command per line on stdin (``{"cmd": "train", ...}``) and
answers with one JSON object per line on the ORIGINAL stdout. Everything else the process
prints (progress bars, Keras' per-epoch line, TensorFlow's logs) goes to stderr, so the
frameworks keep drawing their bars as users see them, without corrupting the answers.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import traceback
from collections.abc import Callable

Handler = Callable[..., dict]


def open_protocol() -> object:
    """Keep a private handle on stdout for the answers and send fd 1 (and sys.stdout) to
    stderr, so anything the frameworks print cannot interleave with the JSON lines."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def run_worker(make_worker: Callable[[dict], object]) -> None:
    """A worker process's main: ``make_worker(spec)`` (the spec is the JSON argument) builds an
    object with ``ready()``, ``train(samples)`` and ``infer(samples, batch_size)``; it then
    serves those commands, and ``exit`` (answered with the peak RSS)."""
    answers = open_protocol()
    worker = make_worker(json.loads(sys.argv[1]))
    handlers = {
        "train": worker.train,
        "infer": worker.infer,
        "exit": lambda: {"peak_rss_mib": peak_rss_mib()},
    }
    serve(handlers, answers, worker.ready())


def serve(handlers: dict[str, Handler], answers, ready: dict) -> None:
    """Answer ``ready`` at once, then one command per stdin line until ``exit`` or EOF."""
    _answer(answers, {"ok": True, **ready})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        name = request.pop("cmd")
        try:
            reply = handlers[name](**request)
        except Exception:  # the orchestrator prints it and stops the run
            _answer(answers, {"ok": False, "error": traceback.format_exc()})
            return
        _answer(answers, {"ok": True, **reply})
        if name == "exit":
            return


def _answer(answers, payload: dict) -> None:
    answers.write(json.dumps(payload) + "\n")
    answers.flush()


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time used so far by this process, all threads (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_mib() -> float:
    """Resident set size now (from /proc; 0 where it is not available)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_result(
    samples: int, seconds: float, cpu_start: float, predicted: int | None = None, **extra
) -> dict:
    """A timed command's answer: wall and CPU seconds (since ``cpu_start``, a
    :func:`cpu_seconds` reading), images, images per second, then ``extra``. ``predicted``:
    how many samples an inference returned, checked to be ``samples``."""
    if predicted is not None and predicted != samples:
        raise RuntimeError(f"predicted {predicted} samples, expected {samples}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu_start,
        "images": samples,
        "images_per_s": samples / seconds,
        **extra,
    }


def loss_windows(points: list[tuple[int, float, int]], steps: int) -> dict:
    """Mean training loss over the first and the last ~10% of an epoch's steps.

    ``points`` are ``(step, loss_sum, samples)`` after ``step`` steps, cumulative from the
    start of the epoch (``(0, 0, 0)`` is implied): every step when the per-step loss is known,
    or only where a framework reports its running mean (cnnlab every ``sync_every`` steps).
    The first window ends at the first point at or after 10% of the steps, the last one starts
    at the last point at or before 90%, so coarser reports give wider windows, never gaps.
    """
    pts = sorted({(0, 0.0, 0), *points})
    if pts[-1][0] != steps:
        raise ValueError(f"no loss report at the end of the epoch (step {steps}): {pts}")
    if len(pts) < 3:  # a one-step epoch (a warm-up) has no first and last window
        return {"loss_first": None, "loss_last": None, "loss_epoch": pts[-1][1] / pts[-1][2]}
    tenth = max(1, math.ceil(0.1 * steps))
    first_end = next(p for p in pts[1:] if p[0] >= tenth)
    last_start = [p for p in pts[:-1] if p[0] <= steps - tenth][-1]
    if last_start[0] < first_end[0]:  # too few reports: split at the middle one
        first_end = last_start = pts[len(pts) // 2]
    end = pts[-1]

    def mean(a: tuple, b: tuple) -> float:
        return (b[1] - a[1]) / (b[2] - a[2])

    return {
        "loss_first": mean(pts[0], first_end),
        "loss_last": mean(last_start, end),
        "first_window_steps": [1, first_end[0]],
        "last_window_steps": [last_start[0] + 1, end[0]],
        "loss_epoch": end[1] / end[2],
    }


def from_running_means(means: dict[int, float], batch_size: int, samples: int) -> list:
    """``(step, loss_sum, samples)`` points from running sample-weighted means by step."""
    points = []
    for step, value in means.items():
        seen = min(step * batch_size, samples)
        points.append((step, value * seen, seen))
    return points


def from_step_losses(losses: list[float], sizes: list[int]) -> list:
    """``(step, loss_sum, samples)`` points from every step's mean loss and batch size."""
    points, total, seen = [], 0.0, 0
    for step, (loss, size) in enumerate(zip(losses, sizes, strict=True), start=1):
        total += loss * size
        seen += size
        points.append((step, total, seen))
    return points
