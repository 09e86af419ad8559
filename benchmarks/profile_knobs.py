"""The ``knobs``, ``snippets``, ``values`` and ``threads`` sections of ``profile_fit.py`` (its
docstring describes them; run them through it: ``--sections knobs snippets values threads``).

The knobs are the Trainer's public settings. The what-ifs are marked "what-if" in their
names: PyTorch's multi-tensor Adam (a callback switches it on, ``profile_setup.ForeachAdam``),
metrics reduced to the loss and contiguous slices instead of ``index_select`` (both patched
over public cnnlab methods for the variant's run only), ``torch.compile`` and thread counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import torch
from bench_common import cpu_seconds
from profile_setup import (
    DEFAULT,
    FP32,
    NCHW,
    PREVIOUS,
    QUIET,
    ForeachAdam,
    Run,
    Setup,
    clean,
    interleaved,
    previous_defaults,
)
from report import rate
from timing import measured
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnnlab.data.loader import InMemoryLoader
from cnnlab.train import MetricState

PROFILE_FIT = Path(__file__).resolve().parent / "profile_fit.py"


def loss_only_update(self, loss, logits, target) -> None:
    """What-if ``MetricState.update``: the loss sum and count only, no confusion matrix."""
    n = target.shape[0]
    self.loss_sum += loss.detach().to(torch.float64) * n
    self.count += n


def sliced_iter(self) -> Iterator:
    """What-if ``InMemoryLoader.__iter__``: one gather per epoch, then contiguous views (the
    same batches as ``index_select``). For fresh fits, which start at the epoch's first batch."""
    order = self.order(self.epoch)
    self.epoch += 1
    shuffled = tuple(t.index_select(0, order) for t in self.tensors)
    for b in range(len(self)):
        yield tuple(t[b * self.batch_size : (b + 1) * self.batch_size] for t in shuffled)


@contextlib.contextmanager
def threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    def fit(*patches, **settings) -> Run:
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

    no_metrics = mock.patch.object(MetricState, "update", loss_only_update)
    sliced = mock.patch.object(InMemoryLoader, "__iter__", sliced_iter)
    variants = {
        DEFAULT: fit(verbose=1),
        "precision=fp32": fit(verbose=1, **FP32),
        "channels_last=False": fit(verbose=1, **NCHW),
        "precision=fp32, channels_last=False": fit(verbose=1, **FP32, **NCHW),
        "what-if foreach Adam": fit(verbose=1, callbacks=[ForeachAdam()]),
        PREVIOUS: fit(verbose=1, **previous_defaults()),
        "verbose=0": fit(verbose=0),
        "sync_every=100000": fit(verbose=1, sync_every=100_000),
        "top_k=0": fit(verbose=1, top_k=0),
        "what-if metrics = loss only": fit(no_metrics, verbose=1),
        "what-if slices instead of index_select": fit(sliced, verbose=1),
        "torch.set_num_threads(1)": with_threads(1, fit(verbose=1)),
        "textbook loop": setup.textbook,
        "textbook loop, set_num_threads(1)": with_threads(1, setup.textbook),
        "textbook loop, fused Adam": lambda samples=None: setup.textbook(samples, fused=True),
    }
    if setup.name == "unet":
        variants = {name: variants[name] for name in UNET_VARIANTS}
    if with_compile:
        compiled = torch.compile(setup.model)
        compiled.input_size = setup.model.input_size
        variants["what-if torch.compile(model)"] = lambda n=None: setup.fit(n, compiled, verbose=1)
        variants["what-if torch.compile(model), fp32"] = lambda n=None: setup.fit(
            n, compiled, verbose=1, **FP32
        )
    return variants


