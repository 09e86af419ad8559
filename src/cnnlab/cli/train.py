"""``cnnlab train``, ``cnnlab evaluate`` and ``cnnlab predict``: runs from the command line.

The training options are generated from :class:`~cnnlab.train.TrainConfig`'s fields
(:mod:`cnnlab.cli.settings`); the rest are the job's (model, data) and runtime options.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import click

from cnnlab.cli.lr_find import lr_find_job
from cnnlab.cli.options import (
    data_source_options,
    dataset_options_option,
    evaluation_options,
    fit_display_options,
    model_args_option,
    parse_options,
    run_folder_options,
)
from cnnlab.cli.settings import settings_from_options, settings_options
from cnnlab.data.recipes import recipe_names
from cnnlab.errors import CnnlabError
from cnnlab.runs import TrainJob, apply_recipe, load_run, resume_job, run_job
from cnnlab.runs.job import evaluation_data, progress
from cnnlab.runs.layout import RunLayout
from cnnlab.runs.predict import predict_files
from cnnlab.runs.recipe import AUTO
from cnnlab.train import TrainConfig, Trainer
from cnnlab.train.augmentation import augmentation_names
from cnnlab.train.data import SPLIT_MODES
from cnnlab.train.distributed import leave_world
from cnnlab.train.execution import PRECISIONS

PRECISION_HELP = (
    "Arithmetic of the forward pass: auto (bfloat16 autocast on CPUs that multiply bfloat16 "
    "natively, else float32), fp32 or bf16  [default: the run's training setting]"
)
PRECISION_NAMES = {"fp32": "float32", "bf16": "bfloat16 autocast"}


@click.command()
@click.argument("model", required=False)
@click.option("--dataset", help="Registered dataset (cnnlab datasets list).")
@click.option("--train-split", default="train", show_default=True, help="Training split.")
@click.option("--val-split", default=None, help="Validation split (default: validation/test).")
@click.option(
    "--validation-split",
    type=float,
    default=None,
    help="Hold out this fraction of the training split for validation.",
)
@click.option(
    "--split",
    "split",
    type=click.Choice(SPLIT_MODES),
    default="stratified",
    show_default=True,
    help="How --validation-split holds out: per class, seeded random, or the last samples.",
)
@click.option(
    "--recipe",
    type=click.Choice([AUTO, *recipe_names()]),
    default=AUTO,
    show_default=True,
    help="Settings to start from: auto (the data set's card: cnnlab datasets info NAME), plain "
    "(Adam 1e-3, constant rate, no augmentation) or a named recipe; flags override each piece "
    "(the defaults shown below are plain's).",
)
@settings_options(TrainConfig)
@click.option(
    "--augment",
    type=click.Choice(augmentation_names()),
    default="none",
    show_default=True,
    help="Batch augmentation, applied identically to images and masks.",
)
@model_args_option
@dataset_options_option("-o length=50")
@data_source_options
@click.option(
    "--in-memory/--stream",
    "in_memory",
    default=None,
    help="Hold the training images in memory, or stream them from a disk cache (an "
    "image-folder with -o size=HxW)  [default: stream only what does not fit in memory]",
)
@click.option(
    "--data-cache",
    type=click.Path(path_type=Path),
    default=None,
    help="The disk cache of a streamed image folder (default: under --data-dir).",
)
@run_folder_options
@click.option(
    "--resume",
    "resume",
    type=click.Path(path_type=Path),
    default=None,
    help="Continue the run in this folder from its last checkpoint (with its settings).",
)
@click.option(
    "--checkpoint-every",
    type=int,
    default=None,
    help="Also checkpoint every N steps (default 0: at epoch ends; a resumed run keeps its own).",
)
@click.option(
    "--tensorboard",
    is_flag=True,
    help="Also write TensorBoard event files into RUN/tensorboard (pip install "
    "'cnnlab[tensorboard]'; then: tensorboard --logdir RUN).",
)
@fit_display_options
@click.option(
    "--lr-find",
    "lr_find",
    is_flag=True,
    help="Instead of training, run the learning-rate range test: print the suggested --lr "
    "and write its plot to --out.",
)
@click.pass_context
def train(
    ctx: click.Context,
    model,
    dataset,
    train_split,
    val_split,
    validation_split,
    split,
    recipe,
    augment,
    model_args,
    dataset_options,
    data_dir,
    no_download,
    in_memory,
    data_cache,
    out,
    name,
    resume,
    checkpoint_every,
    tensorboard,
    device,
    quiet,
    lr_find,
    **settings,
):
    """Train MODEL on --dataset and write a run directory (config, history, metrics,
    checkpoints, figures, report).

    \b
    cnnlab train lenet5 --dataset mnist --train-split 'test[:8000]' --val-split 'test[8000:]'
    cnnlab train lenet5 --dataset mnist --recipe plain --epochs 20
    cnnlab train lenet5 --dataset digits --epochs 20 --out runs
    cnnlab train lenet5 --dataset digits --lr-find
    cnnlab train --resume runs/lenet5-digits-20261126-101500
    """
    runtime = {"verbose": 2 if quiet else 1, "device": device}
    download = not no_download
    if resume is not None:
        done, planned = progress(resume)
        _check_resume_flags(ctx)
        epochs = settings["epochs"] if _given(ctx, "epochs") else None
        if epochs is not None and epochs < done:
            raise CnnlabError(
                f"{resume} has trained {done} epochs; --epochs must be {done} or more"
            )
        complete = RunLayout(resume).metrics.exists()  # killed before its outputs: finish them
        if done >= (epochs or planned) and complete:
            click.echo(
                f"{resume} finished {done} of {planned} epochs; nothing to train "
                f"(--epochs N, more than {done}, trains it on)"
            )
            return
        run_dir, history = resume_job(
            resume,
            data_dir,
            download,
            checkpoint_every,
            epochs=epochs,
            tensorboard=tensorboard,
            **runtime,
        )
    else:
        if not model or not dataset:
            raise CnnlabError("train needs MODEL and --dataset (or --resume RUN_DIR)")
        if val_split and validation_split:
            raise CnnlabError("give --val-split or --validation-split, not both")
        job = TrainJob(
            model=model,
            dataset=dataset,
            train_split=train_split,
            val_split=val_split,
            validation_split=validation_split,
            split=split,
            model_kwargs=parse_options(model_args, "dropout=0.5"),
            dataset_options=parse_options(dataset_options),
            augment=augment,
            data_path={None: "auto", True: "in-memory", False: "stream"}[in_memory],
            data_cache=str(data_cache.resolve()) if data_cache else None,
            train=settings_from_options(TrainConfig, settings),
        )
        given = [p.name for p in ctx.command.params if _given(ctx, p.name)]
        job = apply_recipe(job, recipe, keep=given)
        if lr_find:
            default = f"{model.rpartition(':')[2]}-{dataset}"
            lr_find_job(job, out, data_dir, download, name or default, device)
            return
        command = shlex.join(["cnnlab", *(ctx.obj or {}).get("argv", [])])
        run_dir, history = run_job(
            job,
            out,
            data_dir,
            download,
            name=name,
            command=command,
            checkpoint_every=checkpoint_every or 0,
            tensorboard=tensorboard,
            **runtime,
        )
    leave_world()  # all processes, before any of them exits
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if history.rows:
        last = history.rows[-1]
        shown = {
            k: v
            for k, v in last.items()
            if k in ("loss", "val_loss", "accuracy", "val_accuracy", "val_dice", "val_iou")
        }
        click.echo("final: " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    click.echo(f"run written to {run_dir}  (report: {RunLayout(run_dir).report_html})")


RESUME_FLAGS = {
    "resume",
    "epochs",
    "checkpoint_every",
    "tensorboard",
    "device",
    "quiet",
    "data_dir",
    "no_download",
}


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _check_resume_flags(ctx: click.Context) -> None:
    """--resume continues the run with its own settings: only where and how it runs, and a
    larger --epochs, may be given."""
    changed = [p for p in ctx.command.params if _given(ctx, p.name) and p.name not in RESUME_FLAGS]
    if changed:
        flags = ", ".join(p.opts[-1] if p.opts else p.name for p in changed)
        raise CnnlabError(
            f"--resume continues the run with its own settings; these cannot change it: {flags}"
            " (start a new run instead; --epochs N trains a finished run on)"
        )


def _print_metrics(result: dict, classes: list[str]) -> None:
    for key, value in result.items():
        if isinstance(value, float):
            click.echo(f"{key:<18}{value:.4f}")
    per_class = result.get("per_class", {})
    if "f1" in per_class and len(per_class["f1"]) <= 30:
        click.echo(f"{'class':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
        for i, name in enumerate(classes or map(str, range(len(per_class["f1"])))):
            click.echo(
                f"{name[:13]:<14}{per_class['precision'][i]:>10.4f}"
                f"{per_class['recall'][i]:>10.4f}{per_class['f1'][i]:>10.4f}"
                f"{int(per_class['support'][i]):>9}"
            )


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@evaluation_options("the run's")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None, help=PRECISION_HELP)
def evaluate(run_dir, split, checkpoint, data_dir, no_download, precision, as_json):
    """Evaluate the model of RUN_DIR on a split: loss, accuracy, per-class precision/recall/F1
    (or pixel accuracy, IoU and Dice)."""
    run = load_run(run_dir, checkpoint)
    job = run.config["run"]
    data, chosen = evaluation_data(
        run.config, split, data_dir, not no_download, source=run.layout.config
    )
    config = TrainConfig.from_json(run.config["train"])
    trainer = Trainer(
        run.model, config, input_spec=run.input_spec, verbose=0, eval_precision=precision
    )
    result = trainer.evaluate(data)
    result = {"split": chosen, "checkpoint": str(run.checkpoint), **result}
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{run.config['run']['model']} on {job['dataset']} {chosen} "
        f"({len(data):,} samples, {run.checkpoint.name}, epoch {run.epoch}, "
        f"{PRECISION_NAMES[result['precision']]})"
    )
    _print_metrics(result, run.classes)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top", type=int, default=3, show_default=True, help="Classes shown per file.")
@click.option(
    "--invert",
    type=click.Choice(["auto", "yes", "no"]),
    default="auto",
    show_default=True,
    help="Invert light-background grayscale images (MNIST style).",
)
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
)
@click.option(
    "--masks",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for predicted masks (segmentation; default: RUN_DIR/predictions).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help=PRECISION_HELP,
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def predict(run_dir, files, top, invert, checkpoint, masks, precision, as_json):
    """Predict image FILES (any size or mode) with the model of RUN_DIR."""
    if top < 1:
        raise CnnlabError(f"--top must be >= 1. Received: {top}")
    run = load_run(run_dir, checkpoint)
    results = predict_files(run, list(files), invert, top, masks, precision)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "file": str(r.file),
                        "top": [{"class": c, "probability": p} for c, p in r.top],
                        "probabilities": r.probabilities,
                        "inverted": r.inverted,
                        "mask": str(r.mask) if r.mask else None,
                    }
                    for r in results
                ]
            )
        )
        return
    for r in results:
        if r.mask is not None:
            shares = ", ".join(f"{name} {share:.1%}" for name, share in r.top)
            click.echo(f"{r.file}: mask {r.mask} ({shares})")
            continue
        best, probability = r.top[0]
        others = ", ".join(f"{c} {p:.1%}" for c, p in r.top[1:])
        note = " (inverted)" if r.inverted else ""
        click.echo(
            f"{r.file}: {best} {probability:.1%}{note}" + (f"  [{others}]" if others else "")
        )
