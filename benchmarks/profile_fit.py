"""Where the time of cnnlab's ``Trainer.fit`` goes, and what its knobs (or small what-ifs) buy.

Sections (``--sections``; numbers go to ``benchmarks/results/profile_fit[_quick].json`` and
are summarized by hand in ``benchmarks/PROFILE.md``):

- ``components``: one timed epoch with timers wrapped around the trainer's parts (batching,
  forward, loss, zero_grad, backward, optimizer step, metric update, progress bar and syncs,
  data preparation); CPU kernels run synchronously, so wall time attributes exactly.
- ``ops``: ``torch.profiler`` over a few dozen steps, the top operators by self CPU time.
- ``knobs``: whole epochs of ``fit`` (median of ``--repeats`` after a warm-up, variants
  interleaved) with the Trainer's settings (verbose, sync_every, top_k, channels_last), the
  number of threads, ``torch.compile``, and what-ifs patched in from the outside (fused or
  foreach Adam, metrics reduced to the loss, contiguous slices instead of ``index_select``),
  plus the textbook loop of ``torch_worker.py`` for reference. Nothing in ``src/`` is changed.
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
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from unittest import mock

import torch
from bench_common import cpu_seconds
from bench_train import RESULTS, Quiet, busy_seconds, digits_data, isbi_data
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import cnnlab.train.trainer as trainer_module
from cnnlab.data.loader import InMemoryLoader
from cnnlab.models import create_model
from cnnlab.train import MetricState, Trainer
from cnnlab.train.objective import Objective
from cnnlab.train.progress import EpochProgress

QUIET = Quiet(wait=90.0, budget=float("inf"))


def clean(run: Callable[[], object], attempts: int = 3) -> tuple[object, float]:
    """``run()`` when the machine is quiet: waits for other jobs' CPU use to drop, measures
    it during the run and retries a disturbed run; returns (value, other jobs' cores) of the
    least disturbed attempt."""
    best: tuple[object, float] | None = None
    for _ in range(attempts):
        QUIET.settle()
        busy, own, start = busy_seconds(), cpu_seconds(), time.perf_counter()
        value = run()
        others = (busy_seconds() - busy - (cpu_seconds() - own)) / (time.perf_counter() - start)
        others = max(0.0, others)
        if best is None or others < best[1]:
            best = (value, others)
        if others < 0.3:
            break
    return best


class Setup:
    """Model builder, data and batch size of one workload."""

    def __init__(self, name: str, quick: bool, unet_width: int, unet_crops: int) -> None:
        self.name = name
        if name == "lenet5":
            n = 6_000 if quick else 60_000
            images, labels, self.source = digits_data(n, None)
            self.kwargs, self.batch = {"image_size": 28}, 128
        else:
            width, n = (8, 8) if quick else (unet_width, unet_crops)
            images, labels, self.source = isbi_data(n, None)
            self.kwargs = {"padding": "same", "base_width": width, "image_size": 256}
            self.batch = 4
        self.images = torch.from_numpy(images)
        self.labels = torch.from_numpy(labels).long()
        self.inputs = self.images.float() / 255.0
        torch.manual_seed(0)
        self.model = create_model(name, **self.kwargs)
        self.initial = {k: v.clone() for k, v in self.model.state_dict().items()}

    def fresh(self) -> nn.Module:
        """The model with its initial weights, in the default memory format again (a
        ``channels_last=True`` Trainer converts the parameters in place)."""
        self.model.to(memory_format=torch.contiguous_format)
        self.model.load_state_dict(self.initial)
        return self.model

    def fit(self, samples: int | None = None, **settings) -> float:
        n = samples or len(self.images)
        trainer = Trainer(
            self.fresh(), epochs=1, batch_size=self.batch, optimizer="adam", lr=1e-3, **settings
        )
        data = (self.images[:n], self.labels[:n])
        start = time.perf_counter()
        trainer.fit(data)
        return n / (time.perf_counter() - start)

    def textbook(self, samples: int | None = None, fused: bool = False) -> float:
        n = samples or len(self.images)
        model = self.fresh()
        start = time.perf_counter()
        loader = DataLoader(
            TensorDataset(self.inputs[:n], self.labels[:n]), batch_size=self.batch, shuffle=True
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()
        return n / (time.perf_counter() - start)


# --- components -----------------------------------------------------------------------------


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, label: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        return timed


def components(setup: Setup) -> dict:
    """:func:`components_of` under the defaults and under the previous ones."""
    foreach = mock.patch.object(trainer_module, "build_optimizer", foreach_adam)
    out = {}
    for label, patch, options in (
        (DEFAULT, contextlib.nullcontext(), {}),
        (PREVIOUS, foreach, {**FP32, **NCHW}),
    ):
        with patch:
            out[label] = components_of(setup, label, options)
    return out


def components_of(setup: Setup, label: str, options: dict) -> dict:
    """One epoch with a timer around each part of the step (nested parts are subtracted)."""
    setup.fit(samples=setup.batch * 4, **options)  # warm-up
    timers = Timers()
    original_iter = InMemoryLoader.__iter__

    def timed_iter(self) -> Iterator:
        iterator = original_iter(self)
        while True:
            start = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            finally:
                timers.seconds["batching (index_select)"] += time.perf_counter() - start
            yield batch

    T = Trainer
    patches = [
        mock.patch.object(InMemoryLoader, "__iter__", timed_iter),
        mock.patch.object(T, "_prepare", timers.wrap("prepare (uint8 -> float)", T._prepare)),
        mock.patch.object(T, "_forward", timers.wrap("forward", T._forward)),
        mock.patch.object(Objective, "forward", timers.wrap("loss", Objective.forward)),
        mock.patch.object(torch.Tensor, "backward", timers.wrap("backward", torch.Tensor.backward)),
        mock.patch.object(
            torch.optim.Optimizer,
            "zero_grad",
            timers.wrap("zero_grad", torch.optim.Optimizer.zero_grad),
        ),
        mock.patch.object(
            torch.optim.Adam, "step", timers.wrap("optimizer step (Adam)", torch.optim.Adam.step)
        ),
        mock.patch.object(MetricState, "update", timers.wrap("metric update", MetricState.update)),
        mock.patch.object(
            EpochProgress, "update", timers.wrap("progress bar", EpochProgress.update)
        ),
        mock.patch.object(T, "_sync", timers.wrap("sync (loss read, callbacks)", T._sync)),
        mock.patch.object(T, "_train_step", timers.wrap("_train_step", T._train_step)),
    ]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)

        def attempt() -> tuple[float, dict, int]:
            timers.seconds.clear()
            start = time.perf_counter()
            trainer = Trainer(setup.fresh(), epochs=1, batch_size=setup.batch, verbose=1, **options)
            trainer.fit((setup.images, setup.labels))
            return time.perf_counter() - start, dict(timers.seconds), trainer.global_step

        (total, seconds, steps), others = clean(attempt)
    inside = ("forward", "loss", "zero_grad", "backward", "optimizer step (Adam)")
    step_rest = seconds.pop("_train_step") - sum(seconds.get(k, 0.0) for k in inside)
    seconds["metric update"] = seconds.get("metric update", 0.0)
    step_rest -= seconds["metric update"]
    seconds["rest of _train_step (float logits, scale, main_output, detach)"] = step_rest
    seconds["everything else (fit setup, epoch end, summary)"] = total - sum(seconds.values())
    rows = sorted(seconds.items(), key=lambda kv: -kv[1])
    table = [
        {
            "part": k,
            "seconds": v,
            "percent": 100 * v / total,
            "us_per_step": 1e6 * v / steps,
        }
        for k, v in rows
    ]
    print(
        f"\n[{setup.name}] components of one fit epoch, {label}: {total:.2f} s, {steps} "
        f"steps (other jobs: {others:.2f} cores)"
    )
    for row in table:
        print(
            f"  {row['part']:<58} {row['seconds']:8.3f} s {row['percent']:5.1f}% "
            f"{row['us_per_step']:10.0f} us/step"
        )
    return {
        "total_seconds": total,
        "steps": steps,
        "images": len(setup.images),
        "other_cpu_cores": others,
        "parts": table,
    }


DEFAULT = "default (auto: bf16 where native, channels_last, fused Adam)"
PREVIOUS = "previous defaults: fp32, NCHW, foreach Adam"
FP32 = {"precision": "fp32"}
NCHW = {"channels_last": False}


def foreach_adam(name, params, lr, weight_decay=0.0, momentum=0.9, fused=False):
    """What-if: PyTorch's default multi-tensor Adam instead of the fused one cnnlab picks."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


# --- ops --------------------------------------------------------------------------------------


def ops(setup: Setup, steps: int) -> dict[str, list[dict]]:
    """The top operators under the defaults and under the previous ones (float32, NCHW,
    PyTorch's multi-tensor Adam)."""
    foreach = mock.patch.object(trainer_module, "build_optimizer", foreach_adam)
    settings = {
        DEFAULT: (contextlib.nullcontext(), {}),
        PREVIOUS: (foreach, {**FP32, **NCHW}),
    }
    out = {}
    for label, (patch, options) in settings.items():
        with patch:
            setup.fit(samples=setup.batch * 4, **options)
            trainer = Trainer(setup.fresh(), epochs=1, batch_size=setup.batch, verbose=1, **options)
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


# --- knobs ------------------------------------------------------------------------------------


def loss_only_update(self, loss, logits, target) -> None:
    n = target.shape[0]
    self.loss_sum += loss.detach().to(torch.float64) * n
    self.count += n


def sliced_iter(self) -> Iterator:
    """One gather per epoch, then contiguous views (same batches as index_select)."""
    order = self.order(self.epoch)
    skip, self._skip = self._skip, 0
    self.epoch += 1
    shuffled = tuple(t.index_select(0, order) for t in self.tensors)
    for b in range(skip, len(self)):
        yield tuple(t[b * self.batch_size : (b + 1) * self.batch_size] for t in shuffled)


@contextlib.contextmanager
def threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


Run = Callable[[int | None], float]  # samples (None: all) -> images per second

# the variants that matter for a model whose steps are a few large convolutions
UNET_VARIANTS = (
    DEFAULT,
    "precision=fp32",
    "channels_last=False",
    "what-if foreach Adam",
    PREVIOUS,
    "textbook loop",
    "textbook loop, fused Adam",
)


def knob_variants(setup: Setup, with_compile: bool) -> dict[str, Run]:
    def patched(*patches, **settings) -> Run:
        def run(samples: int | None = None) -> float:
            with contextlib.ExitStack() as stack:
                for patch in patches:
                    stack.enter_context(patch)
                return setup.fit(samples, **settings)

        return run

    def with_threads(n: int, run: Run) -> Run:
        def wrapped(samples: int | None = None) -> float:
            with threads(n):
                return run(samples)

        return wrapped

    foreach = mock.patch.object(trainer_module, "build_optimizer", foreach_adam)
    no_metrics = mock.patch.object(MetricState, "update", loss_only_update)
    sliced = mock.patch.object(InMemoryLoader, "__iter__", sliced_iter)
    variants = {
        DEFAULT: patched(verbose=1),
        "precision=fp32": patched(verbose=1, **FP32),
        "channels_last=False": patched(verbose=1, **NCHW),
        "precision=fp32, channels_last=False": patched(verbose=1, **FP32, **NCHW),
        "what-if foreach Adam": patched(foreach, verbose=1),
        PREVIOUS: patched(foreach, verbose=1, **FP32, **NCHW),
        "verbose=0": patched(verbose=0),
        "sync_every=100000": patched(verbose=1, sync_every=100_000),
        "top_k=0": patched(verbose=1, top_k=0),
        "what-if metrics = loss only": patched(no_metrics, verbose=1),
        "what-if slices instead of index_select": patched(sliced, verbose=1),
        "torch.set_num_threads(1)": with_threads(1, patched(verbose=1)),
        "textbook loop": setup.textbook,
        "textbook loop, set_num_threads(1)": with_threads(1, setup.textbook),
        "textbook loop, fused Adam": lambda samples=None: setup.textbook(samples, fused=True),
    }
    if setup.name == "unet":
        variants = {name: variants[name] for name in UNET_VARIANTS}
    if with_compile:
        compiled = torch.compile(setup.model)
        compiled.input_size = setup.model.input_size

        def compiled_fit(samples: int | None = None, **settings) -> float:
            n = samples or len(setup.images)
            setup.fresh()
            trainer = Trainer(compiled, epochs=1, batch_size=setup.batch, verbose=1, **settings)
            start = time.perf_counter()
            trainer.fit((setup.images[:n], setup.labels[:n]))
            return n / (time.perf_counter() - start)

        variants["what-if torch.compile(model)"] = compiled_fit
        variants["what-if torch.compile(model), fp32"] = lambda n=None: compiled_fit(n, **FP32)
    return variants


def rate_entry(rates: list[float], other_cores: list[float]) -> dict:
    """The JSON record of one variant's timed runs."""
    return {
        "median_images_per_s": statistics.median(rates),
        "runs": rates,
        "other_cpu_cores": other_cores,
    }


def knobs(setup: Setup, repeats: int, with_compile: bool) -> dict:
    variants = knob_variants(setup, with_compile)
    print(f"\n[{setup.name}] knobs: img/s of whole fit epochs, median of {repeats}")
    warm = {}
    warm_samples = setup.batch * (2 if setup.name == "unet" else 20)
    for name, run in variants.items():
        start = time.perf_counter()
        run(warm_samples)  # warm-up (and compilation)
        warm[name] = time.perf_counter() - start
    rates: dict[str, list[float]] = {name: [] for name in variants}
    noise: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            rate, others = clean(variants[name])
            rates[name].append(rate)
            noise[name].append(others)
    base = statistics.median(rates[names[0]])
    out = {}
    for name in names:
        entry = rate_entry(rates[name], noise[name])
        median = entry["median_images_per_s"]
        out[name] = {**entry, "vs_default": median / base, "warmup_seconds": warm[name]}
        runs = ", ".join(f"{r:,.0f}" if r >= 100 else f"{r:.2f}" for r in rates[name])
        busy = max(noise[name])
        print(
            f"  {name:<46} {median:10,.1f} img/s  x{median / base:5.2f}  ({runs}; "
            f"others <= {busy:.2f} cores)"
        )
    return out


# --- snippets ---------------------------------------------------------------------------------


def per_call_us(function: Callable[[], object], repeat: int) -> float:
    function()

    def run() -> float:
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        return 1e6 * (time.perf_counter() - start) / repeat

    return min(clean(run)[0] for _ in range(3))


def snippets(setup: Setup, repeat: int) -> dict:
    model = setup.fresh()
    x = setup.inputs[: setup.batch]
    y = setup.labels[: setup.batch]
    nn.functional.cross_entropy(model(x), y).backward()
    out: dict[str, float] = {}
    for label, options in (
        ("Adam step, for-loop", {"foreach": False}),
        ("Adam step, foreach=True (PyTorch's default)", {"foreach": True}),
        ("Adam step, fused=True (cnnlab's choice)", {"fused": True}),
    ):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **options)
        out[label] = per_call_us(optimizer.step, repeat)
    logits = model(x).detach()
    state = MetricState(logits.shape[1], "segmentation" if y.ndim == 3 else "classification")
    out["MetricState.update (confusion matrix, top-k)"] = per_call_us(
        lambda: state.update(torch.tensor(0.5), logits, y), repeat
    )
    light = MetricState(logits.shape[1], "segmentation" if y.ndim == 3 else "classification", 0)
    out["MetricState.update, top_k=0"] = per_call_us(
        lambda: light.update(torch.tensor(0.5), logits, y), repeat
    )
    index = torch.randperm(len(setup.inputs))[: setup.batch]
    out["index_select of one batch (float inputs)"] = per_call_us(
        lambda: setup.inputs.index_select(0, index), repeat
    )
    out["contiguous slice of one batch (a view)"] = per_call_us(
        lambda: setup.inputs[: setup.batch], repeat
    )
    loader = DataLoader(TensorDataset(setup.inputs, setup.labels), batch_size=setup.batch)

    def forever() -> Iterator:
        while True:
            yield from loader

    iterator = forever()
    out["DataLoader(TensorDataset) next batch"] = per_call_us(lambda: next(iterator), 20)
    forward = per_call_us(lambda: model(x), max(3, repeat // 10))
    out["forward of one batch (reference)"] = forward
    print(f"\n[{setup.name}] per-call costs (batch {setup.batch})")
    for k, v in out.items():
        print(f"  {k:<48} {v:12.1f} us")
    return out


THREAD_SETTINGS = (
    ("default (2 threads, OMP_WAIT_POLICY unset)", {}, 2),
    ("OMP_WAIT_POLICY=PASSIVE, 2 threads", {"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    ("set_num_threads(1)", {}, 1),
)


def probe(
    name: str, loop: str, n_threads: int, quick: bool, unet_width: int, unet_crops: int
) -> None:
    """Child process: a warm-up and one timed epoch, img/s as JSON on stdout."""
    torch.set_num_threads(n_threads)
    setup = Setup(name, quick, unet_width, unet_crops)
    run = (lambda n=None: setup.fit(n, verbose=0)) if loop == "cnnlab" else setup.textbook
    run(setup.batch * 2)
    busy, own, start = busy_seconds(), cpu_seconds(), time.perf_counter()
    rate = run()
    wall = time.perf_counter() - start
    others = (busy_seconds() - busy - (cpu_seconds() - own)) / wall
    print(json.dumps({"images_per_s": rate, "other_cpu_cores": max(0.0, others)}))


def thread_settings(name: str, repeats: int, quick: bool, unet_width: int, unet_crops: int) -> dict:
    print(f"\n[{name}] OpenMP wait policy and threads (fresh process per run, median of {repeats})")
    out: dict = {}
    for round_ in range(repeats):
        for label, env, n in THREAD_SETTINGS:
            for loop in ("cnnlab", "textbook"):
                argv = [sys.executable, __file__, "--probe", name, loop, str(n)]
                argv += ["--unet-width", str(unet_width), "--unet-crops", str(unet_crops)]
                argv += ["--quick"] if quick else []
                environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
                QUIET.settle()
                done = subprocess.run(
                    argv, env={**environment, **env}, capture_output=True, text=True, check=True
                )
                reply = json.loads(done.stdout.strip().splitlines()[-1])
                rate, used = reply["images_per_s"], reply["other_cpu_cores"]
                entry = out.setdefault(f"{loop}: {label}", {"runs": [], "other_cpu_cores": []})
                entry["runs"].append(rate)
                entry["other_cpu_cores"].append(used)
                print(
                    f"  round {round_ + 1} {loop:<8} {label:<44} {rate:10,.1f} img/s "
                    f"(others {used:.2f} cores)",
                    flush=True,
                )
    for key, entry in out.items():
        entry["median_images_per_s"] = statistics.median(entry["runs"])
        print(f"  {key:<56} median {entry['median_images_per_s']:10,.1f} img/s")
    return out


def values(setup: Setup, repeats: int) -> dict:
    """Real vs random images (same shapes and labels), flush-to-zero off vs on."""
    real = (setup.images, setup.inputs)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, setup.images.shape, dtype=torch.uint8, generator=generator)
    random = (noise, noise.float() / 255.0)
    variants = {}
    for data_name, (images, inputs) in (("real images", real), ("random images", random)):
        for flush in (False, True):

            def run(images=images, inputs=inputs, flush=flush, loop="cnnlab") -> float:
                setup.images, setup.inputs = images, inputs
                torch.set_flush_denormal(flush)
                try:
                    return setup.fit(verbose=1) if loop == "cnnlab" else setup.textbook()
                finally:
                    torch.set_flush_denormal(False)  # PyTorch's default

            label = f"{data_name}, flush_denormal={flush}"
            variants[f"cnnlab fit, {label}"] = run
            variants[f"textbook loop, {label}"] = lambda r=run: r(loop="textbook")
    print(f"\n[{setup.name}] real vs random pixel values, median of {repeats}")
    rates: dict[str, list[float]] = {name: [] for name in variants}
    noise_cores: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            rate, others = clean(run)
            rates[name].append(rate)
            noise_cores[name].append(others)
    setup.images, setup.inputs = real
    out = {name: rate_entry(rates[name], noise_cores[name]) for name in variants}
    for name, entry in out.items():
        busy = max(entry["other_cpu_cores"])
        print(f"  {name:<56} {entry['median_images_per_s']:10,.1f} img/s (others <= {busy:.2f})")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        _, _, name, loop, n_threads, *rest = sys.argv
        options = argparse.ArgumentParser()
        options.add_argument("--unet-width", type=int, default=64)
        options.add_argument("--unet-crops", type=int, default=8)
        options.add_argument("--quick", action="store_true")
        extra = options.parse_args(rest)
        probe(name, loop, int(n_threads), extra.quick, extra.unet_width, extra.unet_crops)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workloads", nargs="+", default=["lenet5", "unet"])
    parser.add_argument("--sections", nargs="+", default=["components", "ops", "knobs", "snippets"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unet-width", type=int, default=64)
    parser.add_argument("--unet-crops", type=int, default=8)
    parser.add_argument("--compile", action="store_true", help="also try torch.compile")
    args = parser.parse_args()
    report: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_start": list(__import__("os").getloadavg()),
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
    report["load_end"] = list(__import__("os").getloadavg())
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
