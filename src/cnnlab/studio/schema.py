"""What the studio needs of a run's ``config.json`` before it builds and feeds the run's model.

A hand-edited or damaged config would otherwise fail deep inside torch (a negative size, a
list where arguments belong) or ask for gigabytes (an input of 100000 x 100000 pixels). Only
the fields the studio uses are checked, each refused with its name and what it holds.
"""

from __future__ import annotations

import math

MAX_INPUT_PIXELS = 1024 * 1024
MAX_CHANNELS = 64
MAX_CLASSES = 100_000
SPEC_FIELDS = ("kind", "channels", "size", "mean", "std")


def kind(value: object) -> str:
    """A JSON value's type, as an error message names it."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"[:60]
    return names.get(type(value), type(value).__name__)


def _count(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _numbers(value: object, length: int, positive: bool = False) -> bool:
    return (
        isinstance(value, list)
        and len(value) == length
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
        and (not positive or all(v > 0 for v in value))
    )


def _spec_problem(spec: object) -> str | None:
    if not isinstance(spec, dict):
        return f"input_spec must be an object. Received: {kind(spec)}"
    unknown = sorted(set(spec) - set(SPEC_FIELDS))
    if unknown:
        return f"input_spec has unknown fields: {', '.join(map(str, unknown))[:80]}"
    if spec.get("kind", "image") not in ("image", "tokens"):
        return f"input_spec.kind must be image or tokens. Received: {kind(spec.get('kind'))}"
    if spec.get("kind", "image") == "tokens":
        return None
    channels = spec.get("channels", 1)
    if not _count(channels, 1, MAX_CHANNELS):
        return f"input_spec.channels must be 1..{MAX_CHANNELS}. Received: {kind(channels)}"
    size = spec.get("size")
    if size is not None and not (
        isinstance(size, list) and len(size) == 2 and all(_count(s, 1, 1 << 31) for s in size)
    ):
        return f"input_spec.size must be [height, width] or null. Received: {kind(size)}"
    if size is not None and size[0] * size[1] > MAX_INPUT_PIXELS:
        return (
            f"input_spec.size is {size[0]} x {size[1]}; the studio feeds models at most "
            f"{MAX_INPUT_PIXELS:,} pixels"
        )
    for name in ("mean", "std"):
        value = spec.get(name)
        if value is not None and not _numbers(value, channels, positive=name == "std"):
            return f"input_spec.{name} must be {channels} finite numbers or null"
    return None


def config_problem(config: dict) -> str | None:
    """Why the studio cannot rebuild and feed the model ``config`` describes, or None."""
    run = config.get("run")
    if not isinstance(run, dict):
        return f"the run section must be an object. Received: {kind(run)}"
    model = run.get("model")
    if model is None:
        return "the run does not record how to build its model (a model defined in a script)"
    if not isinstance(model, str) or not model:
        return f"run.model must name a model. Received: {kind(model)}"
    if not isinstance(run.get("model_kwargs") or {}, dict):
        return f"run.model_kwargs must be an object. Received: {kind(run.get('model_kwargs'))}"
    if not isinstance(run.get("model_folder") or "", str):
        return f"run.model_folder must be a folder name. Received: {kind(run.get('model_folder'))}"
    if not isinstance(config.get("task"), str):
        return f"task must be a string. Received: {kind(config.get('task'))}"
    classes = config.get("classes") or []
    if not isinstance(classes, list):
        return f"classes must be a list of names. Received: {kind(classes)}"
    if not all(isinstance(c, str) for c in classes):
        return "classes must be a list of names (strings)"
    if len(classes) > MAX_CLASSES:
        return f"classes names {len(classes):,} classes; the studio shows at most {MAX_CLASSES:,}"
    return _spec_problem(config.get("input_spec"))
