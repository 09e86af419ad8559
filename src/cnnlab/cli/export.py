"""``cnnlab export``: a trained run's model as ONNX or TorchScript, checked for parity."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.export import export_model
from cnnlab.runs import load_run


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (default: RUN_DIR/model.onnx or model.pt).",
)
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
)
def export(run_dir, fmt, out, checkpoint):
    """Export the model of RUN_DIR (dynamic batch size) and check that the file gives the same
    outputs as PyTorch (within 1e-4)."""
    run = load_run(run_dir, checkpoint)
    spec = run.input_spec
    input_size = None
    if spec.kind == "image" and spec.size is not None:
        input_size = (spec.channels, *spec.size)
    target = out or run.run_dir / ("model.onnx" if fmt == "onnx" else "model.pt")
    result = export_model(run.model, target, fmt, input_size=input_size)
    click.echo(
        f"wrote {result.path} ({result.file_size:,} bytes, input N x "
        f"{'x'.join(map(str, result.input_size))}); parity on batches "
        f"{', '.join(map(str, result.batch_sizes))}: max |diff| {result.max_abs_diff:.2e} "
        f"<= {result.tolerance:.2e}"
    )
