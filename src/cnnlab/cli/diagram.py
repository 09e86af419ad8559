"""``cnnlab diagram``: a block diagram of a model, traced from a forward pass (SVG or PNG)."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.diagram import diagram as draw
from cnnlab.diagram import load_model
from cnnlab.runs.load import run_architecture


@click.command()
@click.argument("model_or_run")
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
def diagram(model_or_run, out, direction, input_size, depth):
    """Draw MODEL_OR_RUN (a registered model, or a run directory with config.json) as a block
    diagram: layers with their hyperparameters, output shapes and parameters; residual adds,
    Inception concatenations and U-Net skips as the merges they are.

    \b
    cnnlab diagram lenet5 --out lenet5.svg
    cnnlab diagram resnet20 --out resnet20.png --direction LR
    cnnlab diagram unet --input 1x188x188 --out unet.svg
    cnnlab diagram runs/demo --out model.svg
    """
    is_run = Path(model_or_run).is_dir()
    model = run_architecture(model_or_run) if is_run else load_model(model_or_run)
    layout = draw(model, input_size, out, direction, depth)
    shape = "U-shaped, " if layout.u_shaped else ""
    columns = f"{layout.columns} columns, " if layout.columns > 1 else ""
    click.echo(
        f"wrote {out} ({len(layout.boxes)} boxes, {shape}{columns}"
        f"{layout.width:.0f} x {layout.height:.0f} px)"
    )
