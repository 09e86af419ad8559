"""Options several commands share, and parsing ``key=value`` options."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from cnnlab.errors import CnnlabError


def parse_options(pairs: tuple[str, ...], example: str = "size=64x64") -> dict[str, object]:
    """``key=value`` pairs -> a dict; values that read as JSON (``3``, ``0.5``, ``true``,
    ``[3, 4]``, ``null``) become those values, anything else stays a string."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CnnlabError(f"options are key=value, like {example}. Received: {pair!r}")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    return options


model_args_option = click.option(
    "-m",
    "--model-arg",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Builder argument of the model, checked against what it takes, e.g. -m image_size=28 "
    "(repeatable).",
)


def dataset_options_option(example: str) -> Callable:
    """``-o KEY=VALUE`` (repeatable): the options of the data set, shown with ``example``."""
    return click.option(
        "-o",
        "--option",
        "dataset_options",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Dataset option, e.g. {example} (repeatable).",
    )


DATA_DIR_HELP = "Data directory (default: $CNNLAB_DATA_DIR, else ~/.cache/cnnlab)."


def stacked(*options: Callable) -> Callable:
    """One decorator applying ``options`` so that ``--help`` lists them in this order."""

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


data_source_options = stacked(
    click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP),
    click.option("--no-download", is_flag=True, help="Never download; fail if files are missing."),
)
run_folder_options = stacked(
    click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=Path("runs"),
        show_default=True,
        help="Folder where the run directory is created.",
    ),
    click.option("--name", default=None, help="Run name (default MODEL-DATASET); a time is added."),
)
fit_display_options = stacked(
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps."),
    click.option("--quiet", is_flag=True, help="No progress bar: one line per epoch."),
)


def evaluation_options(whose: str) -> Callable:
    """``--split``, ``--checkpoint``, where the data is and ``--json``: the options of a
    command that evaluates trained runs (``whose``: "the run's" or "the runs'")."""
    return stacked(
        click.option(
            "--split", default=None, help=f"Split to evaluate (default: {whose} validation)."
        ),
        click.option(
            "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
        ),
        data_source_options,
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    )
