"""Where the time of cnnlab's ``Trainer.fit`` goes, and what its knobs (or small what-ifs) buy.

Sections (``--sections``; numbers go to ``benchmarks/results/profile_fit[_quick].json`` and
are summarized by hand in ``benchmarks/PROFILE.md``):

- ``components``: one timed epoch with the Trainer's own profiling hook
  (``Trainer(..., profiler=SectionTimer())``): its sections prepare (uint8 -> float, once),
  batch (``index_select``), augment, forward, loss, backward (with ``zero_grad``), optimizer,
  metrics, callbacks (progress bar, loss syncs) and validation, plus everything else (fit
  setup, epoch end, summary) by difference; CPU kernels run synchronously, so wall time
  attributes exactly.
- ``ops``: ``torch.profiler`` over a few dozen steps, the top operators by self CPU time.
- ``knobs`` (``profile_knobs.py``): whole epochs of ``fit`` (median of ``--repeats`` after a
  warm-up, variants interleaved) with the Trainer's settings (verbose, sync_every, top_k,
  precision, channels_last), the number of threads, ``torch.compile``, and what-ifs applied
  from the outside (PyTorch's multi-tensor Adam switched on by a callback; metrics reduced to
  the loss and contiguous slices instead of ``index_select``, patched over the public
  ``MetricState.update`` and ``InMemoryLoader.__iter__``), plus the textbook loop of
  ``torch_worker.py`` for reference. Nothing in ``src/`` is changed.
- ``snippets``: per-call costs of the pieces in isolation (Adam variants, metric update,
  batching), in microseconds.
- ``values``: the same epochs on random uint8 images instead of the real ones, with and
  without ``torch.set_flush_denormal(True)``: does the timing depend on pixel values?
- ``threads``: fresh processes with ``OMP_WAIT_POLICY`` unset or ``PASSIVE`` (read when the
  OpenMP runtime loads, so it needs a new process) and 1 or 2 threads, for cnnlab's fit and the
  textbook loop, with other jobs' CPU use measured during each run.

Run: ``.venv/bin/python benchmarks/profile_fit.py [--quick] [--workloads lenet5 unet]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
from profile_knobs import knobs, probe, snippets, thread_settings, values
from profile_setup import DEFAULT, PREVIOUS, QUIET, Setup, clean, previous_defaults
from report import RESULTS

from cnnlab.train import SectionTimer

SECTIONS = ("components", "ops", "knobs", "snippets", "values", "threads")
REST = "everything else (fit setup, epoch end, summary)"


def components(setup: Setup) -> dict:
    """:func:`components_of` under the defaults and under the previous ones."""
    return {
        DEFAULT: components_of(setup, DEFAULT, {}),
        PREVIOUS: components_of(setup, PREVIOUS, previous_defaults()),
    }


def components_of(setup: Setup, label: str, options: dict) -> dict:
    """One epoch timed by the Trainer's sections (they do not nest); the time outside them is
    the last row."""
    setup.fit(samples=setup.batch * 4, **options)  # warm-up
    timer = SectionTimer()

    def attempt() -> tuple[float, dict, dict, int]:
        timer.reset()
        start = time.perf_counter()
        trainer = setup.trainer(verbose=1, profiler=timer, **options)
        trainer.fit((setup.images, setup.labels))
        total = time.perf_counter() - start
        return total, dict(timer.seconds), dict(timer.calls), trainer.global_step

    (total, seconds, calls, steps), others = clean(attempt)
    seconds[REST] = total - sum(seconds.values())
    table = [
        {
            "part": part,
            "calls": calls.get(part),  # None for the rest
            "seconds": value,
            "percent": 100 * value / total,
            "us_per_step": 1e6 * value / steps,
        }
        for part, value in sorted(seconds.items(), key=lambda kv: -kv[1])
    ]
    print(
        f"\n[{setup.name}] components of one fit epoch, {label}: {total:.2f} s, {steps} "
        f"steps (other jobs: {others:.2f} cores)"
    )
    for row in table:
        calls = f"{row['calls']:6d} calls" if row["calls"] is not None else ""
        line = (
            f"  {row['part']:<50} {row['seconds']:8.3f} s {row['percent']:5.1f}% "
            f"{row['us_per_step']:10.0f} us/step {calls}"
        )
        print(line.rstrip())
    return {
        "total_seconds": total,
        "steps": steps,
        "images": len(setup.images),
        "other_cpu_cores": others,
        "parts": table,
    }


def ops(setup: Setup, steps: int) -> dict[str, list[dict]]:
    """The top operators under the defaults and under the previous ones (float32, NCHW,
    PyTorch's multi-tensor Adam)."""
    out = {}
    for label, options in ((DEFAULT, {}), (PREVIOUS, previous_defaults())):
        setup.fit(samples=setup.batch * 4, **options)
        trainer = setup.trainer(verbose=1, **options)
        n = setup.batch * steps
        QUIET.settle()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            trainer.fit((setup.images[:n], setup.labels[:n]))
        averages = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in averages)
        rows = sorted(averages, key=lambda e: -e.self_cpu_time_total)[:20]
        table = [
            {
                "op": e.key,
                "calls": e.count,
                "self_ms": e.self_cpu_time_total / 1e3,
                "percent": 100 * e.self_cpu_time_total / total,
            }
            for e in rows
        ]
        print(f"\n[{setup.name}] top operators by self CPU time over {steps} steps, {label}")
        for row in table:
            print(
                f"  {row['op']:<48} {row['calls']:7d} {row['self_ms']:10.1f} ms "
                f"{row['percent']:5.1f}%"
            )
        out[label] = table
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data: check the script")
    parser.add_argument("--workloads", nargs="+", default=["lenet5", "unet"])
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["components", "ops", "knobs", "snippets"],
        choices=SECTIONS,
        metavar="SECTION",
        help=f"of {', '.join(SECTIONS)} (default: the first four)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unet-width", type=int, default=64)
    parser.add_argument("--unet-crops", type=int, default=8)
    parser.add_argument("--compile", action="store_true", help="also try torch.compile")
    return parser.parse_args()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":  # a child of the threads section
        _, _, name, loop, n_threads, *rest = sys.argv
        options = argparse.ArgumentParser()
        options.add_argument("--unet-width", type=int, default=64)
        options.add_argument("--unet-crops", type=int, default=8)
        options.add_argument("--quick", action="store_true")
        extra = options.parse_args(rest)
        probe(name, loop, int(n_threads), extra.quick, extra.unet_width, extra.unet_crops)
        return
    args = parse_args()
    report: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_start": list(os.getloadavg()),
    }
    for name in args.workloads:
        setup = Setup(name, args.quick, args.unet_width, args.unet_crops)
        entry: dict = {"data": setup.source, "model_kwargs": setup.kwargs, "batch": setup.batch}
        print(f"\n== {name}: {setup.source}")
        if "components" in args.sections:
            entry["components"] = components(setup)
        if "ops" in args.sections:
            entry["ops"] = ops(setup, 30 if name == "lenet5" else 2)
        if "snippets" in args.sections:
            entry["snippets"] = snippets(setup, 200 if name == "lenet5" else 5)
        if "knobs" in args.sections:
            entry["knobs"] = knobs(setup, args.repeats, args.compile)
        if "values" in args.sections:
            entry["values"] = values(setup, args.repeats)
        if "threads" in args.sections:
            entry["threads"] = thread_settings(
                name, args.repeats, args.quick, args.unet_width, args.unet_crops
            )
        report[name] = entry
    report["load_end"] = list(os.getloadavg())
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "profile_fit_quick" if args.quick else "profile_fit"
    path = RESULTS / f"{stem}.json"
    existing = json.loads(path.read_text()) if path.exists() else {}
    for key, value in report.items():  # sections of a workload are merged, not replaced
        if isinstance(value, dict) and isinstance(existing.get(key), dict):
            existing[key].update(value)
        else:
            existing[key] = value
    path.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"\nWritten: {path}")


if __name__ == "__main__":
    main()
