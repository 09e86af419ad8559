"""A training job from names: dataset + model + settings -> a run directory.

This is what ``cnnlab train`` and the experiments call. The job is plain data
(:class:`TrainJob`), saved in ``config.json``, so ``--resume`` rebuilds the same job. Its
path is the package's one direction: data sets -> model -> :class:`~cnnlab.train.Trainer`
-> :class:`~cnnlab.runs.RunRecorder` -> run directory.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from torch import nn

from cnnlab.data import Dataset, dataset_info, load
from cnnlab.data.download import data_root
from cnnlab.errors import CnnlabError
from cnnlab.files import write_json
from cnnlab.models import model_card
from cnnlab.models.source import (
    accepted_arguments,
    build_model,
    check_model_name,
    import_factory,
    is_import_path,
    module_folder,
)
from cnnlab.runs.layout import RunLayout, check_run_dir
from cnnlab.runs.load import check_architecture
from cnnlab.runs.recorder import RunRecorder
from cnnlab.runs.schema import check_run, fail, read_checkpoint, read_config
from cnnlab.runs.streaming import job_data
from cnnlab.train.augmentation import get_augment
from cnnlab.train.config import TrainConfig
from cnnlab.train.data import Samples, as_samples, split_validation, target_task
from cnnlab.train.environment import seed_everything
from cnnlab.train.history import History
from cnnlab.train.inputs import spec_for_data
from cnnlab.train.optim import CUSTOM
from cnnlab.train.state import check_finite, unprefixed
from cnnlab.train.trainer import Trainer


@dataclass
class TrainJob:
    """What to train on what.

    Args:
        model: registry name (``cnnlab models``), or your own model's class or factory as
            ``package.module:Name`` (imported from the current folder).
        model_folder: where ``package.module`` was found (recorded, so that other commands
            and other folders rebuild the model).
        data_dir: the data directory the run read (recorded, so that evaluate and resume
            find the data again from a new shell).
        dataset: registry name (``cnnlab datasets list``).
        train_split: TFDS split string of the training data.
        val_split: split evaluated after each epoch (None: ``validation_split`` or nothing).
        validation_split: hold out this fraction of the training split for validation.
        split: how: ``stratified`` (each class's share kept; default), ``random`` (seeded)
            or ``last`` (the final samples, as Keras).
        model_kwargs: builder arguments; ``num_classes``, ``in_channels``, ``image_size`` (or
            ``vocab_size``/``seq_len`` for text) are filled in from the dataset when absent.
        dataset_options: loader options (``length=`` for sms-spam, ...).
        augment: ``none`` or a registered augmentation (``shift-rotate``, ``flip-elastic``).
        mean, std: per-channel standardization of inputs (None: only the 1/255 scaling).
        recipe: the recipe the settings started from (recorded by
            :func:`~cnnlab.runs.apply_recipe`; ``train`` and ``augment`` are what count).
        data_path: ``auto`` (stream an image folder too large for memory), ``in-memory``
            or ``stream`` (:mod:`cnnlab.runs.streaming`); ``data_cache``: the cache folder.
        train: the training settings.
    """

    model: str
    dataset: str
    train_split: str = "train"
    val_split: str | None = None
    validation_split: float | None = None
    split: str = "stratified"
    model_kwargs: dict = field(default_factory=dict)
    dataset_options: dict = field(default_factory=dict)
    augment: str = "none"
    mean: list[float] | None = None
    std: list[float] | None = None
    model_folder: str | None = None
    data_dir: str | None = None
    recipe: str = "plain"
    data_path: str = "auto"
    data_cache: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("train")
        return data

    @classmethod
    def from_config(cls, config: dict, source: str | os.PathLike = "the run config") -> TrainJob:
        """The job stored in a run's ``config.json``, read from ``source`` (checked by
        :func:`~cnnlab.runs.schema.check_config`; the command line it records aside).

        Raises:
            CnnlabError: the run section is not a job's: no model or data set name (a run
                trained from Python), or facts a job does not have.
        """
        file, run = Path(source), check_run(config.get("run"), Path(source))
        for key in ("model", "dataset"):
            if not isinstance(run.get(key), str):
                fail(file, f"run.{key}", "a name (a run of cnnlab train or run_job)", run.get(key))
        unknown = sorted(set(run) - {f.name for f in fields(cls)} - {"train", "command"})
        if unknown:
            raise CnnlabError(
                f"{file}: run holds {', '.join(unknown)[:80]}, which no cnnlab train job has; "
                "remove them, or load the run with cnnlab.load_run"
            )
        settings = {k: v for k, v in run.items() if k != "command"}
        return cls(**settings, train=TrainConfig.from_json(config.get("train") or {}))


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


def _for_data(name: str, data: Dataset) -> dict:
    """The builder arguments that follow from ``data`` and that ``name``'s builder takes (a
    model of your own gets those its signature names)."""
    derived = _derived_kwargs(data)
    if not is_import_path(name):
        return derived
    accepted = accepted_arguments(import_factory(name)) or set()
    return {k: v for k, v in derived.items() if k in accepted}


def build_for_data(name: str, data: Dataset, user_kwargs: dict) -> tuple[nn.Module, dict]:
    """The model for ``data`` and the kwargs it was built with.

    The data's image size is tried first; a model that cannot take it (LeNet-5 and 8x8
    digits) is built at its own size and the images are resized to it.
    """
    kwargs = {**_for_data(name, data), **user_kwargs}
    try:
        try:
            return build_model(name, kwargs), kwargs
        except CnnlabError:
            if "image_size" in user_kwargs or "image_size" not in kwargs:
                raise
        kwargs.pop("image_size")
        return build_model(name, kwargs), kwargs
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


def evaluation_data(
    config: dict,
    split: str | None,
    data_dir: str | os.PathLike | None,
    download: bool,
    source: str | os.PathLike = "the run config",
) -> tuple[Dataset | Samples, str]:
    """The data a run is evaluated on, found again from its record: ``split`` of its data set,
    else its validation split, else the part ``validation_split`` held out (the same samples:
    the split is seeded); and a name for it. ``source``: the config's file, for messages.

    Raises:
        CnnlabError: a run trained on data given in Python, or one without validation data
            and no ``split``.
    """
    run = config.get("run", {})
    if not isinstance(run, dict) or "dataset" not in run:
        raise CnnlabError(
            "the run was trained on data given in Python, which it cannot find again; "
            "evaluate it with cnnlab.load_run and Trainer(run.model).evaluate(x, y)"
        )
    job = TrainJob.from_config(config, source)
    where = data_dir or job.data_dir
    chosen = split or job.val_split
    if chosen:
        return load(job.dataset, chosen, where, download, **job.dataset_options), chosen
    if not job.validation_split:
        raise CnnlabError("the run has no validation data; pass --split (e.g. --split test)")
    train = as_samples(load(job.dataset, job.train_split, where, download, **job.dataset_options))
    _, held = split_validation(train, job.validation_split, job.split, job.train.seed)
    return held, f"{job.train_split} held out ({job.validation_split:g}, {job.split})"


def _check_task(name: str, data: Dataset) -> None:
    """Refuse a zoo model whose task is not the data's (a segmentation U-Net on digit labels)
    before the data is prepared; your own model is checked by the trainer on one sample."""
    if is_import_path(name):
        return
    wanted, have = model_card(name).task, target_task(data.tensors()[1])
    if wanted is not None and wanted != have:
        raise CnnlabError(
            f"{name} is a {wanted} model but {data.info.name} is {have} data; "
            f"choose a {have} model (cnnlab models) or a {wanted} dataset (cnnlab datasets list)"
        )


def _trainer(job: TrainJob, model: nn.Module, train: Dataset, recorder: RunRecorder, **runtime):
    inputs, targets = train.tensors()
    spec = spec_for_data(model, inputs, targets, mean=job.mean, std=job.std)
    return Trainer(
        model,
        job.train,
        augment=get_augment(job.augment),
        input_spec=spec,
        classes=list(train.classes),
        callbacks=[recorder],
        **runtime,
    )


def run_job(
    job: TrainJob,
    runs_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    run_dir: str | os.PathLike | None = None,
    name: str | None = None,
    command: str | None = None,
    checkpoint_every: int = 0,
    tensorboard: bool = False,
    **runtime,
) -> tuple[Path, History]:
    """Load the data, build the model, fit, and write the run; returns (run_dir, history).

    Args:
        job: what to train on what.
        runs_dir: the folder where a fresh run directory ``NAME-YYYYmmdd-HHMMSS`` is made.
        data_dir, download: where the data sets are, and whether missing files are fetched.
        run_dir: instead of a fresh folder under ``runs_dir``, this folder.
        name: the fresh folder's name (default ``MODEL-DATASET``).
        command: recorded in ``config.json`` as the way to reproduce the run (default: this
            process's command line).
        checkpoint_every: also checkpoint every N steps.
        tensorboard: also write TensorBoard event files into ``RUN/tensorboard``.
        **runtime: the trainer's runtime options (``device``, ``verbose``, ``sync_every``,
            ``eval_batch_size``).
    """
    check_model_name(job.model, job.model_kwargs)
    if job.val_split is None and job.validation_split is None:
        job.val_split = _default_val_split(job.dataset, job.train_split)
    job.data_dir = str(data_root(data_dir).resolve())
    if "path" in job.dataset_options:  # a folder of the user's: found from any folder later
        job.dataset_options["path"] = str(Path(job.dataset_options["path"]).resolve())
    train, validation, built_for = job_data(job, job.data_dir, download, runtime)
    _check_task(job.model, built_for)
    seed_everything(job.train.seed, job.train.deterministic)  # the model's initialization
    model, job.model_kwargs = build_for_data(job.model, built_for, job.model_kwargs)
    if is_import_path(job.model):
        job.model_folder = module_folder(job.model)
    info = job.to_json() | {"command": command or shlex.join(["cnnlab", *sys.argv[1:]])}
    where = {"run_dir": run_dir} if run_dir is not None else {"new_in": runs_dir or "runs"}
    recorder = RunRecorder(
        **where,
        name=name or f"{job.model.rpartition(':')[2]}-{job.dataset}",
        run_info=info,
        checkpoint_every=checkpoint_every,
        tensorboard=tensorboard,
    )
    trainer = _trainer(job, model, built_for, recorder, **runtime)
    history = trainer.fit(train, validation, validation_split=job.validation_split, split=job.split)
    return recorder.layout.root, history


def progress(run_dir: str | os.PathLike) -> tuple[int, int]:
    """(epochs trained, epochs planned) of a run, from its last checkpoint and config (both
    checked: :mod:`cnnlab.runs.schema`)."""
    layout = check_run_dir(run_dir)
    planned = TrainConfig.from_json(read_config(layout.config)["train"]).epochs
    if not layout.last.exists():
        return 0, planned
    return read_checkpoint(layout.last, last=True)[1]["epoch"], planned


def _extend(layout: RunLayout, config: dict, epochs: int) -> None:
    """Plan ``epochs`` epochs for the run (recorded in its config)."""
    done, planned = progress(layout.root)
    if epochs < done:
        raise CnnlabError(
            f"{layout.root} has trained {done} epochs; --epochs must be {done} or more"
        )
    schedule = config["train"].get("schedule", "constant")
    if epochs > planned and schedule in ("cosine", "one-cycle"):
        raise CnnlabError(
            f"the run's {schedule} schedule was planned for {planned} epochs and cannot be "
            "stretched; start a new run for more epochs"
        )
    if epochs != planned:
        config["train"]["epochs"] = epochs
        write_json(layout.config, config)


def _check_rebuildable(job: TrainJob, layout: RunLayout) -> None:
    """Refuse, before anything is written, a run whose optimizer or schedule was a factory
    given in Python (a fine-tune's layer groups): a command line cannot build it again."""
    made = [name for name in ("optimizer", "schedule") if getattr(job.train, name) == CUSTOM]
    if made:
        raise CnnlabError(
            f"{layout.root} was trained with a {' and '.join(made)} built in Python (a "
            "fine-tune's learning rates per layer group), which --resume cannot rebuild; "
            "run the fine-tune again, or resume it in Python with RunRecorder(run, resume=True)"
        )


def resume_job(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    checkpoint_every: int | None = None,
    epochs: int | None = None,
    tensorboard: bool = False,
    **runtime,
) -> tuple[Path, History]:
    """Continue the run in ``run_dir`` from its last checkpoint, with the job and settings of
    its ``config.json`` (``checkpoint_every``: the run's own unless given; ``epochs``: train
    a run on to this many epochs; ``tensorboard``: log for TensorBoard, as a run that has
    ``RUN/tensorboard`` already does; ``runtime`` as in :func:`run_job`).

    Raises:
        CnnlabError: ``epochs`` below what the run has trained, or beyond the end of a
            schedule planned for its epochs (cosine, one-cycle); a damaged config or last
            checkpoint, or weights that do not fit the model, before any data is read.
    """
    layout = check_run_dir(run_dir)
    config = read_config(layout.config)
    job = TrainJob.from_config(config, layout.config)
    if layout.last.exists():  # the weights the recorder restores, checked before any work
        weights = unprefixed("model.", read_checkpoint(layout.last, last=True)[0])
        check_architecture(layout, config, weights, str(layout.last))
        check_finite(weights, str(layout.last))
    _check_rebuildable(job, layout)
    if epochs is not None:
        _extend(layout, config, epochs)
        job.train = TrainConfig.from_json(config["train"])
    if checkpoint_every is None:  # runs written before the recorder kept it stored it in train
        saved = config.get("recorder", config["train"])
        checkpoint_every = saved.get("checkpoint_every", 0)
    where = data_dir or job.data_dir
    train, validation, built_for = job_data(job, where, download, runtime)
    seed_everything(job.train.seed, job.train.deterministic)  # a restart re-initializes alike
    model = build_model(job.model, job.model_kwargs, job.model_folder)
    recorder = RunRecorder(
        layout.root,
        run_info=config["run"],
        resume=True,
        checkpoint_every=checkpoint_every,
        tensorboard=tensorboard or layout.tensorboard.is_dir(),
    )
    trainer = _trainer(job, model, built_for, recorder, **runtime)
    history = trainer.fit(train, validation, validation_split=job.validation_split, split=job.split)
    return layout.root, history
