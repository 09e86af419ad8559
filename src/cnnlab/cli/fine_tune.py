"""``cnnlab fine-tune MODEL --weights W --dataset NAME``: a pretrained network fine-tuned on
your images (:func:`cnnlab.train.fine_tune`), written as a run directory that ``evaluate``,
``predict``, ``export`` and the studio read like any other.

The run records the model's name and arguments (``num_classes`` from the data, and what the
weights need, such as GoogLeNet's ``variant``), the data and the input normalisation of the
weights; the trained weights are in its checkpoints. A fine-tune run is not resumed: its
optimizer is a factory of this command, which ``cnnlab train --resume`` does not rebuild.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from cnnlab.cli.options import (
    data_source_options,
    dataset_options_option,
    fit_display_options,
    model_args_option,
    parse_options,
    run_folder_options,
)
from cnnlab.data import load
from cnnlab.data.download import data_root
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model, model_info
from cnnlab.models.source import is_import_path
from cnnlab.runs import RunLayout, RunRecorder, TrainJob
from cnnlab.train.environment import seed_everything
from cnnlab.train.execution import PRECISIONS
from cnnlab.train.finetune import fine_tune
from cnnlab.train.optim import OPTIMIZERS
from cnnlab.train.results import metric_text


def _phase(label: str, rows: list[dict[str, float]]) -> str:
    """``frozen backbone, 2 epochs: val_accuracy 88.89%, val_loss 0.81``."""
    if not rows:
        return f"{label}: no epochs"
    shown = [k for k in ("val_accuracy", "val_loss", "accuracy", "loss") if k in rows[-1]][:2]
    values = ", ".join(f"{k} {metric_text(k, rows[-1][k])}" for k in shown)
    return f"{label}, {len(rows)} epoch{'s' * (len(rows) != 1)}: {values}"


@click.command("fine-tune")
@click.argument("model")
@click.option(
    "--weights",
    required=True,
    help="Published weights (imagenet, IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT), a URL or a "
    ".pth file in torchvision's or cnnlab's layout.",
)
@click.option("--dataset", required=True, help="Registered dataset, e.g. image-folder.")
@dataset_options_option("-o path=photos -o size=224x224")
@click.option("--train-split", default="train", show_default=True, help="Training split.")
@click.option("--val-split", default=None, help="Validation split (instead of holding out).")
@click.option(
    "--validation-split",
    type=float,
    default=0.2,
    show_default=True,
    help="Without --val-split, hold out this fraction of the training split (per class).",
)
@click.option("--epochs-frozen", type=int, default=1, show_default=True, help="Head only.")
@click.option("--epochs", type=int, default=3, show_default=True, help="Then everything.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="The head's rate.")
@click.option(
    "--lr-ratio",
    type=float,
    default=100.0,
    show_default=True,
    help="The stem learns at lr / lr-ratio; the stages between, geometrically.",
)
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="Training arithmetic, as cnnlab train's.",
)
@model_args_option
@data_source_options
@run_folder_options
@fit_display_options
@click.pass_context
def fine_tune_command(
    ctx: click.Context,
    model,
    weights,
    dataset,
    dataset_options,
    train_split,
    val_split,
    validation_split,
    epochs_frozen,
    epochs,
    lr,
    lr_ratio,
    optimizer,
    batch_size,
    weight_decay,
    seed,
    precision,
    model_args,
    data_dir,
    no_download,
    out,
    name,
    device,
    quiet,
):
    """Fine-tune MODEL from pretrained --weights on --dataset: the new head with the backbone
    frozen (--epochs-frozen), then everything with lower rates for earlier layers (--epochs).

    \b
    cnnlab fine-tune resnet18 --weights imagenet --dataset image-folder \\
        -o path=photos -o size=224x224 --epochs-frozen 2 --epochs 3 --lr 1e-3
    """
    if is_import_path(model):
        raise CnnlabError(
            f"fine-tune takes a zoo model (resnet18, googlenet...). Received: {model}"
        )
    options = parse_options(dataset_options)
    if dataset == "image-folder":
        options.setdefault("mode", "RGB")  # the weights take 3 channels, even for gray photos
        if "path" in options:  # found again by evaluate and predict from any folder
            options["path"] = str(Path(str(options["path"])).expanduser().resolve())
    download = not no_download
    train = load(dataset, train_split, data_dir, download, **options)
    validation = load(dataset, val_split, data_dir, download, **options) if val_split else None
    held = None if val_split else validation_split
    kwargs: dict = {"num_classes": len(train.classes)}
    if train.images is not None and train.images.shape[2] == train.images.shape[3]:
        kwargs["image_size"] = int(train.images.shape[2])
    kwargs.update(parse_options(model_args, "dropout=0.5"))
    seed_everything(seed)  # the new classifier's initialisation
    net = create_model(model, weights=weights, **kwargs)
    info = model_info(net)
    click.echo(
        f"{info.name} with weights {weights}: classifier new for {len(train.classes)} classes "
        f"({', '.join(train.classes[:6])}{' ...' * (len(train.classes) > 6)}); inputs "
        f"normalised by mean {info.mean} std {info.std}"
    )
    job = TrainJob(
        model=info.name,
        dataset=dataset,
        train_split=train_split,
        val_split=val_split,
        validation_split=held,
        model_kwargs=net.build_kwargs,
        dataset_options=options,
        mean=list(info.mean) if info.mean else None,
        std=list(info.std) if info.std else None,
        data_dir=str(data_root(data_dir).resolve()),
    )
    command = shlex.join(["cnnlab", *(ctx.obj or {}).get("argv", [])])
    recorder = RunRecorder(
        new_in=out,
        name=name or f"{info.name}-{dataset}",
        run_info=job.to_json() | {"command": command},
    )
    result = fine_tune(
        net,
        train,
        validation_data=validation,
        validation_split=held,
        epochs_frozen=epochs_frozen,
        epochs=epochs,
        lr=lr,
        lr_ratio=lr_ratio,
        optimizer=optimizer,
        callbacks=[recorder],
        classes=list(train.classes),
        batch_size=batch_size,
        weight_decay=weight_decay,
        seed=seed,
        precision=precision,
        device=device,
        verbose=2 if quiet else 1,
    )
    rates = list(result.rates.items())
    click.echo(_phase("frozen backbone", result.frozen.rows))
    click.echo(
        _phase(
            f"unfrozen (lr {rates[0][1]:.2g} {rates[0][0]} .. {rates[-1][1]:.2g} {rates[-1][0]})",
            result.unfrozen.rows,
        )
    )
    run_dir = recorder.layout.root
    click.echo(f"run written to {run_dir}  (report: {RunLayout(run_dir).report_html})")
