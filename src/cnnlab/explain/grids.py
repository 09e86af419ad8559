"""Small grids for the explainers: parse them from text, make reproducible ones, print them
(lines for a terminal, HTML tables for a notebook).

A grid is written as rows separated by ``;`` and values by ``,`` or spaces (``"1,2;3,4"``);
channels of a volume are separated by ``|`` (``"1,2;3,4 | 5,6;7,8"``).
"""

from __future__ import annotations

import numpy as np

from cnnlab import display
from cnnlab.errors import CnnlabError
from cnnlab.shapes import parse_dims


def parse_grid(text: str, name: str = "values") -> np.ndarray:
    """``"1,2;3,4"`` -> ``[[1, 2], [3, 4]]`` as float64 (H x W).

    Raises:
        CnnlabError: an empty grid, a value that is not a number, or rows of unequal length.
    """
    rows = [row.replace(",", " ").split() for row in text.strip().strip(";").split(";")]
    if not rows or not all(rows):
        raise CnnlabError(
            f"{name} must be rows separated by ';', like '1,2;3,4'. Received: {text!r}"
        )
    if len({len(row) for row in rows}) != 1:
        lengths = [len(row) for row in rows]
        raise CnnlabError(f"{name} rows must all have the same length. Received lengths {lengths}")
    try:
        return np.array([[float(v) for v in row] for row in rows])
    except ValueError:
        raise CnnlabError(f"{name} must contain only numbers. Received: {text!r}") from None


def parse_volume(text: str, name: str = "values") -> np.ndarray:
    """Channels separated by ``|``, each a grid: returns ``C x H x W``."""
    grids = [parse_grid(part, name) for part in text.split("|")]
    if len({g.shape for g in grids}) != 1:
        shapes = ["x".join(map(str, g.shape)) for g in grids]
        raise CnnlabError(f"{name}: every channel must have the same size. Received: {shapes}")
    return np.stack(grids)


def default_volume(
    shape: tuple[int, int, int], seed: int, low: int = 0, high: int = 9
) -> np.ndarray:
    """Reproducible small integers in ``[low, high]``, easy to multiply in your head."""
    return np.random.default_rng(seed).integers(low, high + 1, size=shape).astype(float)


def parse_at(text: str) -> tuple[int, int]:
    """``"1,2"`` -> ``(1, 2)``: the row and column of an output pixel, from 0."""
    i, j = parse_dims(text.replace(" ", ""), 2, "--at (row,col)", minimum=0)
    return i, j


def check_at(at: tuple[int, int], out_hw: tuple[int, int]) -> None:
    """The chosen output pixel must exist."""
    if not (0 <= at[0] < out_hw[0] and 0 <= at[1] < out_hw[1]):
        raise CnnlabError(
            f"--at must name an output pixel, rows 0..{out_hw[0] - 1} and columns "
            f"0..{out_hw[1] - 1}. Received: --at {at[0]},{at[1]}"
        )


def number(value: float) -> str:
    """Short text for a value: ``3``, ``-0.5``, ``4.3125`` (at most 4 decimals)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def format_grid(
    grid: np.ndarray, marked: np.ndarray | None = None, symbols: np.ndarray | None = None
) -> list[str]:
    """Right-aligned rows; ``marked`` cells are shown in brackets, ``symbols`` replace values."""
    cells = [
        [symbols[r, c] if symbols is not None else number(grid[r, c]) for c in range(grid.shape[1])]
        for r in range(grid.shape[0])
    ]
    if marked is not None:
        cells = [
            [f"[{v}]" if marked[r, c] else f" {v} " for c, v in enumerate(row)]
            for r, row in enumerate(cells)
        ]
    width = max(len(v) for row in cells for v in row)
    return [" ".join(v.rjust(width) for v in row).rstrip() for row in cells]


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A header and rows of text cells in right-aligned columns."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in [header, *rows]]


def side_by_side(blocks: list[list[str]], gap: str = "   ") -> list[str]:
    """Print blocks of lines next to each other, top-aligned."""
    height = max(len(b) for b in blocks)
    widths = [max((len(line) for line in b), default=0) for b in blocks]
    padded = [b + [""] * (height - len(b)) for b in blocks]
    return [
        gap.join(b[r].ljust(w) for b, w in zip(padded, widths, strict=True)).rstrip()
        for r in range(height)
    ]


def shape_text(shape: tuple[int, ...]) -> str:
    """``(1, 6, 6)`` -> ``"1x6x6"``."""
    return "x".join(map(str, shape))


def html_grid(grid: np.ndarray, marked: np.ndarray | None = None) -> str:
    """``grid`` as an HTML table; ``marked`` cells are highlighted (a window, an output)."""
    cells = [[number(v) for v in row] for row in grid]
    shaded = set() if marked is None else {(int(r), int(c)) for r, c in np.argwhere(marked)}
    return display.grid(cells, highlight=shaded)


def labelled(title: str, grid: np.ndarray, marked: np.ndarray | None = None) -> str:
    """A title over a grid, one of the pieces set side by side with :func:`display.row`."""
    return display.heading(title) + html_grid(grid, marked)


def spot(shape: tuple[int, ...], at: tuple[int, int]) -> np.ndarray:
    """A mask of ``shape`` marking the one cell ``at`` (the output pixel explained)."""
    mask = np.zeros(shape, dtype=bool)
    mask[at] = True
    return mask
