"""``cnnlab demo``: the main job of ``make demo``, offline: train LeNet-5 on the bundled
digits, write its run and report, then the inspection tour of the course notes' worked
examples (:mod:`cnnlab.tour`)."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.runs import TrainJob, run_job
from cnnlab.runs.layout import RunLayout
from cnnlab.tour import write_tour
from cnnlab.train import TrainConfig

DEMO_JOB = TrainJob(
    model="lenet5",
    dataset="digits",
    train=TrainConfig(epochs=15, batch_size=32, lr=3e-3, schedule="one-cycle"),
)


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Folder for the run and the reports.",
)
def demo(out: Path) -> None:
    """Train LeNet-5 on scikit-learn's digits (offline, ~15 s) and write its report, then the
    inspection tour (the notes' examples and the model zoo)."""
    run_dir, history = run_job(DEMO_JOB, out, download=False, name="lenet5-digits", verbose=2)
    tour = write_tour(out)
    best = history.best("val_accuracy", "max")
    click.echo(
        f"LeNet-5 on digits: validation accuracy {best['val_accuracy']:.2%} "
        f"(epoch {best['epoch']} of {len(history)})"
    )
    click.echo(f"run and report: {RunLayout(run_dir).report_html}")
    click.echo(f"inspection tour: {tour}")
