"""A training state as tensors plus JSON: what :meth:`Trainer.state_dict` returns and a run's
checkpoint file stores.

The tensors (weights, optimizer moments, metric counts, RNG states) are named with a prefix
(``model.``, ``optim.``, ``metrics.``, ``rng.``); everything else (positions, settings,
schedule and callback states, the history) is JSON-able metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.environment import rng_state, set_rng_state
from cnnlab.train.metrics import MetricState

if TYPE_CHECKING:
    from cnnlab.train.trainer import Trainer


class TrainingState(NamedTuple):
    """Everything needed to continue a fit exactly: named tensors and JSON-able metadata."""

    tensors: dict[str, torch.Tensor]
    meta: dict


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_weights(
    expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str, model: str
) -> None:
    """Refuse ``state`` for a model whose ``state_dict()`` is ``expected`` (its shapes and
    dtypes only: a model built on the ``meta`` device will do, so an absurd architecture is
    refused before its memory is allocated), in one line listing what does not match."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    common = [(k, state[k], v) for k, v in expected.items() if k in state]
    wrong = [
        f"{k} {tuple(s.shape)} vs {tuple(v.shape)}" for k, s, v in common if s.shape != v.shape
    ]
    kinds = [f"{k} {_dtype(s)} vs {_dtype(v)}" for k, s, v in common if s.dtype != v.dtype]
    problems = [
        (label, items)
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape (file vs model)", wrong),
            ("dtype (file vs model)", kinds),
        )
        if items
    ]
    if problems:
        detail = "; ".join(
            f"{len(items)} {label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
            for label, items in problems
        )
        raise CnnlabError(
            f"the weights in {source} do not fit {model} ({detail}); "
            "build the model with the run's config (model name and kwargs)"
        )


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinity: a diverged or altered training, whose
    predictions would all be NaN (a checksum cannot tell, it was computed on them)."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            what = "NaN" if bool(torch.isnan(tensor).any()) else "infinity"
            raise CnnlabError(
                f"the weights in {source} are not usable: {name} holds {what} (the training "
                "diverged or the file was altered); use another checkpoint or train again"
            )


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` once every tensor has the model's shape and dtype and
    every value is finite; else one line naming what is wrong (a cast would hide int64
    weights: 10% accuracy and no error)."""
    check_weights(model.state_dict(), state, source, type(model).__name__)
    check_finite(state, source)
    model.load_state_dict(state)


def optimizer_to_state(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into ``optim.``-named tensors and a JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    values: dict[str, dict[str, object]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                values.setdefault(str(index), {})[key] = value
    return tensors, {"values": values, "param_groups": state["param_groups"]}


def optimizer_from_state(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    """Load what :func:`optimizer_to_state` split, each moment in its parameter's layout."""
    state: dict[int, dict[str, object]] = {}
    for name, value in unprefixed("optim.", tensors).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, entries in meta["values"].items():
        state.setdefault(int(index), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    _match_parameter_layouts(optimizer)


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (Adam's moments, SGD's momentum) its parameter's
    memory layout. Saved tensors are contiguous, but PyTorch's fused optimizers walk
    parameter and state memory in storage order: a channels_last weight with contiguous
    moments would be updated with the moments of OTHER elements (a wrong step, not a rounding
    difference; tests/test_train_checkpoint.py shows it)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                same_shape = isinstance(value, torch.Tensor) and value.shape == param.shape
                if same_shape and value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param).copy_(value)


def capture(trainer: Trainer) -> TrainingState:
    """The trainer's state: weights, optimizer and schedule, the partial epoch's metric
    counts (summed over processes), the position, every callback's state and RNG state."""
    partial = trainer._train_state
    tensors = prefixed("model.", trainer.model.state_dict())
    update_tensors, update_meta = trainer.update.state_dict()
    tensors.update(update_tensors)
    if partial is not None:
        tensors.update(prefixed("metrics.", trainer._reduced(partial).state_dict()))
    rng_tensors, rng_values = rng_state()
    tensors.update(rng_tensors)
    spec = trainer.input_spec
    meta = {
        **trainer.position(),
        "task": trainer.task,
        "classes": trainer.classes,
        "input_spec": spec.to_json() if spec else None,
        "config": trainer.config.to_json(),
        **update_meta,
        "rng": rng_values,
        "callbacks": {key: c.state_dict() for key, c in trainer.callbacks.keyed()},
    }
    return TrainingState(tensors, meta)


def restore(trainer: Trainer, state: TrainingState, source: str) -> None:
    """Put ``state`` (from :func:`capture`) back into ``trainer``, whose optimizer exists."""
    if trainer.update is None:
        raise CnnlabError("load_state_dict needs the optimizer: call it from on_fit_start")
    tensors, meta = state
    load_weights(trainer.model, unprefixed("model.", tensors), source)
    trainer.update.load_state_dict(tensors, meta)
    partial = unprefixed("metrics.", tensors)
    trainer._train_state = None
    if partial:
        k = partial["matrix"].shape[0]
        counts = MetricState(k, meta["task"], trainer.config.top_k, trainer.metrics)
        counts = counts.to(trainer.device)
        if trainer.world.is_main:  # the others start from zero: the counts are summed
            counts.load_state_dict({n: t.to(trainer.device) for n, t in partial.items()})
        trainer._train_state = counts
    saved = meta["callbacks"]
    if "history" in meta:  # written before the history was a callback
        saved = {"History:1": {"rows": meta["history"]}, **saved}
    for key, callback in trainer.callbacks.keyed():
        if key in saved:
            callback.load_state_dict(saved[key])
    trainer.epoch, trainer.step_in_epoch = meta["epoch"], meta["step"]
    trainer.global_step = meta["global_step"]
    set_rng_state(tensors, meta["rng"])