def knobs(setup: Setup, repeats: int, with_compile: bool) -> dict:
    variants = knob_variants(setup, with_compile)
    print(f"\n[{setup.name}] knobs: img/s of whole fit epochs, median of {repeats}")
    warm = {}
    warm_samples = setup.batch * (2 if setup.name == "unet" else 20)
    for name, run in variants.items():
        start = time.perf_counter()
        run(warm_samples)  # warm-up (and compilation)
        warm[name] = time.perf_counter() - start
    entries = interleaved(variants, repeats, rotate=True)
    base = entries[DEFAULT]["median_images_per_s"]
    out = {}
    for name, entry in entries.items():
        median = entry["median_images_per_s"]
        out[name] = {**entry, "vs_default": median / base, "warmup_seconds": warm[name]}
        runs = ", ".join(rate(r) for r in entry["runs"])
        busy = max(entry["other_cpu_cores"])
        print(
            f"  {name:<46} {median:10,.1f} img/s  x{median / base:5.2f}  ({runs}; "
            f"others <= {busy:.2f} cores)"
        )
    return out


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
    task = "segmentation" if y.ndim == 3 else "classification"
    state = MetricState(logits.shape[1], task)
    out["MetricState.update (confusion matrix, top-k)"] = per_call_us(
        lambda: state.update(torch.tensor(0.5), logits, y), repeat
    )
    light = MetricState(logits.shape[1], task, 0)
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
    out["forward of one batch (reference)"] = per_call_us(lambda: model(x), max(3, repeat // 10))
    print(f"\n[{setup.name}] per-call costs (batch {setup.batch})")
    for k, v in out.items():
        print(f"  {k:<48} {v:12.1f} us")
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
    out = interleaved(variants, repeats, rotate=False)
    setup.images, setup.inputs = real
    for name, entry in out.items():
        busy = max(entry["other_cpu_cores"])
        print(f"  {name:<56} {entry['median_images_per_s']:10,.1f} img/s (others <= {busy:.2f})")
    return out


THREAD_SETTINGS = (
    ("default (2 threads, OMP_WAIT_POLICY unset)", {}, 2),
    ("OMP_WAIT_POLICY=PASSIVE, 2 threads", {"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    ("set_num_threads(1)", {}, 1),
)


def probe(
    name: str, loop: str, n_threads: int, quick: bool, unet_width: int, unet_crops: int
) -> None:
    """Child process (``profile_fit.py --probe``): a warm-up and one timed epoch, img/s and
    other jobs' cores as JSON on stdout."""
    torch.set_num_threads(n_threads)
    setup = Setup(name, quick, unet_width, unet_crops)
    run = (lambda n=None: setup.fit(n, verbose=0)) if loop == "cnnlab" else setup.textbook
    run(setup.batch * 2)
    speed, _, others = measured(run, cpu_seconds)
    print(json.dumps({"images_per_s": speed, "other_cpu_cores": others}))


def thread_settings(name: str, repeats: int, quick: bool, unet_width: int, unet_crops: int) -> dict:
    print(f"\n[{name}] OpenMP wait policy and threads (fresh process per run, median of {repeats})")
    out: dict = {}
    for round_ in range(repeats):
        for label, env, n in THREAD_SETTINGS:
            for loop in ("cnnlab", "textbook"):
                argv = [sys.executable, str(PROFILE_FIT), "--probe", name, loop, str(n)]
                argv += ["--unet-width", str(unet_width), "--unet-crops", str(unet_crops)]
                argv += ["--quick"] if quick else []
                environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
                QUIET.settle()
                done = subprocess.run(
                    argv, env={**environment, **env}, capture_output=True, text=True, check=True
                )
                reply = json.loads(done.stdout.strip().splitlines()[-1])
                speed, used = reply["images_per_s"], reply["other_cpu_cores"]
                entry = out.setdefault(f"{loop}: {label}", {"runs": [], "other_cpu_cores": []})
                entry["runs"].append(speed)
                entry["other_cpu_cores"].append(used)
                print(
                    f"  round {round_ + 1} {loop:<8} {label:<44} {speed:10,.1f} img/s "
                    f"(others {used:.2f} cores)",
                    flush=True,
                )
    for key, entry in out.items():
        entry["median_images_per_s"] = statistics.median(entry["runs"])
        print(f"  {key:<56} median {entry['median_images_per_s']:10,.1f} img/s")
    return out
