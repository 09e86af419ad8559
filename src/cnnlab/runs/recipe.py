"""A job's settings from a recipe: the data set's own (``auto``), ``plain`` or any named one.

``cnnlab train`` calls :func:`apply_recipe` with the settings given on its command line, so
a flag overrides its piece of the recipe and leaves the rest; the job records the recipe's
name and its settings hold every resolved value, so ``config.json`` shows each piece and a
resumed run reads them back as they were (a resume never applies a recipe again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cnnlab.data import dataset_info
from cnnlab.data.recipes import PLAIN, Recipe, get_recipe
from cnnlab.errors import CnnlabError
from cnnlab.runs.job import TrainJob

AUTO = "auto"  # the recipe declared in the data set's card


def resolve_recipe(name: str, dataset: str) -> Recipe:
    """The recipe ``name`` stands for on ``dataset``: ``auto`` is the data set's own (plain
    when its card declares none).

    Raises:
        CnnlabError: an unknown recipe or data set name.
    """
    if name == AUTO:
        return dataset_info(dataset).recipe or PLAIN
    return get_recipe(name)


def apply_recipe(job: TrainJob, name: str = AUTO, keep: Iterable[str] = ()) -> TrainJob:
    """``job`` with the settings and augmentation of recipe ``name``, except the pieces named
    in ``keep`` (settings given by the user), which stay as the job has them.

    Raises:
        CnnlabError: an unknown recipe, or one whose values the settings refuse.
    """
    recipe = resolve_recipe(name, job.dataset)
    kept = set(keep)
    settings = {k: v for k, v in recipe.settings().items() if k not in kept}
    try:
        train = job.train.updated(**settings)
    except CnnlabError as error:
        raise CnnlabError(f"recipe {recipe.name!r}: {error}") from error
    augment = job.augment if "augment" in kept else recipe.augment
    return replace(job, train=train, augment=augment, recipe=recipe.name)
