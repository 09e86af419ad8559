"""``cnnlab train MODEL --dataset NAME --lr-find``: the learning-rate range test of a job
(:mod:`cnnlab.train.lr_range`) instead of its training. It prints the sweep, the suggested
``--lr`` and writes the figure; no run directory is made and nothing is trained."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cnnlab.data import load
from cnnlab.models.source import check_model_name
from cnnlab.runs import TrainJob
from cnnlab.runs.job import build_for_data
from cnnlab.train import LRFind, Trainer
from cnnlab.train.augmentation import get_augment
from cnnlab.train.data import as_samples, split_validation
from cnnlab.train.environment import seed_everything
from cnnlab.train.inputs import spec_for_data

SHOWN_ROWS = 10


def lr_find_job(
    job: TrainJob,
    out: Path,
    data_dir: str | os.PathLike | None,
    download: bool,
    name: str,
    device: str,
) -> LRFind:
    """Run the range test on ``job``'s training data (without the part ``validation_split``
    holds out), print it and write ``OUT/lr-find-NAME.png``."""
    check_model_name(job.model, job.model_kwargs)
    train = load(job.dataset, job.train_split, data_dir, download, **job.dataset_options)
    seed_everything(job.train.seed, job.train.deterministic)  # the model's initialization
    model, _ = build_for_data(job.model, train, job.model_kwargs)
    inputs, targets = train.tensors()
    trainer = Trainer(
        model,
        job.train,
        augment=get_augment(job.augment),
        input_spec=spec_for_data(model, inputs, targets, mean=job.mean, std=job.std),
        classes=list(train.classes),
        device=device,
        verbose=0,
    )
    data = as_samples(train)
    if job.validation_split:
        data, _ = split_validation(data, job.validation_split, job.split, job.train.seed)
    result = trainer.lr_find(data)
    cfg = job.train
    click.echo(
        f"lr_find {job.model} on {job.dataset} {job.train_split} ({len(data):,} samples, batch "
        f"{cfg.batch_size}, {cfg.optimizer}): {len(result.lrs)} steps, {result.stopped}"
    )
    click.echo(f"{'lr':>10}{'loss':>10}{'smoothed':>10}")
    every = max(1, len(result.lrs) // SHOWN_ROWS)
    for lr, loss, smooth in list(zip(result.lrs, result.losses, result.smoothed, strict=True))[
        ::every
    ]:
        click.echo(f"{lr:>10.2e}{loss:>10.4f}{smooth:>10.4f}")
    click.echo(
        f"suggested lr {result.suggestion:.2e} (steepest descent of the smoothed loss); "
        f"minimum at {result.minimum:.2e}, minimum/10 {result.minimum / 10:.2e}"
    )
    path = result.plot(Path(out) / f"lr-find-{name}.png")
    click.echo(f"plot: {path}")
    click.echo(f"train with: --lr {result.suggestion:.2g}")
    return result
