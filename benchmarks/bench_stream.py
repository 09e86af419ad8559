"""Data bigger than memory: cache build speed, and streamed training against in-memory training.

1. A generated image folder (``make_image_folder.py``: ``--count`` RGB JPEGs of 96 x 96; a
   million of them are 27.6 GB decoded, more than this machine's memory) is decoded into a
   disk cache (``cnnlab.data.build_cache``): images/s and the build's peak memory.
2. ResNet-20 trains ``--steps`` timed steps (after ``--warmup`` untimed ones) streamed from the
   whole cache, and the same steps in memory on the cache's first ``--subset`` samples (a
   subset that fits); each in a fresh process, whose process tree's memory is sampled every
   2 s: the proportional set size (PSS) of the trainer and its reader processes, summed, is
   "peak PSS" (shared pages counted once); "anonymous" is the part that is not file pages,
   which the kernel can drop and re-read at will; "largest RSS" is the highest peak resident
   set (``VmHWM``) of any one process of the tree. The cache's pages are dropped from the
   page cache before each run, so streaming starts cold.
3. The same two with 2 ``torchrun`` processes (one thread each, gloo).

Steps 2 and 3 are repeated ``--rounds`` times, interleaved; the report gives median
throughputs and the median of the per-round ratios. Nothing maps the cache file (the
subset is read with ``DiskCache.read``), so the whole benchmark can run under an
address-space cap smaller than the file (``ulimit -v``), which the report names.

Throughput is samples of the global batch per second of wall time over the timed steps.
Results: ``benchmarks/results/bench_stream.json`` and ``.md``.

Run: ``.venv/bin/python benchmarks/bench_stream.py --work /big/disk/stream-bench`` (the folder
and the cache go there; about 1.6 + 27.6 GB for a million images). ``--count 20000`` makes a
small run that checks the whole path in a few minutes; ``--rebuild`` deletes the cache and
times a fresh build.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from make_image_folder import make_folder
from report import RESULTS

HERE = Path(__file__).resolve()
MEMORY_KEYS = ("peak_pss_mib", "peak_anon_mib", "peak_rss_mib")
# reading smaps_rollup walks a process's page tables under its mmap lock (about 14 ms per
# 2.2 GB of 4 KiB pages): sampled every 0.2 s, it took up to a quarter of a core from the
# in-memory runs, less from the streamed ones; memory plateaus within seconds of a start
SAMPLE_SECONDS = 2.0


class StepsDone(Exception):
    """Raised by the step clock to end a fit after the timed steps."""


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def kib_field(path: str, name: str) -> int:
    """Field ``name`` (a "<n> kB" line) of a /proc file, in bytes; 0 when it is gone."""
    try:
        with open(path) as file:
            fields = dict(line.split(":", 1) for line in file if ":" in line)
    except OSError:
        return 0
    return int(fields.get(name, "0 kB").split()[0]) * 1024


def tree_memory(root: int) -> tuple[int, int, int]:
    """The process tree under ``root``: its proportional set size (all, anonymous) and the
    largest peak RSS of one of its processes, in bytes.

    PSS divides each shared page among the processes that map it, so forked reader processes
    do not count the trainer's libraries and copy-on-write pages again (summed RSS would)."""
    total = anonymous = largest = 0
    for pid in process_tree(root):
        total += kib_field(f"/proc/{pid}/smaps_rollup", "Pss")
        anonymous += kib_field(f"/proc/{pid}/smaps_rollup", "Pss_Anon")
        largest = max(largest, kib_field(f"/proc/{pid}/status", "VmHWM"))
    return total, anonymous, largest


def evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache (``POSIX_FADV_DONTNEED``, no privileges
    needed), so a streamed run reads from disk and not what an earlier run left in memory."""
    with open(path, "rb") as file:
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def run_measured(command: list[str], env: dict | None = None) -> dict:
    """Run ``command``; its JSON output (last line) with the tree's peak memory added."""
    peaks = [0, 0, 0]
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(command, stdout=out, env={**os.environ, **(env or {})})

        def sample() -> None:
            while child.poll() is None:
                peaks[:] = map(max, peaks, tree_memory(child.pid))
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        sampler.join()
        out.seek(0)
        lines = [line for line in out.read().splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}")
    result = json.loads(lines[-1])
    return result | {key: peak / 2**20 for key, peak in zip(MEMORY_KEYS, peaks, strict=True)}


# --- the measured children ---------------------------------------------------------------


def child_build(spec: dict) -> dict:
    from cnnlab.data import build_cache

    start = time.perf_counter()
    cache = build_cache(spec["folder"], spec["cache"], size=spec["size"], workers=spec["workers"])
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "images_per_s": len(cache.labels) / seconds,
        "count": len(cache.labels),
    }


def child_train(spec: dict) -> dict:
    import numpy as np
    import torch

    from cnnlab.data import open_cache
    from cnnlab.models import create_model
    from cnnlab.train import Callback, TrainConfig, Trainer

    class StepClock(Callback):
        def __init__(self) -> None:
            self.started = 0.0
            self.seconds = 0.0

        def on_train_batch_end(self, trainer, batch: int) -> None:
            if trainer.global_step == spec["warmup"]:
                self.started = time.perf_counter()
            if trainer.global_step == spec["warmup"] + spec["steps"]:
                self.seconds = time.perf_counter() - self.started
                raise StepsDone

    cache = open_cache(spec["cache"])
    torch.manual_seed(0)
    model = create_model("resnet20", image_size=spec["size"])
    config = TrainConfig(epochs=1, batch_size=spec["batch"])
    clock = StepClock()
    trainer = Trainer(model, config, verbose=0, callbacks=[clock])
    try:
        if spec["mode"] == "stream":
            trainer.fit(cache)
        else:
            subset = spec["subset"]
            trainer.fit(cache.read(np.arange(subset)), cache.labels[:subset])
    except StepsDone:
        pass
    samples = spec["steps"] * spec["batch"]
    return {
        "mode": spec["mode"],
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "threads": torch.get_num_threads(),
        "samples_per_s": samples / clock.seconds,
        "seconds": clock.seconds,
        "rank": int(os.environ.get("RANK", "0")),
    }


