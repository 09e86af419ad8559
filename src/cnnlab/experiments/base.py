"""What every experiment shares: where it writes, how it trains, how it reports.

An experiment writes one folder (``NAME`` for the full variant, ``NAME-quick`` for ``--quick``)::

    report.md, report.html   the report (the HTML embeds its figures)
    results.json             measured values beside the literature, expected outcomes, time
    figures/*.png            the experiment's own figures
    runs/<variant>/          one cnnlab run directory per trained model

Training always goes through :class:`~cnnlab.train.Trainer` (with a
:class:`~cnnlab.runs.RunRecorder`) or :func:`~cnnlab.runs.run_job`; an experiment adds only
configuration and analysis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from cnnlab.data import Dataset, load
from cnnlab.display import block, esc, figure, heading, table
from cnnlab.files import write_json, write_text
from cnnlab.runs import RunRecorder, TrainJob, run_job
from cnnlab.runs.document import Document
from cnnlab.runs.layout import ExperimentLayout, RunLayout
from cnnlab.train import History, Trainer

EXPERIMENT_PRECISION = "fp32"  # see Context.trainer
RESULTS_HEADER = ("quantity", "this run", "literature")
CHECKS_HEADER = ("expected", "measured", "reproduced")
T = TypeVar("T")


@dataclass
class Context:
    """Where and how one experiment runs.

    Args:
        name: the experiment's registry name.
        folder: the experiment folder (created).
        quick: the CI-sized variant.
        data_dir: the data directory (None: ``$CNNLAB_DATA_DIR``, else the cache).
        download: fetch missing data files.
        verbose: the trainer's verbosity (0 silent, 2 one line per epoch).
    """

    name: str
    folder: Path
    quick: bool
    data_dir: Path | None = None
    download: bool = True
    verbose: int = 2

    def pick(self, quick: T, full: T) -> T:
        """``quick`` in the quick variant, else ``full``."""
        return quick if self.quick else full

    @property
    def layout(self) -> ExperimentLayout:
        return ExperimentLayout(self.folder)

    def run_dir(self, variant: str) -> Path:
        return self.layout.run(variant).root

    def figure(self, name: str) -> Path:
        return self.layout.figure(name)

    def load(self, dataset: str, split: str, **options) -> Dataset:
        """A split of a registered dataset from this context's data directory."""
        return load(dataset, split, self.data_dir, self.download, **options)

    def run_job(self, job: TrainJob, variant: str) -> tuple[RunLayout, History]:
        """Train ``job`` into ``runs/<variant>`` (see :func:`~cnnlab.runs.run_job`), in
        float32 (see :meth:`trainer`)."""
        job.train = replace(job.train, precision=EXPERIMENT_PRECISION)
        run_dir, history = run_job(
            job,
            None,
            self.data_dir,
            self.download,
            run_dir=self.run_dir(variant),
            verbose=self.verbose,
        )
        return RunLayout(run_dir), history

    def trainer(self, model: nn.Module, variant: str, **settings) -> Trainer:
        """A :class:`~cnnlab.train.Trainer` writing ``runs/<variant>`` (its recorder is
        ``trainer.callbacks.find(RunRecorder)``).

        Experiments train in float32 on every machine: they compare variants that differ in
        ONE factor, some at the edge of stability (mnist-cnn at lr 0.5 without batch norm
        learns or not depending on rounding), and bfloat16 autocast, cnnlab's default on
        CPUs with native bf16, would add a second difference that varies by CPU.
        """
        settings.setdefault("verbose", self.verbose)
        settings.setdefault("precision", EXPERIMENT_PRECISION)
        info = {"experiment": self.name, "variant": variant, "quick": self.quick}
        recorder = RunRecorder(self.run_dir(variant), run_info=info)
        callbacks = [*settings.pop("callbacks", []), recorder]
        return Trainer(model, callbacks=callbacks, **settings)


@dataclass
class Result:
    """One measured quantity, with the literature value where one exists."""

    quantity: str
    value: float
    text: str
    literature: str = ""
    headline: bool = False


@dataclass
class Check:
    """An outcome the experiment expects (``claim``), the measurement and whether it held."""

    claim: str
    measured: str
    passed: bool


