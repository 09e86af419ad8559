"""Parsing ``key=value`` options given on the command line."""

from __future__ import annotations

import json

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
