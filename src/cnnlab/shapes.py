"""Parsing of the shape notations used on the command line and in the course notes.

The course notes write activation volumes as H x W x C (``28x28x192``); PyTorch orders tensors
C x H x W. Both parsers live here so that every command reads shapes the same way.
"""

from __future__ import annotations

import re

from cnnlab.errors import CnnlabError

_DIMS = re.compile(r"^\s*\d+(\s*[xX×*,]\s*\d+)*\s*$")


def parse_dims(
    text: str | int | tuple[int, ...],
    count: int | None = None,
    name: str = "shape",
    minimum: int = 1,
) -> tuple[int, ...]:
    """Parse ``"28x28x192"`` (also ``,``, ``*`` or ``×`` as separators) into a tuple of ints.

    Args:
        text: the string, an int, or an already parsed tuple.
        count: the number of dimensions required, or None for any.
        name: what the value is, for the error message.
        minimum: the smallest value a dimension may take.

    Raises:
        CnnlabError: on a malformed value, a wrong number of dimensions or a dimension < 1.
    """
    if isinstance(text, int):
        dims: tuple[int, ...] = (text,)
    elif isinstance(text, tuple | list):
        dims = tuple(int(d) for d in text)
    else:
        if not _DIMS.match(text):
            raise CnnlabError(
                f"{name} must be whole numbers separated by 'x', like 28x28x1. Received: {text!r}"
            )
        dims = tuple(int(d) for d in re.split(r"\s*[xX×*,]\s*", text.strip()))
    if count is not None and len(dims) != count:
        raise CnnlabError(f"{name} must have {count} dimensions. Received: {text!r}")
    if any(d < minimum for d in dims):
        raise CnnlabError(f"{name} must be >= {minimum}. Received: {name}={text!r}")
    return dims


def parse_pair(value: str | int | tuple[int, int], name: str, minimum: int = 1) -> tuple[int, int]:
    """Parse a kernel, stride or dilation given as ``3`` or ``3x5`` (height x width)."""
    dims = parse_dims(value, name=name, minimum=minimum)
    if len(dims) == 1:
        return dims[0], dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    raise CnnlabError(f"{name} must be N or HxW, like 3 or 3x5. Received: {value!r}")
