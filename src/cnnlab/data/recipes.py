"""Training recipes: the settings ``cnnlab train`` starts from, declared in a data set's card.

A recipe is plain data (the names and values of training settings), so this layer needs
nothing from the trainer: :func:`cnnlab.runs.apply_recipe` turns it into a job's settings,
and the settings a user gives on the command line win over it piece by piece.

- ``plain``: the textbook settings (Adam 1e-3, constant rate, batch 64, 10 epochs, no label
  smoothing, no augmentation), exactly ``TrainConfig()``'s defaults; for teaching comparisons.
- ``digits``: measured on real MNIST (``docs/training.md``): AdamW with decoupled weight decay,
  a one-cycle schedule (its first 30% of steps warm the rate up from lr/25), label smoothing
  0.1 and whole-pixel shifts.
- ``digits-fast``: two epochs of a batch-norm network (``fastcnn``) at a higher rate, without
  augmentation (in a run this short it costs more than it gives): what reaches 99% soonest.
- ``natural-images``: random 4-px crops and mirrors (He et al. 2016), AdamW one-cycle, label
  smoothing 0.1; the CIFAR practice, declared for CIFAR-10 (no CIFAR data on the machine
  where the others were measured).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cnnlab.registry import Registry


@dataclass(frozen=True)
class Recipe:
    """Training settings chosen for a kind of data.

    Args:
        name: registry name (``--recipe NAME``).
        description: one line: what it is for and where its numbers come from.
        epochs: passes over the training data.
        batch_size: samples per update.
        optimizer: sgd, adam or adamw.
        lr: (peak) learning rate.
        weight_decay: L2 (Adam) or decoupled (AdamW) weight decay.
        schedule: constant, step, cosine, one-cycle (with its warm-up) or plateau.
        label_smoothing: cross-entropy label smoothing.
        augment: a registered batch augmentation, or ``none``.
    """

    name: str
    description: str
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    label_smoothing: float = 0.0
    augment: str = "none"

    def settings(self) -> dict:
        """The training settings (``TrainConfig`` fields), without ``augment``."""
        values = asdict(self)
        for key in ("name", "description", "augment"):
            values.pop(key)
        return values


RECIPES: Registry[Recipe] = Registry("recipe")
PLAIN = RECIPES.add("plain", Recipe("plain", "the textbook settings: Adam 1e-3, constant rate"))
DIGITS = RECIPES.add(
    "digits",
    Recipe(
        "digits",
        "handwritten digits: AdamW one-cycle, label smoothing, 2-px shifts (measured on MNIST)",
        epochs=30,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=0.01,
        schedule="one-cycle",
        label_smoothing=0.1,
        augment="shift",
    ),
)
DIGITS_FAST = RECIPES.add(
    "digits-fast",
    Recipe(
        "digits-fast",
        "digits in seconds with fastcnn: 2 epochs, no augmentation (measured on MNIST)",
        epochs=2,
        batch_size=128,
        optimizer="adamw",
        lr=8e-3,
        weight_decay=0.05,
        schedule="one-cycle",
        label_smoothing=0.1,
    ),
)
NATURAL_IMAGES = RECIPES.add(
    "natural-images",
    Recipe(
        "natural-images",
        "photographs: 4-px crops and mirrors, AdamW one-cycle, label smoothing (CIFAR practice)",
        epochs=30,
        batch_size=128,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=0.05,
        schedule="one-cycle",
        label_smoothing=0.1,
        augment="flip-crop",
    ),
)


def recipe_names() -> list[str]:
    """What ``--recipe`` accepts besides ``auto`` (the data set's own)."""
    return RECIPES.names()


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        CnnlabError: no recipe has that name (the message lists the known ones).
    """
    return RECIPES.get(name)
