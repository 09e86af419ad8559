"""What the sections of ``profile_fit.py`` share: a workload's model, data and batch size
(:class:`Setup`), runs on a quiet machine, the settings compared, and the optimizer what-if.

Settings go through the Trainer's public arguments only (``TrainConfig`` fields such as
``precision``, ``channels_last`` and ``top_k``; ``verbose``, ``sync_every``, ``profiler``);
the one what-if of this module, PyTorch's multi-tensor Adam, is switched on by a callback when
the fit starts (:class:`ForeachAdam`). Nothing in ``src/`` is patched here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from bench_common import cpu_seconds
from timing import Quiet, rotated
from torch import nn
from torch_worker import textbook_epoch
from workloads import digits_data, isbi_data

from cnnlab.models import create_model
from cnnlab.train import Callback, Trainer

QUIET = Quiet(wait=90.0, budget=float("inf"))

DEFAULT = "default (auto: bf16 where native, channels_last, fused Adam)"
PREVIOUS = "previous defaults: fp32, NCHW, foreach Adam"
FP32 = {"precision": "fp32"}
NCHW = {"channels_last": False}

Run = Callable[..., float]  # run(samples=None: all) -> images per second


def clean(run: Callable[[], object], attempts: int = 3) -> tuple[object, float]:
    """``run()`` when the machine is quiet: waits for other jobs' CPU use to drop, measures
    it during the run and retries a disturbed run; returns (value, other jobs' cores) of the
    least disturbed attempt."""
    return QUIET.run(run, cpu_seconds, attempts)


class ForeachAdam(Callback):
    """What-if: PyTorch's default multi-tensor Adam instead of the fused one cnnlab picks. At
    fit start the optimizer exists and has taken no step (no state yet), so switching its
    param groups' ``fused`` / ``foreach`` flags, which ``torch.optim.Adam`` reads at every
    step, makes it exactly ``Adam(..., foreach=True)``."""

    def on_fit_start(self, trainer: Trainer) -> None:
        optimizer = trainer.optimizer
        if not isinstance(optimizer, torch.optim.Adam) or optimizer.state:
            raise ValueError("the foreach-Adam what-if needs a fresh Adam optimizer")
        for group in optimizer.param_groups:
            group["fused"], group["foreach"] = False, True


def previous_defaults() -> dict:
    """Trainer settings of the previous defaults: float32, NCHW, multi-tensor Adam."""
    return {**FP32, **NCHW, "callbacks": [ForeachAdam()]}


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

    def trainer(self, model: nn.Module | None = None, **settings) -> Trainer:
        """A one-epoch Adam (lr 1e-3) Trainer of the fresh model (or of ``model``, a wrapper
        of it), with Trainer arguments and ``TrainConfig`` fields in ``settings``."""
        fresh = self.fresh()
        return Trainer(
            fresh if model is None else model,
            epochs=1,
            batch_size=self.batch,
            optimizer="adam",
            lr=1e-3,
            **settings,
        )

    def fit(self, samples: int | None = None, model: nn.Module | None = None, **settings) -> float:
        """Images per second of one ``fit`` epoch over the first ``samples`` (default all)."""
        n = samples or len(self.images)
        trainer = self.trainer(model, **settings)
        data = (self.images[:n], self.labels[:n])
        start = time.perf_counter()
        trainer.fit(data)
        return n / (time.perf_counter() - start)

    def textbook(self, samples: int | None = None, fused: bool = False) -> float:
        """Images per second of one epoch of ``torch_worker.py``'s textbook loop."""
        n = samples or len(self.images)
        model = self.fresh()
        start = time.perf_counter()
        textbook_epoch(model, self.inputs[:n], self.labels[:n], self.batch, 1e-3, fused)
        return n / (time.perf_counter() - start)


def rate_entry(rates: list[float], other_cores: list[float]) -> dict:
    """The JSON record of one variant's timed runs."""
    return {
        "median_images_per_s": statistics.median(rates),
        "runs": rates,
        "other_cpu_cores": other_cores,
    }


def interleaved(variants: dict[str, Run], repeats: int, rotate: bool) -> dict[str, dict]:
    """Every variant once per round, on a quiet machine, in an order rotated from round to
    round when ``rotate``: :func:`rate_entry` per variant."""
    names = list(variants)
    rates: dict[str, list[float]] = {name: [] for name in names}
    noise: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in rotated(names, round_) if rotate else names:
            rate, others = clean(variants[name])
            rates[name].append(rate)
            noise[name].append(others)
    return {name: rate_entry(rates[name], noise[name]) for name in names}