@dataclass(repr=False)
class Report:
    """The report of one experiment: free blocks (``doc``) plus results and checks.

    ``doc`` takes headings, paragraphs, tables and figures in reading order; :meth:`write`
    puts the results table and the expected outcomes first, then ``doc``, then the timing.
    ``metrics`` holds plain numbers for ``results.json`` (what tests assert on). In a
    notebook the report shows its results, checks and figures.
    """

    ctx: Context
    title: str
    intro: str
    settings: object = None
    results: list[Result] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    doc: Document = field(init=False)

    def __post_init__(self) -> None:
        self.doc = Document(self.title, self.ctx.folder)

    def result(
        self,
        quantity: str,
        value: float,
        fmt: str = "{:.2%}",
        literature: str = "",
        headline: bool = False,
        text: str | None = None,
    ) -> None:
        """Record a measured value (shown as ``text``, else formatted with ``fmt``) beside
        its literature value."""
        shown = text if text is not None else fmt.format(value)
        self.results.append(Result(quantity, value, shown, literature, headline))

    def check(self, claim: str, measured: str, passed: bool) -> bool:
        """Record an expected outcome; returns whether it held."""
        self.checks.append(Check(claim, measured, bool(passed)))
        return bool(passed)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def _result_rows(self) -> list[list[str]]:
        return [[r.quantity, r.text, r.literature or "-"] for r in self.results]

    def _check_rows(self) -> list[list[str]]:
        return [[c.claim, c.measured, "yes" if c.passed else "NO"] for c in self.checks]

    def __repr__(self) -> str:
        variant = "quick" if self.ctx.quick else "full"
        held = sum(c.passed for c in self.checks)
        return (
            f"Report({self.ctx.name} {variant}: {len(self.results)} results, "
            f"{held}/{len(self.checks)} expected outcomes reproduced)"
        )

    def _repr_html_(self) -> str:
        """The results beside the literature, the expected outcomes, then the figures."""
        parts = [heading(self.title), f"<div>{esc(self.intro)}</div>", heading(repr(self))]
        parts.append(table(RESULTS_HEADER, self._result_rows()))
        if self.checks:
            parts += [heading("Expected outcomes"), table(CHECKS_HEADER, self._check_rows())]
        for kind, value in self.doc.blocks:
            if kind == "figure" and value[0].is_file():
                path, caption = value
                mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
                parts.append(figure(path.read_bytes(), caption, mime))
        parts.append(f'<div style="color:#555">folder: {esc(self.ctx.folder)}</div>')
        return block(*parts)

    def write(self, seconds: float) -> Path:
        """Write ``report.md``, ``report.html`` and ``results.json``; returns the HTML path."""
        folder = self.ctx.layout
        folder.root.mkdir(parents=True, exist_ok=True)
        variant = "quick" if self.ctx.quick else "full"
        page = Document(self.title, folder.root)
        page.paragraph(self.intro)
        page.heading("Results")
        page.table(list(RESULTS_HEADER), self._result_rows())
        if self.checks:
            page.heading("Expected outcomes")
            page.table(list(CHECKS_HEADER), self._check_rows())
        page.blocks += self.doc.blocks
        page.heading("Settings and time")
        if self.settings is not None:
            values = asdict(self.settings) if is_dataclass(self.settings) else self.settings
            page.table(["setting", "value"], [[k, str(v)] for k, v in values.items()])
        flag = " --quick" if self.ctx.quick else ""
        page.paragraph(
            f"Variant: {variant}; wall time {seconds:.1f} s with {torch.get_num_threads()} torch "
            "thread(s). "
            f"Reproduce with: cnnlab run {self.ctx.name}{flag}"
        )
        write_text(folder.report_md, page.to_markdown())
        write_text(folder.report_html, page.to_html())
        write_json(folder.results, self.to_json(seconds))
        return folder.report_html

    def to_json(self, seconds: float) -> dict:
        settings = self.settings
        return {
            "experiment": self.ctx.name,
            "title": self.title,
            "variant": "quick" if self.ctx.quick else "full",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": seconds,
            "threads": torch.get_num_threads(),
            "passed": self.passed,
            "settings": asdict(settings) if is_dataclass(settings) else settings,
            "results": [asdict(r) for r in self.results],
            "checks": [asdict(c) for c in self.checks],
            "metrics": self.metrics,
        }


def first_epoch(rows: list[dict[str, float]], key: str, target: float) -> int | None:
    """The first epoch whose ``key`` reaches ``target`` (>=), or None."""
    for row in rows:
        if row.get(key, -math.inf) >= target:
            return int(row["epoch"])
    return None
