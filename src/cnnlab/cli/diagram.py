"""``cnnlab diagram``: a block diagram of a model, traced from a forward pass (SVG or PNG)."""

from __future__ import annotations

import click

from cnnlab.cli.options import model_args_option, parse_options
from cnnlab.diagram import diagram as draw
from cnnlab.runs.load import architecture


@click.command()
@click.argument("model_or_run")
@model_args_option
@click.option(
    "--out", "out", required=True, help="The file to write: NAME.svg or NAME.png (by suffix)."
)
@click.option(
    "--direction",
    type=click.Choice(["TB", "LR"], case_sensitive=False),
    default="TB",
    show_default=True,
    help="Top to bottom or left to right.",
)
@click.option(
    "--input",
    "input_size",
    default=None,
    help="Input size WITHOUT the batch, C x H x W (e.g. 1x32x32). Default: the model's own.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=None,
    help="0: every layer; N: one box per module at path depth N (stages.0.1 is depth 3). "
    "Default: chosen by the model's size.",
)
def diagram(model_or_run, model_args, out, direction, input_size, depth):
    """Draw MODEL_OR_RUN (a registered model, your own package.module:Name, or a run
    directory) as a block diagram: layers with their hyperparameters, output shapes and
    parameters; residual adds, Inception concatenations and U-Net skips as the merges they
    are.

    \b
    cnnlab diagram lenet5 --out lenet5.svg
    cnnlab diagram lenet5 -m image_size=28 --out lenet5-28.svg
    cnnlab diagram mymodels:Net --input 3x32x32 --out net.svg
    cnnlab diagram resnet20 --out resnet20.png --direction LR
    cnnlab diagram unet --input 1x188x188 --out unet.svg
    cnnlab diagram runs/demo --out model.svg
    """
    model, trained_on = architecture(model_or_run, parse_options(model_args, "image_size=28"))
    layout = draw(model, input_size or trained_on, out, direction, depth)
    shape = "U-shaped, " if layout.u_shaped else ""
    columns = f"{layout.columns} columns, " if layout.columns > 1 else ""
    click.echo(
        f"wrote {out} ({len(layout.boxes)} boxes, {shape}{columns}"
        f"{layout.width:.0f} x {layout.height:.0f} px)"
    )
