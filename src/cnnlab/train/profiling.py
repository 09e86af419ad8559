"""Where a fit's time goes: the trainer wraps each part of its work in
``profiler.section(NAME)``, as Lightning's trainer calls ``profiler.profile(action)``.

The default :class:`Profiler` does nothing; :class:`SectionTimer` adds up wall time per
section. Sections, in the order a step meets them: ``prepare`` (stored samples to model
inputs, once per fit), ``batch`` (the next batch from the loader), ``augment``, ``forward``,
``loss``, ``backward`` (with ``zero_grad``), ``optimizer`` (clipping, step, schedule),
``metrics`` (the running counts), ``callbacks`` (batch-end hooks and loss reads) and
``validation`` (the evaluation after each epoch).

>>> timer = SectionTimer()  # doctest: +SKIP
>>> Trainer(model, profiler=timer).fit(train)  # doctest: +SKIP
>>> print(timer.table())  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch

SECTIONS = (
    "prepare",
    "batch",
    "augment",
    "forward",
    "loss",
    "backward",
    "optimizer",
    "metrics",
    "callbacks",
    "validation",
)


class Profiler:
    """The no-op profiler: every section is an empty context."""

    def section(self, name: str) -> AbstractContextManager[None]:
        return nullcontext()


class SectionTimer(Profiler):
    """Wall seconds and calls per section.

    On CUDA, kernels run asynchronously: with ``synchronize`` (the default) each section
    waits for the device at its end, so its time is the device's work, not the launch's.
    """

    def __init__(self, synchronize: bool = True) -> None:
        self.synchronize = synchronize and torch.cuda.is_available()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.synchronize:
                torch.cuda.synchronize()
            self.seconds[name] += time.perf_counter() - started
            self.calls[name] += 1

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def table(self) -> str:
        """One line per section, slowest first: seconds, share of the timed total, calls."""
        total = sum(self.seconds.values()) or 1.0
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return "\n".join(
            f"{name:<11}{seconds:9.3f} s{100 * seconds / total:6.1f}%{self.calls[name]:>8} calls"
            for name, seconds in rows
        )
