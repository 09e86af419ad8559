"""One schema for a run folder: what ``config.json`` and the checkpoints' metadata must hold
before ``evaluate``, ``predict``, ``export``, ``diagram`` or ``--resume`` act on them.

A damaged or hand-edited file would otherwise fail deep inside torch (a list where arguments
belong) or ask for memory no machine has (10**12 classes, 100000 x 100000 pixels). Values are
checked before anything is built or allocated; the first problem is ONE line naming the file,
the key, what it must be and what it is::

    runs/x/config.json: input_spec.size must be two integers in 1..16384. Received: [100000, 100000]

Bounds, values a model could have: image sides up to 16,384 pixels and 2**28 values per
sample (a 16384 x 16384 grayscale image, 1 GiB as float32), 4,096 channels, 1,000,000 classes,
10,000,000 tokens of vocabulary, sequences of 1,000,000, 1,000,000 epochs or samples per
batch, standardization means within +-10,000 and deviations in 1e-6..10,000.

``run``, ``train``, ``task`` and ``input_spec`` are required (cnnlab always wrote them); the
sections older runs lack (``classes``, ``samples``, ``execution``, ``data``, ``recorder``, ...)
may be missing, but a present one must be well formed. Unknown keys are left alone except in
``input_spec`` and ``train``, whose keys become constructor arguments.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from cnnlab.errors import CnnlabError
from cnnlab.files import read_json
from cnnlab.models.registry import TASKS
from cnnlab.runs.checkpoint import load_checkpoint
from cnnlab.train.augmentation import augmentation_names
from cnnlab.train.config import TrainConfig
from cnnlab.train.data import SPLIT_MODES

MAX_SIDE = 16_384
MAX_INPUT_VALUES = 2**28
MAX_CHANNELS = 4_096
MAX_CLASSES = 1_000_000
MAX_VOCABULARY = 10_000_000
MAX_SEQUENCE = 1_000_000
MAX_EPOCHS = 1_000_000
MAX_BATCH = 1_000_000
MAX_STEPS = 2**62
MAX_MEAN = 10_000.0
MIN_STD = 1e-6
REQUIRED = ("run", "train", "task", "input_spec")

Check = Callable[[object], bool]


@dataclass(frozen=True)
class Rule:
    """What a value must be: a test and its wording in messages; for an object its known
    fields, the required ones, whether others are refused (they would reach a constructor as
    arguments) and a check across fields (``then(file, key, value)``)."""

    expected: str
    test: Check
    fields: Mapping[str, Rule] | None = None
    required: tuple[str, ...] = ()
    strict: bool = False
    then: Callable[[Path, str, dict], None] | None = None


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _n(value: float) -> str:
    return f"{value:,}" if abs(value) >= 100_000 else f"{value:g}"


def integer(low: int, high: int) -> Rule:
    return Rule(f"an integer in {_n(low)}..{_n(high)}", lambda v: _int(v) and low <= v <= high)


def number(low: float, high: float) -> Rule:
    return Rule(f"a number in {_n(low)}..{_n(high)}", lambda v: _finite(v) and low <= v <= high)


def optional(rule: Rule) -> Rule:
    """``rule`` or null."""
    return replace(
        rule, expected=f"{rule.expected} or null", test=lambda v: v is None or rule.test(v)
    )


def one_of(values: tuple[str, ...]) -> Rule:
    return Rule(f"one of {', '.join(values)}", lambda v: isinstance(v, str) and v in values)


def obj(known: Mapping[str, Rule] | None = None, **details) -> Rule:
    """An object; ``details``: ``required``, ``strict``, ``then`` (see :class:`Rule`)."""
    return Rule("an object", lambda v: isinstance(v, dict), known, **details)


def listed(rule: Rule, low: int, high: int, what: str) -> Rule:
    """A list (a tuple from Python) of ``low..high`` values that pass ``rule``."""
    return Rule(
        what,
        lambda v: (
            isinstance(v, list | tuple) and low <= len(v) <= high and all(rule.test(x) for x in v)
        ),
    )


TEXT = Rule("a string", lambda v: isinstance(v, str))
NAME = Rule("a non-empty string", lambda v: isinstance(v, str) and v != "")
BOOLEAN = Rule("true or false", lambda v: isinstance(v, bool))
FINITE = Rule("a finite number", _finite)
ANY_NUMBER = Rule("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool))
COUNT = integer(0, MAX_STEPS)
# null: data given as arrays, whose classes have ids but no names
CLASSES = optional(listed(TEXT, 0, MAX_CLASSES, f"a list of at most {MAX_CLASSES:,} class names"))
SIZE = listed(integer(1, MAX_SIDE), 2, 2, f"two integers in 1..{MAX_SIDE}")
MEANS = listed(
    number(-MAX_MEAN, MAX_MEAN), 1, MAX_CHANNELS, f"numbers in {-MAX_MEAN:g}..{MAX_MEAN:g}"
)
STDS = listed(number(MIN_STD, MAX_MEAN), 1, MAX_CHANNELS, f"numbers in {MIN_STD:g}..{MAX_MEAN:g}")


def values(count: int) -> Rule:
    """A list of ``count`` values of any kind (a generator's state, unpacked as it is)."""
    return Rule(f"a list of {count} values", lambda v: isinstance(v, list) and len(v) == count)


def fail(file: Path, key: str, expected: str, value: object) -> typing.NoReturn:
    """Raise the one line: FILE: KEY must be EXPECTED. Received: VALUE."""
    shown = json.dumps(value)  # values come from JSON
    shown = shown if len(shown) <= 80 else f"{shown[:77]}..."
    raise CnnlabError(f"{file}: {key} must be {expected}. Received: {shown}")


def check(file: Path, key: str, value: object, rule: Rule) -> None:
    """Check ``value`` (found at ``key`` in ``file``) against ``rule``, fields first to last."""
    if not rule.test(value):
        fail(file, key or "the file", rule.expected, value)
    if not isinstance(value, dict):
        return
    where = f"{key}." if key else ""
    unknown = sorted(set(value) - set(rule.fields)) if rule.strict else []
    if unknown:
        raise CnnlabError(
            f"{file}: {key} has unknown keys {', '.join(map(json.dumps, unknown))[:80]}; "
            f"it takes {', '.join(rule.fields)}"
        )
    for name in rule.required:
        if name not in value:
            expected = rule.fields[name].expected
            raise CnnlabError(f"{file}: {where}{name} is missing; it must be {expected}")
    for name, field in (rule.fields or {}).items():
        if name in value:
            check(file, f"{where}{name}", value[name], field)
    if rule.then is not None:
        rule.then(file, key, value)


def _spec_values(file: Path, key: str, spec: dict) -> None:
    """An input spec's fields together: image channels, means per channel, values per sample."""
    image = spec["kind"] == "image"
    channels = spec.get("channels", 1)
    if image and channels < 1:
        fail(file, f"{key}.channels", f"an integer in 1..{MAX_CHANNELS} for images", channels)
    for name in ("mean", "std"):
        given = spec.get(name)
        if given is not None and len(given) != channels:
            fail(file, f"{key}.{name}", f"{channels} numbers (one per channel)", given)
    size = spec.get("size")
    if image and size is not None and channels * size[0] * size[1] > MAX_INPUT_VALUES:
        raise CnnlabError(
            f"{file}: {key} describes {channels} x {size[0]} x {size[1]} inputs, "
            f"{channels * size[0] * size[1]:,} values per sample; at most {MAX_INPUT_VALUES:,}"
        )


SPEC = obj(
    {
        "kind": one_of(("image", "tokens")),
        "channels": integer(0, MAX_CHANNELS),
        "size": optional(SIZE),
        "mean": optional(MEANS),
        "std": optional(STDS),
    },
    required=("kind",),
    strict=True,
    then=_spec_values,
)


def _hint_rule(hint: object) -> Rule:
    """The rule of a TrainConfig field's type: int, float, str, bool and their unions."""
    options = typing.get_args(hint) or (hint,)
    rules = {int: integer(-(2**63), 2**63 - 1), float: FINITE, str: TEXT, bool: BOOLEAN}
    chosen = [rules[o] for o in options if o is not type(None)]
    rule = Rule(" or ".join(r.expected for r in chosen), lambda v: any(r.test(v) for r in chosen))
    return optional(rule) if type(None) in options else rule


TRAIN_BOUNDS = {
    "epochs": integer(1, MAX_EPOCHS),
    "batch_size": integer(1, MAX_BATCH),
    "step_epochs": integer(1, MAX_EPOCHS),
    "early_stopping": integer(0, MAX_EPOCHS),
    "seed": integer(0, 2**63 - 1),
    "top_k": integer(1, MAX_CLASSES),
    "weight_decay": number(0, 1),
    "momentum": number(0, 1),
    "gamma": number(0, 1),
    "aux_weight": number(0, 10),
    "checkpoint_every": COUNT,  # older runs kept it with the settings; resume still reads it
}


def _train_values(file: Path, key: str, section: dict) -> None:
    """The settings as :class:`TrainConfig` checks them (choices, unknown names)."""
    try:
        TrainConfig.from_json(section)
    except CnnlabError as error:
        raise CnnlabError(f"{file}: {key}: {error}") from None


TRAIN = obj(
    {n: _hint_rule(h) for n, h in typing.get_type_hints(TrainConfig).items()} | TRAIN_BOUNDS,
    then=_train_values,
)
KWARGS = obj(  # the arguments cnnlab fills in from the data: shapes of weights and inputs
    {
        "num_classes": integer(1, MAX_CLASSES),
        "in_channels": integer(1, MAX_CHANNELS),
        "image_size": optional(integer(1, MAX_SIDE)),
        "vocab_size": integer(1, MAX_VOCABULARY),
        "seq_len": integer(1, MAX_SEQUENCE),
    }
)
RUN = obj(
    {
        "model": optional(NAME),
        "model_kwargs": optional(KWARGS),
        "model_folder": optional(TEXT),
        "dataset": NAME,
        "train_split": NAME,
        "val_split": optional(NAME),
        "validation_split": optional(
            Rule("a number between 0 and 1", lambda v: _finite(v) and 0 < v < 1)
        ),
        "split": one_of(SPLIT_MODES),
        "dataset_options": obj(),
        "augment": one_of(tuple(augmentation_names())),
        "recipe": optional(NAME),
        "mean": optional(MEANS),
        "std": optional(STDS),
        "data_dir": optional(TEXT),
        "data_path": one_of(("auto", "in-memory", "stream")),
        "data_cache": optional(TEXT),
        "command": optional(TEXT),
    }
)


def _across(file: Path, key: str, config: dict) -> None:
    """The job's standardization has one value per input channel, as the spec it made."""
    run, spec = config.get("run") or {}, config.get("input_spec") or {}
    for name in ("mean", "std"):
        values = run.get(name)
        if values is not None and spec.get("kind") == "image":
            channels = spec.get("channels", 1)
            if len(values) != channels:
                fail(file, f"run.{name}", f"{channels} numbers, as input_spec.channels", values)


CONFIG = obj(
    {
        "run": RUN,
        "train": TRAIN,
        "task": one_of(TASKS),
        "classes": CLASSES,
        "input_spec": SPEC,
        "samples": obj({"train": optional(COUNT), "validation": optional(COUNT)}),
        "execution": obj(),  # facts about the machine, read by no command
        "data": obj(
            {"train": TEXT, "data_path": one_of(("in-memory", "stream")), "exact_resume": BOOLEAN}
        ),
        "recorder": obj({"checkpoint_every": COUNT, "tensorboard": BOOLEAN}),
        "created": TEXT,
        "versions": obj(),
        "machine": obj(),
    },
    then=_across,
)
POSITION = {"epoch": integer(0, MAX_EPOCHS), "step": COUNT, "global_step": COUNT}
DESCRIBED = {
    **POSITION,
    "run": RUN,
    "task": one_of(TASKS),
    "classes": CLASSES,
    "input_spec": optional(SPEC),
}
BEST = obj(
    {**DESCRIBED, "monitor": TEXT, "value": optional(ANY_NUMBER)},
    required=(*POSITION, "task", "input_spec"),
)
LAST = obj(  # and what resuming reads back into the trainer
    {
        **DESCRIBED,
        "config": TRAIN,
        "optimizer": obj(
            {"values": obj(), "param_groups": listed(obj(), 1, MAX_STEPS, "a list of objects")},
            required=("values", "param_groups"),
        ),
        "scheduler": optional(obj()),
        "scaler": optional(obj()),
        "rng": obj({"numpy": values(4), "python": values(3)}, required=("numpy", "python")),
        "callbacks": Rule(
            "an object of objects",
            lambda v: isinstance(v, dict) and all(isinstance(s, dict) for s in v.values()),
        ),
        "history": listed(obj(), 0, MAX_EPOCHS, "a list of objects"),
    },
    required=(*POSITION, "task", "input_spec", "optimizer", "scheduler", "rng", "callbacks"),
)


def check_config(config: object, file: Path, required: tuple[str, ...] = REQUIRED) -> dict:
    """``config`` (read from ``file``) if it is a well-formed run config with the sections
    ``required``; else one line naming the key. Diagrams need only the model's record
    (``required=()``)."""
    check(file, "", config, replace(CONFIG, required=required))
    return config


def check_run(section: object, file: Path) -> dict:
    """The ``run`` section (model name and arguments, data) of ``file``, checked."""
    check(file, "run", section, RUN)
    return section


def check_input_spec(spec: object, file: Path) -> None:
    """An input spec (config.json's, or one a caller built) within the bounds: before any
    image is resized to it."""
    check(file, "input_spec", spec, SPEC)


def read_config(file: Path, required: tuple[str, ...] = REQUIRED) -> dict:
    """``config.json`` read and checked (:func:`check_config`)."""
    try:
        config = read_json(file)
    except CnnlabError:
        raise
    except RecursionError:
        raise CnnlabError(f"{file} is not a run config: its JSON is nested too deeply") from None
    except ValueError as error:  # an integer of thousands of digits
        raise CnnlabError(f"{file} is not valid JSON ({error}); was it copied whole?") from None
    return check_config(config, file, required)


def read_checkpoint(file: Path, last: bool) -> tuple[dict[str, torch.Tensor], dict]:
    """A run's checkpoint (``last``: the one resuming reads) with its metadata checked."""
    tensors, meta = load_checkpoint(file)
    check(file, "metadata", meta, LAST if last else BEST)
    return tensors, meta
