"""Command-line options generated from a settings dataclass (:class:`TrainConfig`), so a new
setting is declared once: its name, type, default and choices come from the field, its help
from the ``Args:`` section of the class docstring.

``batch_size: int = 64`` becomes ``--batch-size INTEGER [default: 64]``; a ``bool`` defaulting
to False becomes a flag; ``float | None`` an option that is off unless given; a field with
``choices`` a ``click.Choice``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields

import click

_ARG = re.compile(r"^ {8}(\w+): (.*)$")
_MORE = re.compile(r"^ {12}(\S.*)$")
_TYPES = {int: int, float: float, str: str}


def field_help(cls: type) -> dict[str, str]:
    """``name -> help`` from the ``Args:`` section of ``cls``'s docstring (continuation
    lines joined)."""
    helps: dict[str, str] = {}
    name = None
    for line in (cls.__doc__ or "").splitlines():
        if match := _ARG.match(line):
            name = match.group(1)
            helps[name] = match.group(2).strip()
        elif name and (more := _MORE.match(line)):
            helps[name] += " " + more.group(1).strip()
        else:
            name = None
    return helps


def _plain_type(annotation) -> type:
    """``int`` of ``int`` or ``int | None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _TYPES.get(args[0] if args else annotation, str)


def settings_options(cls: type) -> Callable:
    """A decorator adding one click option per field of dataclass ``cls``; the command
    receives each under the field's name."""
    helps = field_help(cls)
    hints = typing.get_type_hints(cls)
    missing = sorted(f.name for f in fields(cls) if f.name not in helps)
    if missing:
        raise TypeError(f"{cls.__name__} documents no help for {missing} in its Args section")

    def decorate(command: Callable) -> Callable:
        for item in reversed(fields(cls)):
            default = item.default if item.default is not MISSING else None
            flag = "--" + item.name.replace("_", "-")
            declared = dict(help=helps[item.name], show_default=default is not None)
            if "choices" in item.metadata:
                choices = [str(c) for c in item.metadata["choices"]]
                shown = {True: "yes", False: "no"}.get(default, default)
                option = click.option(
                    flag, item.name, type=click.Choice(choices), default=shown, **declared
                )
            elif hints[item.name] is bool:
                option = click.option(flag, item.name, is_flag=True, help=helps[item.name])
            else:
                kind = _plain_type(hints[item.name])
                option = click.option(flag, item.name, type=kind, default=default, **declared)
            command = option(command)
        return command

    return decorate


def settings_from_options(cls: type, values: dict):
    """An instance of ``cls`` from the options :func:`settings_options` added (other keys in
    ``values`` are ignored)."""
    return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})
