"""Evaluation and prediction passes of a :class:`~cnnlab.train.Trainer`, in the precision
chosen for inference.

``eval_precision`` (a ``Trainer`` argument, by default the training's ``precision`` setting;
``precision=`` of one ``evaluate`` or ``predict`` call overrides it) is ``auto``, ``fp32`` or
``bf16``, resolved as training's ``precision`` is
(:func:`cnnlab.train.execution.resolve_precision`): bfloat16 autocast on CPUs that multiply
bfloat16 natively, float32 elsewhere (CUDA evaluates in float32 unless asked for ``bf16``).
Logits are cast to float32 before the loss, the softmax and the metrics, so only the
network's arithmetic is in bfloat16. The measured cost in accuracy, and the speed it buys,
are in docs/training.md ("How fast, and why").
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models.info import main_output
from cnnlab.train.execution import autocast, resolve_channels_last, resolve_precision
from cnnlab.train.feed import prediction_parts
from cnnlab.train.inputs import spec_for_data
from cnnlab.train.metrics import MetricState, predicted_class
from cnnlab.train.objective import match_target
from cnnlab.train.results import Evaluation, Prediction, prediction_context


def chosen_precision(trainer, precision: str | None) -> str:
    """The resolved precision of one call: ``precision`` when given, else the trainer's."""
    if precision is None:
        return trainer.execution.eval_precision
    return resolve_precision(precision, trainer.device)


@torch.inference_mode()
def evaluate_batches(trainer, batches, task: str, precision: str) -> Evaluation:
    """Loss and metrics over ``batches`` of model-ready (inputs, targets), summed over all
    processes; the result names the ``precision`` that produced it."""
    model = trainer.model
    model.eval()
    state = MetricState(trainer.num_outputs, task, trainer.config.top_k, trainer.metrics)
    state = state.to(trainer.device)
    for inputs, targets in batches:
        with autocast(precision, trainer.device):
            output = trainer.forward(model, inputs)
        logits = main_output(output).float()
        target = match_target(logits, targets)
        state.update(trainer.objective.loss(logits, target), logits, target)
    result = trainer._reduced(state).result()
    return Evaluation({**result, "precision": precision}, trainer.classes)


@torch.inference_mode()
def predict_samples(trainer, x, precision: str) -> Prediction:
    """Softmax probabilities and classes for the inputs ``x`` (see ``Trainer.predict``)."""
    parts, first, targets = prediction_parts(x, trainer.data_format, trainer.eval_batch_size)
    task_of = targets if targets is not None else torch.zeros(1)
    spec = trainer.input_spec or spec_for_data(trainer.model, first, task_of)
    trainer.model.eval()
    outputs = []
    for part in parts:
        with autocast(precision, trainer.device):
            output = trainer.forward(trainer.model, spec.apply(part).to(trainer.device))
        outputs.append(torch.softmax(main_output(output).float(), dim=1))
    probabilities = torch.cat(outputs).cpu()
    context = prediction_context(x, trainer.classes)
    return Prediction(probabilities, predicted_class(probabilities), **context)


def prepare_model(model: nn.Module, device: torch.device) -> bool:
    """Put a loaded ``model`` (eval mode, on ``device``) in the memory format a fit uses there
    (channels_last for a 2-D convolutional model on CPU); returns whether it did."""
    chosen = resolve_channels_last("auto", model, device, reduced=True)
    if chosen:
        model.to(memory_format=torch.channels_last)
    return chosen


def forward_logits(
    model: nn.Module, x: torch.Tensor, precision: str, channels_last: bool = False
) -> torch.Tensor:
    """The main output of ``model(x)`` as float32, computed in ``precision`` (resolved)."""
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(precision, x.device):
        output = model(x)
    return main_output(output).float()
