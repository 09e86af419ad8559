"""``cnnlab kernels``: classic image kernels applied to a picture, shown side by side."""

from __future__ import annotations

import click

from cnnlab import kernels as K

DEFAULT_KERNELS = ("gaussian-blur-5x5", "sharpen", "outline", "sobel-x", "sobel-y", "emboss")
RANGE_HELP = (
    "Results leave 0..255: 'clip' cuts them, 'rescale' maps min..max to 0..255, "
    "'abs' shows |value| (cut at 255)."
)


@click.command()
@click.argument("image", required=False)
@click.option(
    "--kernel",
    "specs",
    multiple=True,
    help="A name (see --list) or a grid like '0,-1,0;-1,5,-1;0,-1,0'. Repeatable.",
)
@click.option(
    "--range",
    "range_mode",
    type=click.Choice(K.RANGE_MODES),
    default="clip",
    show_default=True,
    help=RANGE_HELP,
)
@click.option("--sum-channels", is_flag=True, help="One filter over all channels: one output map.")
@click.option("--out", default="kernels.png", show_default=True, help="Figure file to write.")
@click.option("--list", "list_only", is_flag=True, help="Print the named kernels and exit.")
def kernels(image, specs, range_mode, sum_channels, out, list_only):
    """Filter IMAGE with classic kernels (blur, sharpen, edges) and save a titled figure.

    \b
    cnnlab kernels photo.png --out kernels.png
    cnnlab kernels photo.png --kernel sobel-x --kernel "0,-1,0;-1,5,-1;0,-1,0" --range abs
    """
    if list_only:
        for name, build in K.KERNELS.items():
            rows = ";".join(",".join(f"{v:g}" for v in row) for row in build())
            click.echo(f"{name:<18} {rows}")
        return
    if image is None:
        raise click.UsageError("give an IMAGE to filter (or --list to see the kernels)")
    panels = K.filter_image(
        K.load_image(image), list(specs or DEFAULT_KERNELS), range_mode, sum_channels
    )
    path = K.save_figure(panels, out)
    click.echo(f"wrote {path} ({len(panels) - 1} kernels, range {range_mode})")
