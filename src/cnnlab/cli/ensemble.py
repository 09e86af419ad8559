"""``cnnlab ensemble``: several trained runs averaged as one model, and how their mistakes
overlap (the course notes, "Model Ensemble")."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cnnlab.cli.options import evaluation_options
from cnnlab.runs.ensemble import ensemble_runs


@click.command("ensemble")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@evaluation_options("the runs'")
def ensemble(run_dirs, split, checkpoint, data_dir, no_download, as_json):
    """Average the class probabilities of RUN_DIRS (two or more runs on the same data) and
    print each member's accuracy, the ensemble's, and how many samples each member, all
    members and at least one member got wrong."""
    result = ensemble_runs(run_dirs, split, checkpoint, data_dir, not no_download)
    click.echo(json.dumps(result.to_json()) if as_json else str(result))
