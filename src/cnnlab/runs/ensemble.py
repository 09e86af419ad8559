"""Trained runs combined into one :class:`~cnnlab.models.Ensemble`, evaluated on one split:
each member's mistakes, the ensemble's, and how the members' mistakes overlap (the course
notes, "Model Ensemble": combining models helps when they err on different test samples).

>>> result = ensemble_runs(["runs/a", "runs/b", "runs/c"], split="test")  # doctest: +SKIP
>>> result.ensemble_error < result.mean_member_error  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.display import block, heading, table, text
from cnnlab.errors import CnnlabError
from cnnlab.models.ensemble import Ensemble
from cnnlab.runs.job import TrainJob, evaluation_data
from cnnlab.runs.load import LoadedRun, load_run
from cnnlab.train.config import TrainConfig
from cnnlab.train.data import as_samples
from cnnlab.train.inputs import InputSpec
from cnnlab.train.trainer import Trainer

HEADER = ("model", "wrong", "error", "accuracy")
PRECISION = "fp32"  # members and ensemble alike, whatever precision each run trained in


@dataclass(repr=False, eq=False)
class EnsembleEvaluation:
    """Who got which samples wrong: each member and the ensemble, on one split.

    Args:
        names: the members' run directory names.
        split: what the runs were evaluated on.
        member_mistakes: M x N, True where member m misclassifies sample n.
        ensemble_mistakes: N, True where the ensemble (mean probability) misclassifies.
        model: the :class:`~cnnlab.models.Ensemble` (eval mode; export it like any model).
        input_spec: how raw samples become its inputs (``input_spec.apply(images)``).
    """

    names: list[str]
    split: str
    member_mistakes: torch.Tensor
    ensemble_mistakes: torch.Tensor
    model: Ensemble
    input_spec: InputSpec

    @property
    def samples(self) -> int:
        return int(self.ensemble_mistakes.numel())

    @property
    def member_wrong(self) -> list[int]:
        """Samples each member got wrong."""
        return [int(w) for w in self.member_mistakes.sum(1)]

    @property
    def mean_member_wrong(self) -> float:
        return sum(self.member_wrong) / len(self.names)

    @property
    def ensemble_wrong(self) -> int:
        return int(self.ensemble_mistakes.sum())

    @property
    def all_wrong(self) -> int:
        """Samples every member got wrong (no average of their probabilities can fix a
        sample whose every member ranks the true class below another)."""
        return int(self.member_mistakes.all(0).sum())

    @property
    def any_wrong(self) -> int:
        """Samples at least one member got wrong."""
        return int(self.member_mistakes.any(0).sum())

    @property
    def member_errors(self) -> list[float]:
        return [w / self.samples for w in self.member_wrong]

    @property
    def mean_member_error(self) -> float:
        return sum(self.member_errors) / len(self.member_errors)

    @property
    def ensemble_error(self) -> float:
        return self.ensemble_wrong / self.samples

    def _members(self) -> list[tuple[str, int, float]]:
        """(name, wrong, error) of each member."""
        return list(zip(self.names, self.member_wrong, self.member_errors, strict=True))

    def rows(self) -> list[list[str]]:
        """One row per member, then the mean member and the ensemble (:data:`HEADER`)."""

        def row(name: str, wrong: str, error: float) -> list[str]:
            return [name, wrong, f"{error:.2%}", f"{1 - error:.2%}"]

        size = len(self.names)
        return [
            *(row(name, f"{wrong:,}", error) for name, wrong, error in self._members()),
            row("mean member", f"{self.mean_member_wrong:,.1f}", self.mean_member_error),
            row(f"ensemble of {size}", f"{self.ensemble_wrong:,}", self.ensemble_error),
        ]

    def overlap(self) -> str:
        """The members' mistakes in one sentence."""
        return (
            f"wrong by all {len(self.names)} members: {self.all_wrong:,}; by at least one: "
            f"{self.any_wrong:,}; by the ensemble: {self.ensemble_wrong:,} (of {self.samples:,})"
        )

    def to_json(self) -> dict:
        return {
            "split": self.split,
            "samples": self.samples,
            "members": [
                {"run": name, "wrong": wrong, "accuracy": 1 - error}
                for name, wrong, error in self._members()
            ],
            "mean_member_accuracy": 1 - self.mean_member_error,
            "ensemble": {"wrong": self.ensemble_wrong, "accuracy": 1 - self.ensemble_error},
            "all_wrong": self.all_wrong,
            "any_wrong": self.any_wrong,
        }

    def _title(self) -> str:
        return f"ensemble of {len(self.names)} runs on {self.split} ({self.samples:,} samples)"

    def __str__(self) -> str:
        """The title, the table in aligned columns (names left, numbers right), the overlap."""
        rows = [list(HEADER), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))
            for cells in (zip(r, widths, strict=True) for r in rows)
        ]
        return "\n".join([self._title(), *lines, self.overlap()])

    def __repr__(self) -> str:
        return (
            f"EnsembleEvaluation({len(self.names)} runs on {self.split}: mean member error "
            f"{self.mean_member_error:.2%}, ensemble {self.ensemble_error:.2%}; "
            f"all wrong {self.all_wrong}, any wrong {self.any_wrong} of {self.samples:,})"
        )

    def _repr_html_(self) -> str:
        return block(heading(self._title()), table(HEADER, self.rows()), text(self.overlap()))


