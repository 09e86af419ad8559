"""Fine-tuning a pretrained network on your own classes, as fastai's ``fine_tune``: the new
classifier first, with the backbone frozen, then everything, earlier layers more slowly.

- **Frozen** (``epochs_frozen`` epochs): the backbone's parameters do not train and its
  batch-norm layers stay in eval mode, so they normalise with the pretrained running mean and
  variance and do not update them. This is Keras' documented choice (a frozen
  ``BatchNormalization`` runs in inference mode); fastai instead trains batch norm with the
  head (``train_bn=True``). Only the classifier learns, at ``lr``.
- **Unfrozen** (``epochs`` epochs): everything trains, batch norm in training mode (its
  statistics adapt to your images), with discriminative learning rates: one per layer group
  (``model.layer_groups()``: stem, stages, head), rising geometrically from ``lr / lr_ratio``
  at the stem to ``lr`` at the classifier, ``lr_i = lr * lr_ratio ** (i / (n - 1) - 1)``
  (fastai's ``slice(lr / 100, lr)``; Howard & Ruder, "Universal Language Model Fine-tuning",
  2018, sec. 3.2).

Both phases are one fit of one :class:`~cnnlab.train.Trainer`: its optimizer holds every
group at its rate from the start (a frozen parameter gets no gradient, so the optimizer leaves
it alone) and a callback freezes or unfreezes at each epoch's start from the epoch number
alone, so a run directory holds both phases as one history.

>>> run = fine_tune(create_model("resnet18", weights="imagenet", num_classes=3),
...                 train, validation, epochs_frozen=2, epochs=3)  # doctest: +SKIP
>>> run.frozen, run.unfrozen  # the history of each phase  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.display import block, heading
from cnnlab.errors import CnnlabError
from cnnlab.train.callbacks import Callback
from cnnlab.train.history import History
from cnnlab.train.optim import OPTIMIZERS, build_optimizer, optimizer_name
from cnnlab.train.trainer import Trainer

BatchNorm = nn.modules.batchnorm._BatchNorm  # BatchNorm1d/2d/3d and SyncBatchNorm


def layer_groups(model: nn.Module) -> dict[str, list[nn.Module]]:
    """``model.layer_groups()``: the layers from input to output in named groups, the
    classifier(s) last, each an ``nn.Sequential`` ending with its ``nn.Linear``.

    Raises:
        CnnlabError: the model does not declare its groups, or they leave parameters out.
    """
    declared = getattr(model, "layer_groups", None)
    if not callable(declared):
        raise CnnlabError(
            f"{type(model).__name__} does not declare layer_groups() (stem, stages, head), "
            "which fine-tuning needs; the zoo's resnet and googlenet models do"
        )
    groups = declared()
    grouped = {id(p) for modules in groups.values() for m in modules for p in m.parameters()}
    left = sum(p.numel() for p in model.parameters() if id(p) not in grouped)
    if left:
        raise CnnlabError(
            f"{type(model).__name__}.layer_groups() leaves {left:,} parameters out; every "
            "parameter must be in one group"
        )
    return groups


def discriminative_rates(lr: float, lr_ratio: float, n: int) -> list[float]:
    """``n`` learning rates rising geometrically from ``lr / lr_ratio`` to ``lr``."""
    if n == 1:
        return [lr]
    return [lr * lr_ratio ** (i / (n - 1) - 1) for i in range(n)]


def replace_classifier(model: nn.Module, num_classes: int) -> None:
    """Give each classifier of the head group (main and auxiliary) ``num_classes`` freshly
    initialised outputs; a zoo model records the new ``num_classes`` for its run."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise CnnlabError(f"num_classes must be an integer >= 1. Received: {num_classes!r}")
    for head in layer_groups(model)["head"]:
        if not (isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Linear)):
            raise CnnlabError(f"a head must be an nn.Sequential ending with nn.Linear: {head}")
        if head[-1].out_features != num_classes:
            head[-1] = nn.Linear(head[-1].in_features, num_classes)
    if isinstance(getattr(model, "build_kwargs", None), dict):
        model.build_kwargs["num_classes"] = num_classes


class FreezeBackbone(Callback):
    """Keep ``backbone`` frozen, batch norm in eval mode, for the first ``epochs_frozen``
    epochs of a fit; trainable afterwards and once the fit ends."""

    def __init__(self, backbone: list[nn.Module], epochs_frozen: int) -> None:
        self.parameters = [p for m in backbone for p in m.parameters()]
        self.norms = [n for m in backbone for n in m.modules() if isinstance(n, BatchNorm)]
        self.epochs_frozen = epochs_frozen
        self.frozen = False

    def _freeze(self, frozen: bool) -> None:
        self.frozen = frozen
        for parameter in self.parameters:
            parameter.requires_grad_(not frozen)

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self._freeze(epoch < self.epochs_frozen)  # the epoch alone decides: resume is exact

    def on_train_batch_begin(self, trainer: Trainer, batch: int) -> None:
        if self.frozen:  # after the trainer's model.train(): pretrained statistics kept
            for norm in self.norms:
                norm.eval()

    def on_fit_end(self, trainer: Trainer) -> None:
        self._freeze(False)

    def on_fit_error(self, trainer: Trainer, error: BaseException) -> None:
        self._freeze(False)