# --- the benchmark -----------------------------------------------------------------------


def child_command(phase: str, spec: dict, processes: int = 1) -> list[str]:
    script = [str(HERE), "--phase", phase, "--spec", json.dumps(spec)]
    if processes == 1:
        return [sys.executable, *script]
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return [*run, f"--nproc-per-node={processes}", *script]


def address_space_cap() -> str:
    """The ``ulimit -v`` the benchmark runs under, as text."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return "none" if soft == resource.RLIM_INFINITY else f"{soft / 2**30:.1f} GiB"


def bench(args: argparse.Namespace) -> dict:
    work = args.work.expanduser()
    folder, cache = work / f"folder-{args.count}", work / f"cache-{args.count}"
    print(f"image folder: {args.count:,} images of {args.size}x{args.size} in {folder}")
    made = make_folder(folder, args.count, args.size)
    build = {"kept": True}
    if args.rebuild:
        shutil.rmtree(cache, ignore_errors=True)
    if not (cache / "manifest.json").exists():
        spec = {"folder": str(folder), "cache": str(cache), "size": args.size, "workers": 2}
        build = run_measured(child_command("build", spec))
        speed, peak = build["images_per_s"], build["peak_pss_mib"]
        print(f"cache build: {speed:,.0f} images/s, peak PSS {peak:,.0f} MiB")
    result = {"count": args.count, "size": args.size, "folder": made, "build": build}
    result |= {"address_space_cap": address_space_cap(), "rounds": args.rounds, "train": []}
    common = {"cache": str(cache), "size": args.size, "batch": args.batch, "steps": args.steps}
    common |= {"warmup": args.warmup, "subset": args.subset}
    for round_ in range(args.rounds):
        for processes in (1, 2):
            for mode in ("stream", "memory"):
                evict(cache / "images.u8")
                measured = run_measured(child_command("train", common | {"mode": mode}, processes))
                print(
                    f"round {round_ + 1}, {processes} process(es), {mode:6s}: "
                    f"{measured['samples_per_s']:8.1f} samples/s, "
                    f"peak PSS {measured['peak_pss_mib']:,.0f} MiB "
                    f"(anonymous {measured['peak_anon_mib']:,.0f} MiB), "
                    f"largest process RSS {measured['peak_rss_mib']:,.0f} MiB"
                )
                result["train"].append(measured | {"round": round_})
    for processes in (1, 2):
        ratios = []
        for round_ in range(args.rounds):
            rows = {
                r["mode"]: r["samples_per_s"]
                for r in result["train"]
                if r["processes"] == processes and r["round"] == round_
            }
            ratios.append(rows["stream"] / rows["memory"])
        result[f"stream_over_memory_{processes}p"] = statistics.median(ratios)
        result[f"stream_over_memory_{processes}p_rounds"] = ratios
        shown = ", ".join(f"{r:.3f}" for r in ratios)
        print(f"{processes} process(es): streamed / in memory = median of ({shown})")
    return result


def build_line(build: dict) -> str:
    if build.get("kept"):
        return "cache kept from an earlier build (not timed in this run)."
    speed, peak = build["images_per_s"], build["peak_pss_mib"]
    return f"cache build: {speed:,.0f} images/s, peak PSS {peak:,.0f} MiB."


def summary_rows(result: dict) -> list[str]:
    """One row per (processes, mode): median samples/s over the rounds, highest memory."""
    rows = []
    for processes in (1, 2):
        for mode in ("stream", "memory"):
            runs = [r for r in result["train"] if (r["processes"], r["mode"]) == (processes, mode)]
            speed = statistics.median(r["samples_per_s"] for r in runs)
            peaks = [max(r[key] for r in runs) for key in MEMORY_KEYS]
            rows.append(
                f"| {processes} | {mode} | {speed:.1f} | "
                + " | ".join(f"{m:,.0f}" for m in peaks)
                + " |"
            )
    return rows


def write_report(result: dict, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Streaming benchmark: a disk cache bigger than memory vs in-memory training",
        "",
        f"{result['count']:,} images of 3 x {result['size']} x {result['size']}; "
        + build_line(result["build"]),
        f"Address-space cap (ulimit -v): {result['address_space_cap']}. "
        f"Medians of {result['rounds']} round(s); memory: the highest of the rounds.",
        "",
        "| processes | data | samples/s | peak PSS MiB | anonymous MiB | largest RSS MiB |",
        "|---:|---|---:|---:|---:|---:|",
        *summary_rows(result),
        "",
    ]
    for p in (1, 2):
        shown = ", ".join(f"{r:.3f}" for r in result[f"stream_over_memory_{p}p_rounds"])
        median = result[f"stream_over_memory_{p}p"]
        lines.append(f"Streamed / in memory, {p} process(es): {median:.3f} (rounds: {shown})")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=("build", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=Path("benchmarks/.stream-bench"))
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--subset", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="delete the cache and build it")
    args = parser.parse_args()
    if args.phase:
        spec = json.loads(args.spec)
        out = child_build(spec) if args.phase == "build" else child_train(spec)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps(out), flush=True)
        return
    result = bench(args)
    write_report(result, "bench_stream" if args.count >= 1_000_000 else "bench_stream_small")


if __name__ == "__main__":
    main()
