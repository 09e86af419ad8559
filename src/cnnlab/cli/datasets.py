"""``cnnlab datasets``: list, describe, download and look at the datasets of cnnlab.data."""

from __future__ import annotations

import math

import click

from cnnlab.cli.options import DATA_DIR_HELP, parse_options
from cnnlab.data import dataset_info, list_datasets, load
from cnnlab.data.download import data_root
from cnnlab.data.recipes import get_recipe
from cnnlab.errors import CnnlabError

MIRROR_HELP = "Base URL replacing the canonical source (default: $CNNLAB_MIRROR)."


@click.group()
def datasets() -> None:
    """Datasets: list them, read their metadata, download them, draw a grid of samples.

    \b
    cnnlab datasets list
    cnnlab datasets info mnist
    cnnlab datasets download fashion-mnist --data-dir ~/data
    cnnlab datasets show mnist --split "test[:16]" --out grid.png
    cnnlab datasets show isbi2012 --split validation --out isbi.png
    cnnlab datasets show image-folder -o path=photos -o size=64x64 --out photos.png
    """


@datasets.command("list")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def list_command(data_dir: str | None) -> None:
    """One line per dataset: name, task, splits, description."""
    rows = [(n, dataset_info(n)) for n in list_datasets()]
    width = max(len(n) for n, _ in rows)
    for name, info in rows:
        click.echo(
            f"{name:<{width}}  {info.task:<14}  {'/'.join(info.splits):<21}  {info.description}"
        )
    click.echo(f"data directory: {data_root(data_dir)}")


@datasets.command()
@click.argument("name")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
def info(name: str, data_dir: str | None) -> None:
    """Metadata of NAME: classes, shape, splits, source, license, citation, files and md5s."""
    meta = dataset_info(name)
    lines = [
        f"name:        {meta.name}",
        f"task:        {meta.task}",
        f"description: {meta.description}",
        f"classes:     {', '.join(meta.classes) or '(from the data)'}",
        f"shape:       {'x'.join(map(str, meta.shape))}",
        f"splits:      {', '.join(meta.splits)}",
        f"source:      {meta.source}",
        f"license:     {meta.license}",
        f"citation:    {meta.citation or '-'}",
        f"recipe:      {(meta.recipe or get_recipe('plain')).name} (cnnlab train's defaults)",
        f"data dir:    {data_root(data_dir)}",
    ]
    lines += [f"file:        {f}  md5 {md5 or '(none published)'}" for f, md5 in meta.files.items()]
    click.echo("\n".join(lines))


@datasets.command()
@click.argument("name")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--mirror", default=None, help=MIRROR_HELP)
def download(name: str, data_dir: str | None, mirror: str | None) -> None:
    """Download and verify every split of NAME into the data directory."""
    meta = dataset_info(name)
    if not meta.files:
        click.echo(f"{meta.name} needs no download ({meta.source})")
        return
    for split in meta.splits:
        part = load(meta.name, split, data_dir=data_dir, download=True, mirror=mirror)
        click.echo(f"{meta.name} {split}: {len(part)} samples, verified")
    click.echo(f"stored under {data_root(data_dir)}")


@datasets.command()
@click.argument("name")
@click.option("--split", default="train", show_default=True, help="Split string, e.g. test[:16].")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--count", default=16, show_default=True, help="Samples to draw (the first ones).")
@click.option("--data-dir", default=None, help=DATA_DIR_HELP)
@click.option("--no-download", is_flag=True, help="Fail instead of downloading missing files.")
@click.option("-o", "--option", "pairs", multiple=True, help="Dataset option key=value.")
def show(name, split, out, count, data_dir, no_download, pairs) -> None:
    """Draw a grid of labelled samples of NAME (masks overlaid for segmentation)."""
    if count < 1:
        raise CnnlabError(f"count must be >= 1. Received: count={count}")
    data = load(name, split, data_dir=data_dir, download=not no_download, **parse_options(pairs))
    if data.images is None:
        raise CnnlabError(
            f"{data.info.name} is a text dataset, there is nothing to draw. Received: {name!r}"
        )
    n = min(count, len(data))
    if n == 0:
        raise CnnlabError(f"split {split!r} of {name} is empty. Received: split={split!r}")
    _grid(data, n, out)
    click.echo(f"wrote {out}: {n} samples of {data.info.name} {split}")


def _grid(data, n: int, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.2 * rows), squeeze=False)
    for k, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if k >= n:
            continue
        image = data.images[k]
        if image.shape[0] == 1:
            axis.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
        else:
            axis.imshow(image.permute(1, 2, 0).numpy())
        if data.masks is not None:
            axis.imshow(data.masks[k].numpy(), cmap="autumn", alpha=0.35, interpolation="nearest")
            title = f"#{k} " + " ".join(
                f"{data.classes[c]}:{(data.masks[k] == c).float().mean():.0%}"
                for c in data.masks[k].unique().tolist()
            )
        elif data.labels is not None:
            title = f"#{k} {data.classes[int(data.labels[k])]}"
        else:
            title = f"#{k} (unlabelled)"
        axis.set_title(title, fontsize=8)
    figure.suptitle(f"{data.info.name} {data.split}", fontsize=10)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
