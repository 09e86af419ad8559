"""``cnnlab demo``: the main job of ``make demo``, offline."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.tour import write_tour


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Folder for the report.",
)
def demo(out: Path) -> None:
    """Run the inspection tour (the notes' examples and the model zoo) and write a report."""
    report = write_tour(out)
    click.echo(report.read_text(encoding="utf-8"))
    click.echo(f"report written to {report}")
