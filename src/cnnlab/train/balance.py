"""Imbalanced classes: weigh the loss per class, or draw the batches balanced.

Class weights (``class_weight``) multiply each sample's cross-entropy by the weight of its
class; PyTorch's weighted mean is the training loss (Keras applies ``class_weight`` the same
way, to training only, so the validation loss stays comparable across weightings):

    loss = sum_i w[y_i] * CE(x_i, y_i) / sum_i w[y_i]

``balanced`` is scikit-learn's ``compute_class_weight("balanced")``: w[c] = n_samples /
(n_classes * count[c]), n_classes counting the classes present (a class with no training
sample gets 0: it is never a target). On the spam set (13% spam) it gives ham 0.58, spam 3.7.

The balanced sampler (``sampler="balanced"``) draws each epoch's N samples with replacement,
sample i with probability proportional to 1 / count[y_i], so every class is equally likely
(PyTorch's ``WeightedRandomSampler``), from a generator seeded by (seed, epoch): the same
batches on every run, and exact resume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from cnnlab.errors import CnnlabError

SAMPLERS = ("shuffle", "balanced")
BALANCED = "balanced"
FORMS = "balanced, per-class weights (1,6.5) or class=weight pairs (spam=6.5)"

ClassWeight = str | Sequence[float] | Mapping[str | int, float] | None


def _number(value: float) -> str:
    """The shortest text of ``value`` that reads back exactly."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _weight(text: object, setting: object) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise CnnlabError(
            f"class weights must be finite numbers >= 0. Received: class_weight={setting!r}"
        )
    return value


def class_weight_setting(setting: ClassWeight) -> str | None:
    """``setting`` in its one stored spelling, the command line's: ``balanced``, ``1,6.5`` (a
    weight per class id) or ``spam=6.5,3=2`` (class name or id = weight, others 1).

    Raises:
        CnnlabError: any other form, or weights that are negative, not finite or all 0.
    """
    if setting is None:
        return None
    if isinstance(setting, str) and setting.strip().lower() == BALANCED:
        return BALANCED
    if isinstance(setting, str):
        parts = [p.strip() for p in setting.split(",")]
        pairs = [p.partition("=") for p in parts]
        if all(sep for _, sep, _ in pairs):
            setting = {key.strip(): value for key, _, value in pairs}
        elif not any(sep for _, sep, _ in pairs):
            setting = parts
        else:
            raise CnnlabError(f"class_weight must be {FORMS}. Received: {setting!r}")
    if isinstance(setting, Mapping):
        keys = [str(k) for k in setting]
        if not keys or any(k == "" or "=" in k or "," in k for k in keys):
            raise CnnlabError(f"class_weight must be {FORMS}. Received: {setting!r}")
        values = [_weight(v, setting) for v in setting.values()]
        return ",".join(f"{k}={_number(v)}" for k, v in zip(keys, values, strict=True))
    if isinstance(setting, Sequence) and setting and not isinstance(setting, bytes):
        values = [_weight(v, setting) for v in setting]
        if not any(values):
            raise CnnlabError(f"class weights must not all be 0. Received: {setting!r}")
        return ",".join(_number(v) for v in values)
    raise CnnlabError(f"class_weight must be {FORMS}. Received: {setting!r}")


def class_counts(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Samples (pixels, for masks) of each class id below ``num_classes``."""
    return torch.bincount(targets.flatten(), minlength=num_classes)[:num_classes]


def balanced_weights(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """w[c] = n_samples / (n_classes * count[c]) (scikit-learn's ``balanced``), 0 for a class
    without samples; float32, one per class."""
    counts = class_counts(targets, num_classes).to(torch.float64)
    present = counts > 0
    total, kinds = counts.sum(), present.sum()
    weights = torch.where(present, total / (kinds * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights.to(torch.float32)


def class_weights(
    setting: str | None,
    targets: torch.Tensor | None,
    num_classes: int,
    classes: Sequence[str] | None = None,
) -> torch.Tensor | None:
    """The weight of each of the model's ``num_classes`` classes for the stored ``setting``
    (see :func:`class_weight_setting`); ``targets``: the training targets (``balanced``
    counts them); ``classes``: names that pairs may use.

    Raises:
        CnnlabError: ``balanced`` without targets (a DataLoader), a list of the wrong length,
            a class name or id the model does not have.
    """
    if setting is None:
        return None
    if setting == BALANCED:
        if targets is None:
            raise CnnlabError(
                "class_weight='balanced' counts the training targets, which a DataLoader does "
                "not hold; pass the weights instead (class_weight=[1.0, 6.5])"
            )
        return balanced_weights(targets, num_classes)
    parts = setting.split(",")
    if "=" not in setting:
        if len(parts) != num_classes:
            raise CnnlabError(
                f"class_weight has {len(parts)} weights but the model has {num_classes} "
                f"classes. Received: class_weight={setting!r}"
            )
        return torch.tensor([float(p) for p in parts], dtype=torch.float32)
    weights = torch.ones(num_classes)
    names = list(classes or [])
    for key, _, value in (p.partition("=") for p in parts):
        if key in names:
            index = names.index(key)
        elif key.isdigit() and int(key) < num_classes:
            index = int(key)
        else:
            known = ", ".join(names) if names else f"ids 0..{num_classes - 1}"
            raise CnnlabError(f"class_weight names class {key!r}, which is not one of: {known}")
        weights[index] = float(value)
    return weights


def balanced_sample_weights(targets: torch.Tensor) -> torch.Tensor:
    """Per-sample probability weights 1 / count[y_i] (float64, class ids N only).

    Raises:
        CnnlabError: masks: a sample holds many classes, so no draw balances them.
    """
    if targets.ndim != 1:
        raise CnnlabError(
            "sampler='balanced' needs class ids; masks hold many classes per sample. "
            "Use class_weight='balanced' instead"
        )
    counts = class_counts(targets, int(targets.max()) + 1).to(torch.float64)
    return 1.0 / counts[targets]
