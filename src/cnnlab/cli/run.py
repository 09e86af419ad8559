"""``cnnlab run``: the course notes' exercises as experiments with reports."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.options import data_source_options
from cnnlab.errors import CnnlabError
from cnnlab.experiments import (
    DEFAULT_OUT,
    experiment_title,
    get_experiment,
    list_experiments,
    results_markdown,
    run_experiment,
)


@click.command("run")
@click.argument("experiment", required=False)
@click.option("--quick", is_flag=True, help="The CI-sized variant (about a minute).")
@click.option("--list", "list_all", is_flag=True, help="List the experiments.")
@click.option("--table", is_flag=True, help="Print the results table of the runs under --out.")
@click.option(
    "--write",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --table: also write the table to this file (e.g. docs/results.md).",
)
@data_source_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Parent folder; the experiment writes OUT/NAME (OUT/NAME-quick with --quick).",
)
@click.option("--threads", type=int, default=None, help="Torch CPU threads (1 on a busy box).")
@click.option("--quiet", is_flag=True, help="No per-epoch lines.")
def run(experiment, quick, list_all, table, write, data_dir, no_download, out, threads, quiet):
    """Run EXPERIMENT and write its report (report.md, report.html, results.json).

    \b
    cnnlab run --list
    cnnlab run dropout --quick
    cnnlab run resnet-degradation --quick --threads 1
    cnnlab run --table --write docs/results.md
    """
    if list_all:
        for name in list_experiments():
            click.echo(f"{name:<20}{experiment_title(get_experiment(name))}")
        return
    if table:
        text = results_markdown(out)
        click.echo(text, nl=False)
        if write is not None:
            write.parent.mkdir(parents=True, exist_ok=True)
            write.write_text(text, encoding="utf-8")
        return
    if not experiment:
        raise CnnlabError("run needs an EXPERIMENT (see cnnlab run --list), --list or --table")
    report, seconds = run_experiment(
        experiment,
        quick=quick,
        out=out,
        data_dir=data_dir,
        download=not no_download,
        verbose=0 if quiet else 2,
        threads=threads,
    )
    for result in report.results:
        click.echo(f"{result.quantity}: {result.text}")
    for check in report.checks:
        mark = "ok  " if check.passed else "FAIL"
        click.echo(f"[{mark}] {check.claim}: {check.measured}")
    click.echo(f"report written to {report.ctx.layout.report_html} ({seconds:.0f} s)")
    failed = [c.claim for c in report.checks if not c.passed]
    if failed:
        raise CnnlabError(f"expected outcome not reproduced: {'; '.join(failed)}")
