"""A training job from names: dataset + model + settings -> a run directory.

This is what ``cnnlab train`` and the experiments call. The job is plain data
(:class:`TrainJob`), saved in ``config.json``, so ``--resume`` rebuilds the same job.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from cnnlab.data import Dataset, dataset_info, load
from cnnlab.errors import CnnlabError
from cnnlab.files import read_json
from cnnlab.models import create_model
from cnnlab.runs.layout import check_run_dir, new_run_dir
from cnnlab.train.augmentation import get_augment
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import broadcast_object, init_world
from cnnlab.train.environment import auto_device, seed_everything
from cnnlab.train.history import History
from cnnlab.train.inputs import spec_for
from cnnlab.train.trainer import Trainer


@dataclass
class TrainJob:
    """What to train on what.

    Args:
        model: registry name (``cnnlab models``).
        dataset: registry name (``cnnlab datasets list``).
        train_split: TFDS split string of the training data.
        val_split: split evaluated after each epoch (None: ``validation_split`` or nothing).
        validation_split: the last fraction of the training split, as Keras.
        model_kwargs: builder arguments; ``num_classes``, ``in_channels``, ``image_size`` (or
            ``vocab_size``/``seq_len`` for text) are filled in from the dataset when absent.
        dataset_options: loader options (``length=`` for sms-spam, ...).
        augment: ``none``, ``shift-rotate`` or ``flip-elastic``.
        mean, std: per-channel standardization of inputs (None: only the 1/255 scaling).
        train: the training settings.
    """

    model: str
    dataset: str
    train_split: str = "train"
    val_split: str | None = None
    validation_split: float | None = None
    model_kwargs: dict = field(default_factory=dict)
    dataset_options: dict = field(default_factory=dict)
    augment: str = "none"
    mean: list[float] | None = None
    std: list[float] | None = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("train")
        return data

    @classmethod
    def from_config(cls, config: dict) -> TrainJob:
        """The job stored in a run's ``config.json``."""
        run = dict(config["run"])
        return cls(**run, train=TrainConfig.from_json(config["train"]))


def _derived_kwargs(data: Dataset) -> dict:
    """Builder arguments that follow from the data."""
    kwargs: dict = {"num_classes": len(data.classes)}
    if data.tokens is not None:
        kwargs["vocab_size"] = len(data.vocab)
        kwargs["seq_len"] = int(data.tokens.shape[1])
    elif data.images is not None:
        kwargs["in_channels"] = int(data.images.shape[1])
        if data.images.shape[2] == data.images.shape[3]:
            kwargs["image_size"] = int(data.images.shape[2])
    return kwargs


def build_model(name: str, data: Dataset, user_kwargs: dict) -> tuple[nn.Module, dict]:
    """The model for ``data`` and the kwargs it was built with.

    The data's image size is tried first; a model that cannot take it (LeNet-5 and 8x8
    digits) is built at its own size and the images are resized to it.
    """
    kwargs = {**_derived_kwargs(data), **user_kwargs}
    try:
        try:
            return create_model(name, **kwargs), kwargs
        except CnnlabError:
            if "image_size" in user_kwargs or "image_size" not in kwargs:
                raise
        kwargs.pop("image_size")
        return create_model(name, **kwargs), kwargs
    except CnnlabError as error:
        kind = "token ids" if data.tokens is not None else "images"
        shape = "x".join(
            map(str, (data.tokens if data.tokens is not None else data.images).shape[1:])
        )
        raise CnnlabError(
            f"{name} cannot be built for {data.info.name} ({kind} {shape}): {error}"
        ) from error


def _default_val_split(dataset: str, train_split: str) -> str | None:
    splits = dataset_info(dataset).splits
    for name in ("validation", "test"):
        if name in splits and not train_split.startswith(name):
            return name
    return None


def run_job(
    job: TrainJob,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    run_dir: str | os.PathLike | None = None,
    name: str | None = None,
    command: str | None = None,
) -> tuple[Path, History]:
    """Load the data, build the model, fit, and write the run; returns (run_dir, history).

    ``command`` is recorded in ``config.json`` as the way to reproduce the run (default: this
    process's command line)."""
    train = load(job.dataset, job.train_split, data_dir, download, **job.dataset_options)
    val_split = job.val_split
    if val_split is None and job.validation_split is None:
        val_split = _default_val_split(job.dataset, job.train_split)
    validation = (
        load(job.dataset, val_split, data_dir, download, **job.dataset_options)
        if val_split
        else None
    )
    seed_everything(job.train.seed, job.train.deterministic)
    model, kwargs = build_model(job.model, train, job.model_kwargs)
    job.model_kwargs, job.val_split = kwargs, val_split
    if run_dir is None:
        world = init_world(auto_device(job.train.device).type)
        if world.is_main:
            run_dir = new_run_dir(runs_dir or "runs", name or f"{job.model}-{job.dataset}")
        run_dir = broadcast_object(run_dir, world)
    trainer = _trainer(job, model, train, Path(run_dir), command)
    history = trainer.fit(train, validation, validation_split=job.validation_split)
    return Path(run_dir), history


def _trainer(
    job: TrainJob, model: nn.Module, train: Dataset, run_dir: Path, command: str | None = None
) -> Trainer:
    kind = "tokens" if train.tokens is not None else "image"
    spec = spec_for(model, kind, resize=train.masks is None, mean=job.mean, std=job.std)
    info = job.to_json() | {"command": command or shlex.join(["cnnlab", *sys.argv[1:]])}
    return Trainer(
        model,
        job.train,
        augment=get_augment(job.augment),
        input_spec=spec,
        run_dir=run_dir,
        run_info=info,
        classes=list(train.classes),
    )


def resume_job(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    **overrides,
) -> tuple[Path, History]:
    """Continue the run in ``run_dir`` from its last checkpoint (``overrides`` may change
    settings that do not alter the result, e.g. ``verbose`` or ``epochs`` to extend it)."""
    path = check_run_dir(run_dir)
    config = read_json(path / "config.json")
    run = {k: v for k, v in config["run"].items() if k != "command"}
    job = TrainJob.from_config({"run": run, "train": {**config["train"], **overrides}})
    train = load(job.dataset, job.train_split, data_dir, download, **job.dataset_options)
    validation = (
        load(job.dataset, job.val_split, data_dir, download, **job.dataset_options)
        if job.val_split
        else None
    )
    seed_everything(job.train.seed, job.train.deterministic)  # a restart re-initializes alike
    model = create_model(job.model, **job.model_kwargs)
    trainer = _trainer(job, model, train, path)
    trainer.run_info = config["run"]
    history = trainer.fit(train, validation, job.validation_split, resume=True)
    return path, history