def _refuse_mismatch(
    runs: list[LoadedRun], what: str, value: Callable[[LoadedRun], object], fix: str
) -> None:
    """One line naming the first run whose ``value(run)`` differs from the first run's."""
    first = value(runs[0])
    for run in runs[1:]:
        if value(run) != first:
            raise CnnlabError(
                f"runs in an ensemble must share their {what}. Received: {runs[0].run_dir} has "
                f"{str(first)[:80]}, {run.run_dir} has {str(value(run))[:80]}; {fix}"
            )


def _dataset(run: LoadedRun) -> str:
    """The run's data set and its loader options, as one string."""
    record = run.config.get("run") or {}
    options = record.get("dataset_options") or {}
    return f"{record.get('dataset')} {options}" if options else str(record.get("dataset"))


def _spec(run: LoadedRun) -> str:
    spec = run.input_spec
    size = "x".join(map(str, spec.size)) if spec.size else "any size"
    standardized = f", mean {spec.mean}, std {spec.std}" if spec.mean else ""
    return f"{spec.kind} {spec.channels} channel(s) {size}{standardized}"


def _default_evaluation(run: LoadedRun) -> tuple:
    """What ``evaluation_data`` reads for ``run`` when no split is given."""
    job = TrainJob.from_config(run.config, run.layout.config)
    if job.val_split:
        return (job.val_split,)
    return (job.train_split, job.validation_split, job.split, job.train.seed)


def check_compatible(runs: list[LoadedRun], split: str | None) -> None:
    """Refuse, in one line, runs that cannot be averaged: other tasks, data sets, classes or
    input specs, or (without ``split``) other default evaluation data."""
    for run in runs:
        if run.task != "classification":
            raise CnnlabError(
                f"an ensemble averages class probabilities. Received: {run.run_dir}, a "
                f"{run.task} run; ensemble classification runs"
            )
    same = "ensemble runs trained on the same"
    _refuse_mismatch(runs, "data set", _dataset, f"{same} data set")
    _refuse_mismatch(runs, "classes", lambda r: r.classes, f"{same} classes")
    _refuse_mismatch(runs, "input spec", _spec, "ensemble runs whose models take the same input")
    if split is None:
        fix = "pass --split (e.g. --split test) to evaluate all on one split"
        _refuse_mismatch(runs, "validation data", _default_evaluation, fix)


def _mistakes(model: nn.Module, spec: InputSpec, data, targets: torch.Tensor) -> torch.Tensor:
    """N booleans: where ``model``'s most probable class is not the target."""
    config = TrainConfig(precision=PRECISION)
    prediction = Trainer(model, config, input_spec=spec, verbose=0).predict(data)
    return prediction.classes != targets


def ensemble_runs(
    run_dirs: Sequence[str | os.PathLike],
    split: str | None = None,
    checkpoint: str = "best",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> EnsembleEvaluation:
    """Load ``run_dirs`` (:func:`~cnnlab.load_run`), average them as an
    :class:`~cnnlab.models.Ensemble` and count who gets which samples of ``split`` wrong.

    The data is found as ``cnnlab evaluate`` finds it (:func:`~cnnlab.runs.job.evaluation_data`
    of the first run): ``split`` of the runs' data set, else their validation data. Members
    and ensemble are evaluated in float32.

    Args:
        run_dirs: two or more run directories of classification runs on the same data.
        split: split to evaluate (None: the runs' validation data, which must be the same).
        checkpoint: ``best`` or ``last`` weights of every run.
        data_dir, download: where the data is, and whether missing files are fetched.

    Raises:
        CnnlabError: fewer than two runs, a run given twice, or runs that differ in task,
            data set, classes, input spec or (without ``split``) evaluation data.
    """
    paths = [Path(d) for d in run_dirs]
    if len(paths) < 2:
        raise CnnlabError(
            f"an ensemble needs at least 2 runs. Received: {len(paths)}; pass two or more "
            "run directories"
        )
    seen = set()
    for path in paths:
        if path.resolve() in seen:
            raise CnnlabError(f"{path} is given twice; pass each run once")
        seen.add(path.resolve())
    runs = [load_run(path, checkpoint) for path in paths]
    check_compatible(runs, split)
    data, chosen = evaluation_data(
        runs[0].config, split, data_dir, download, source=runs[0].layout.config
    )
    targets = as_samples(data, role="evaluation data").targets
    spec = runs[0].input_spec
    model = Ensemble([run.model for run in runs]).eval()
    members = torch.stack([_mistakes(run.model, spec, data, targets) for run in runs])
    dataset = runs[0].config["run"]["dataset"]
    return EnsembleEvaluation(
        names=[run.run_dir.name for run in runs],
        split=f"{dataset} {chosen}",
        member_mistakes=members,
        ensemble_mistakes=_mistakes(model, spec, data, targets),
        model=model,
        input_spec=spec,
    )
