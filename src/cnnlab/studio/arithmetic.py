"""``GET /api/arith``: the arithmetic of ``cnnlab arith KIND ... --json`` from query strings.

The options, their defaults and the functions called are those of :mod:`cnnlab.cli.arith`, so
the JSON is the same: ``input``, ``kernel``, ``stride``, ``padding``, ``dilation`` for every
kind; ``filters``, ``groups``, ``no_bias`` for conv and transposed; ``bottleneck`` for conv;
``ceil_mode`` for pool; ``output_padding`` for transposed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cnnlab import arith as A
from cnnlab.studio.errors import StudioError

KINDS = ("conv", "pool", "transposed")
TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def text(query: Mapping[str, str], name: str, default: str | None = None) -> str:
    """A string option; a missing required one is a 400."""
    value = query.get(name, default)
    if value is None:
        raise StudioError(f"{name} is required, e.g. {name}={'28x28x1' if name == 'input' else 3}")
    if len(value) > 100:
        raise StudioError(f"{name} is over 100 characters")
    return value


def integer(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    """A whole-number option (``None`` when absent and without default)."""
    value = query.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
        raise StudioError(f"{name} must be a whole number. Received: {name}={value[:40]!r}")
    return int(value)


def padding_text(query: Mapping[str, str]) -> str:
    """The padding option, checked before it reaches ``cnnlab.arith`` so the page gets a 4xx
    that lists the accepted forms."""
    value = text(query, "padding", "0")
    if not re.fullmatch(r"\s*(same|valid|[0-9]+(\s*x\s*[0-9]+)?)\s*", value, re.IGNORECASE):
        raise StudioError(
            f"padding must be N, HxW, 'same' or 'valid'. Received: padding={value[:40]!r}"
        )
    return value


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean option: 1/true/yes/on or 0/false/no/off (absent is false)."""
    value = query.get(name, "").strip().lower()
    if value not in TRUE + FALSE:
        raise StudioError(f"{name} must be true or false. Received: {name}={value[:40]!r}")
    return value in TRUE


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise StudioError(f"kind must be one of {', '.join(KINDS)}. Received: kind={kind[:40]!r}")
    return kind


def arith_json(query: Mapping[str, str]) -> dict:
    """The ``--json`` output of ``cnnlab arith`` for the options in ``query``."""
    kind = check_kind(text(query, "kind", "conv"))
    shape, kernel = text(query, "input"), text(query, "kernel")
    stride, pads = query.get("stride") or None, padding_text(query)
    dilation = text(query, "dilation", "1")
    if kind == "pool":
        result = A.pool2d(shape, kernel, stride, pads, dilation, flag(query, "ceil_mode"))
        return result.to_json()
    filters = integer(query, "filters")
    if filters is None:
        raise StudioError("filters is required, e.g. filters=6")
    groups, bias = integer(query, "groups", 1), not flag(query, "no_bias")
    stride = stride or "1"
    if kind == "transposed":
        output_padding = text(query, "output_padding", "0")
        return A.conv_transpose2d(
            shape, kernel, filters, stride, pads, output_padding, dilation, groups, bias
        ).to_json()
    bottleneck = integer(query, "bottleneck")
    if bottleneck is not None:
        comparison = A.bottleneck_comparison(shape, kernel, filters, bottleneck, stride, pads)
        return comparison.to_json()
    return A.conv2d(shape, kernel, filters, stride, pads, dilation, groups, bias).to_json()