@dataclass(repr=False)
class FineTuned:
    """What :func:`fine_tune` returns: the trainer (evaluate, predict) and both phases."""

    trainer: Trainer
    epochs_frozen: int
    rates: dict[str, float]

    @property
    def history(self) -> History:
        """Every epoch, frozen then unfrozen."""
        return self.trainer.history

    @property
    def frozen(self) -> History:
        return History(self.history.rows[: self.epochs_frozen])

    @property
    def unfrozen(self) -> History:
        return History(self.history.rows[self.epochs_frozen :])

    def __repr__(self) -> str:
        return f"FineTuned(frozen: {self.frozen!r}, unfrozen: {self.unfrozen!r})"

    def _repr_html_(self) -> str:
        parts = [heading(repr(self))]
        for phase in (self.frozen, self.unfrozen):
            if phase.rows:
                parts.append(phase._repr_html_())
        return block(*parts)


def fine_tune(
    model: nn.Module,
    x,
    y=None,
    validation_data=None,
    validation_split: float | None = None,
    *,
    num_classes: int | None = None,
    epochs_frozen: int = 1,
    epochs: int = 3,
    lr: float = 1e-3,
    lr_ratio: float = 100.0,
    optimizer: str = "adam",
    callbacks: list[Callback] | None = None,
    split: str = "stratified",
    **trainer_options,
) -> FineTuned:
    """Train ``model``'s classifier with the backbone frozen, then all of it with
    discriminative learning rates (see the module's docstring).

    Args:
        model: a model declaring ``layer_groups()`` (the zoo's ResNets and GoogLeNet),
            usually with published weights: ``create_model("resnet18", weights="imagenet")``.
        x, y, validation_data, validation_split, split: the data, as :meth:`Trainer.fit`.
        num_classes: replace the classifier(s) for this many classes (default: keep them).
        epochs_frozen: epochs with the backbone frozen (fastai's ``freeze_epochs``).
        epochs: epochs with everything trainable afterwards.
        lr: the classifier's learning rate, in both phases.
        lr_ratio: the stem learns at ``lr / lr_ratio``; the groups between, geometrically.
        optimizer: ``sgd``, ``adam`` or ``adamw`` (``weight_decay`` and ``momentum`` from the
            settings).
        callbacks: more callbacks (a :class:`~cnnlab.runs.RunRecorder` writes both phases).
        **trainer_options: :class:`Trainer` arguments and settings (``batch_size``,
            ``seed``, ``device``, ``verbose``, ``input_spec``, ``classes``...).

    Returns:
        :class:`FineTuned`: the trainer, the history of each phase and the group rates.

    Raises:
        CnnlabError: a model without layer groups, bad epochs or rates, or a setting the
            trainer refuses.
    """
    for name, value in (("epochs_frozen", epochs_frozen), ("epochs", epochs)):
        if not isinstance(value, int) or value < 0:
            raise CnnlabError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
    if epochs_frozen + epochs < 1:
        raise CnnlabError("fine_tune needs at least one epoch. Received: epochs_frozen=0, epochs=0")
    if not (isinstance(lr_ratio, int | float) and lr_ratio >= 1):
        raise CnnlabError(f"lr_ratio must be a number >= 1. Received: lr_ratio={lr_ratio!r}")
    name = optimizer_name(optimizer)
    if name not in OPTIMIZERS:  # a factory could not hold the groups' rates
        raise CnnlabError(
            f"fine_tune's optimizer is one of {', '.join(OPTIMIZERS)}. Received: {optimizer!r}"
        )
    if num_classes is not None:
        replace_classifier(model, num_classes)
    groups = layer_groups(model)
    rates = dict(zip(groups, discriminative_rates(lr, lr_ratio, len(groups)), strict=True))
    head = list(groups)[-1]
    order = [head, *list(groups)[:-1]]  # the head first: the history's lr column is its rate
    param_groups = [
        {"params": [p for m in groups[g] for p in m.parameters()], "lr": rates[g], "name": g}
        for g in order
    ]

    def build(_: object) -> torch.optim.Optimizer:  # all groups, whatever is trainable now
        cfg = trainer.config  # the trainer below: fit calls this factory
        return build_optimizer(name, param_groups, lr, cfg.weight_decay, cfg.momentum)

    backbone = [m for g in order[1:] for m in groups[g]]
    freeze = FreezeBackbone(backbone, epochs_frozen)
    trainer = Trainer(
        model,
        optimizer=build,
        lr=lr,
        epochs=epochs_frozen + epochs,
        callbacks=[freeze, *(callbacks or [])],
        **trainer_options,
    )
    trainer.fit(x, y, validation_data, validation_split, split=split)
    return FineTuned(trainer, epochs_frozen, rates)
