"""Timing on a shared machine: other jobs' CPU use, waits for a quiet machine, timed runs in
rotated order, medians over rounds, paired ratios and the "loss falls" check.

Other jobs' CPU use comes from ``/proc/stat`` (the whole machine's busy time) minus what the
timed process used itself; the idle workers use none, so it is the noise of a run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def measured(run: Callable[[], Any], own_seconds: Callable[[], float]) -> tuple[Any, float, float]:
    """``run()``, its wall seconds, and how many cores the rest of the machine used meanwhile
    (all busy time minus ``own_seconds()``, the timed process's CPU seconds)."""
    busy, own = busy_seconds(), own_seconds()
    start = time.perf_counter()
    value = run()
    wall = time.perf_counter() - start
    others = busy_seconds() - busy - (own_seconds() - own)
    return value, wall, max(0.0, others / wall)


def call_measured(worker, cmd: str, **kwargs) -> dict:
    """``worker.call`` plus how much CPU the rest of the machine used meanwhile (in cores):
    the noise indicator of each run on a shared machine."""
    pid = worker.proc.pid
    result, _, others = measured(lambda: worker.call(cmd, **kwargs), lambda: process_seconds(pid))
    result["other_cpu_cores"] = others
    result["load_1min"] = os.getloadavg()[0]
    return result


def rotated(items: list[str], shift: int) -> list[str]:
    shift %= len(items)
    return items[shift:] + items[:shift]


class Quiet:
    """Waiting for the machine to be quiet before a timed run, within a total time budget.

    A run during which others used more than ``noisy`` cores is repeated once and the quieter
    run is kept (both are in the JSON), the same rule for every framework.
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

    def run(
        self, run: Callable[[], Any], own_seconds: Callable[[], float], attempts: int = 3
    ) -> tuple[Any, float]:
        """``run()`` in this process once the machine is quiet, retried (up to ``attempts``
        times) while others use 0.3 cores or more: (value, other jobs' cores) of the least
        disturbed attempt."""
        best: tuple[Any, float] | None = None
        for _ in range(attempts):
            self.settle()
            value, _, others = measured(run, own_seconds)
            if best is None or others < best[1]:
                best = (value, others)
            if others < 0.3:
                break
        return best


def timed_runs(workers: dict, order: list[str], cmd: str, warmup: dict, timed: dict, quiet: Quiet):
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


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Median and best img/s, median CPU use and noise over the rounds, per framework."""
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
    """One check per timed training run: the mean loss of its last ~10% of steps is below
    that of its first ~10% (windows from ``bench_common.loss_windows``)."""
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


def ratio(result: dict, what: str, other: str, ours: str = "cnnlab") -> float | None:
    """Median over the rounds of (ours / other) within a round: both ran minutes apart in
    fresh processes of the same round, so a slow spell of the machine cancels out."""
    summary = result.get(what, {})
    if ours not in summary or other not in summary:
        return None
    pairs = zip(summary[ours]["runs"], summary[other]["runs"], strict=True)
    return statistics.median(a["images_per_s"] / b["images_per_s"] for a, b in pairs)


def ratio_to_best(result: dict, what: str, other: str, ours: str) -> float | None:
    """The conservative reading: our median over the OTHER side's best round (a peer whose
    speed swings from round to round, as TensorFlow's thread use does, is taken at its best)."""
    summary = result.get(what, {})
    if ours not in summary or other not in summary:
        return None
    return summary[ours]["median_images_per_s"] / summary[other]["best_images_per_s"]
