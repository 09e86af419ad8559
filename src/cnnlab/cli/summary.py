"""``cnnlab summary`` and ``cnnlab models``: inspect registered models layer by layer."""

from __future__ import annotations

import json

import click

from cnnlab.cli.options import model_args_option, parse_options
from cnnlab.models import list_models
from cnnlab.runs.load import architecture
from cnnlab.shapes import parse_dims
from cnnlab.summary import summarize
from cnnlab.summary.catalog import model_catalog


@click.command()
@click.argument("model")
@model_args_option
@click.option(
    "--input",
    "input_size",
    default=None,
    help="Input size WITHOUT the batch, in PyTorch order C x H x W (e.g. 1x32x32; note: the "
    "reverse of the notes' H x W x C). Default: the model's canonical input.",
)
@click.option("--batch", type=int, default=1, show_default=True, help="Batch size N.")
@click.option("--num-classes", type=int, default=None, help="Build the model with N classes.")
@click.option("--train-mode", is_flag=True, help="Trace in training mode (dropout, aux heads).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def summary(model, model_args, input_size, batch, num_classes, train_mode, as_json):
    """Per-layer table of MODEL: shapes, parameters, MACs, receptive fields. MODEL is a
    registered model, your own package.module:Name, or a run directory.

    \b
    cnnlab summary lenet5 --input 1x32x32
    cnnlab summary lenet5 -m image_size=28 --input 1x28x28
    cnnlab summary mymodels:Net --input 3x32x32
    cnnlab summary resnet20 --json
    """
    kwargs = parse_options(model_args, "image_size=28")
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    net, trained_on = architecture(model, kwargs)  # on meta: shapes and counts only
    size = parse_dims(input_size, name="input (C x H x W)") if input_size else trained_on
    result = summarize(net, size, batch_size=batch, mode="train" if train_mode else "eval")
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        result.print(click.echo)


@click.command()
@click.argument("pattern", default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def models(pattern, as_json):
    """List registered models (optionally matching PATTERN, e.g. 'resnet*') with their costs."""
    entries = model_catalog(list_models(pattern))
    if as_json:
        click.echo(json.dumps(entries))
        return
    header = ("model", "input (C x H x W)", "params", "MACs")
    rows = [
        (e["name"], "x".join(map(str, e["input_size"])), f"{e['params']:,}", f"{e['macs']:,}")
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells))
