"""HTML for notebooks and reports: small builders that escape every string they are given
and embed images as data URIs, so what they return is self-contained (no CDN, no script,
no stylesheet: the styles are inline, as Jupyter shows HTML outputs as they are).

An object shows itself in a notebook by returning one of these from ``_repr_html_``
(IPython's rich display protocol); the reports of run directories use the same builders.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Iterable, Sequence

BORDER = "border:1px solid #ccc;padding:2px 8px"
HEAD = f"{BORDER};background:#f3f3f3"
TABLE = "border-collapse:collapse;margin:4px 0;font-variant-numeric:tabular-nums"


def esc(value: object) -> str:
    """``value`` as text safe inside HTML (tags, quotes and ampersands escaped)."""
    return html.escape(str(value), quote=True)


def table(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    caption: str | None = None,
    left: int = 1,
) -> str:
    """A table; the first ``left`` columns are aligned left (names), the rest right
    (numbers)."""

    def cell(tag: str, value: object, column: int) -> str:
        align = "left" if column < left else "right"
        style = (HEAD if tag == "th" else BORDER) + f";text-align:{align}"
        return f'<{tag} style="{style}">{esc(value)}</{tag}>'

    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", c, i) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    title = f'<caption style="text-align:left;font-weight:bold">{esc(caption)}</caption>'
    return (
        f'<table style="{TABLE}">{title if caption else ""}'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def image(data: bytes, mime: str = "image/png", alt: str = "", width: int | None = None) -> str:
    """An ``<img>`` holding ``data`` itself (base64), ``width`` pixels wide when given."""
    encoded = base64.b64encode(data).decode("ascii")
    size = f' width="{int(width)}"' if width else ""
    return f'<img alt="{esc(alt)}"{size} src="data:{mime};base64,{encoded}">'


def pre(text: str) -> str:
    """Preformatted text (a formula walk-through, a table printed in columns)."""
    style = "background:#f6f6f6;padding:6px 8px;margin:4px 0;overflow-x:auto"
    return f'<pre style="{style}">{esc(text)}</pre>'


def heading(text: str) -> str:
    return f'<div style="font-weight:bold;margin:6px 0 2px">{esc(text)}</div>'


def block(*parts: str) -> str:
    """Parts one under the other, in a box that keeps a notebook cell's output apart."""
    return '<div style="font:13px/1.45 system-ui,sans-serif">' + "".join(parts) + "</div>"


def grid(
    values: Sequence[Sequence[object]], *, highlight: set[tuple[int, int]] = frozenset()
) -> str:
    """A 2-D grid of numbers or symbols (a kernel, a feature map, a padded input), one cell
    per value; ``highlight`` marks cells by (row, column) (a window under a kernel)."""
    rows = []
    for r, row in enumerate(values):
        cells = []
        for c, value in enumerate(row):
            shade = ";background:#ffe08a" if (r, c) in highlight else ""
            style = f"{BORDER};text-align:center;min-width:1.6em{shade}"
            cells.append(f'<td style="{style}">{esc(value)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table style="{TABLE}">' + "".join(rows) + "</table>"


def text(line: str) -> str:
    """One line of prose (a sum, a rule, a note) between tables."""
    return f'<div style="margin:2px 0">{esc(line)}</div>'


def row(*parts: str) -> str:
    """Parts side by side, wrapping on a narrow page: a window beside its kernel, an image
    before and after a filter."""
    cells = "".join(f'<div style="margin:0 14px 4px 0">{part}</div>' for part in parts)
    return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{cells}</div>'


# Pictures and objects for notebook display (History, Dataset, Evaluation, Prediction, runs).

PNG_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # gray, gray + alpha, RGB, RGBA
WRONG_COLOR = "#d62728"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)


def png(pixels: bytes, width: int, height: int, channels: int = 1) -> bytes:
    """An 8-bit PNG of ``height`` rows of ``width`` pixels of ``channels`` bytes each (1 gray,
    3 RGB, 4 RGBA), row after row: thumbnails without matplotlib or Pillow.

    Raises:
        ValueError: a channel count PNG has no type for, or ``pixels`` of the wrong length.
    """
    stride = width * channels
    if channels not in PNG_COLOR_TYPES or width < 1 or height < 1:
        raise ValueError(f"png needs 1-4 channels and a size >= 1x1. Received {width}x{height}")
    if len(pixels) != stride * height:
        raise ValueError(f"png needs {stride * height} bytes. Received {len(pixels)}")
    rows = b"".join(b"\0" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, PNG_COLOR_TYPES[channels], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def tile(
    pictures: Sequence[bytes], lines: Sequence[str], *, width: int = 72, wrong: bool = False
) -> str:
    """One sample: its PNG pictures side by side (an image, its mask), caption lines under
    them; ``wrong`` frames it in red (a mistake). Small pictures are enlarged pixelated."""
    color = WRONG_COLOR if wrong else "transparent"
    alt = esc(lines[0]) if lines else ""
    images = "".join(
        f'<img alt="{alt}" width="{int(width)}" style="image-rendering:pixelated;margin:1px" '
        f'src="data:image/png;base64,{base64.b64encode(p).decode("ascii")}">'
        for p in pictures
    )
    text = "<br>".join(esc(line) for line in lines)
    style = f"display:inline-block;margin:2px;padding:2px;border:2px solid {color}"
    caption = f"color:{WRONG_COLOR if wrong else 'inherit'};font-size:11px;text-align:center"
    return f'<div style="{style}"><div>{images}</div><div style="{caption}">{text}</div></div>'


def gallery(tiles: Iterable[str]) -> str:
    """Tiles in rows that wrap with the width of the page."""
    return (
        '<div style="display:flex;flex-wrap:wrap;align-items:flex-start">'
        + "".join(tiles)
        + "</div>"
    )


def facts(pairs: Iterable[tuple[str, object]]) -> str:
    """A card of named values (name in bold on the left), empty values left out."""
    rows = "".join(
        f'<tr><th style="{HEAD};text-align:left">{esc(name)}</th>'
        f'<td style="{BORDER};text-align:left">{esc(value)}</td></tr>'
        for name, value in pairs
        if value not in (None, "")
    )
    return f'<table style="{TABLE}"><tbody>{rows}</tbody></table>'


def figure(data: bytes, caption: str, mime: str = "image/png", width: int | None = None) -> str:
    """A picture (a matplotlib figure's PNG, a diagram's SVG) no wider than the page, with an
    escaped caption under it."""
    encoded = base64.b64encode(data).decode("ascii")
    size = f' width="{int(width)}"' if width else ""
    return (
        f'<figure style="margin:6px 0"><img alt="{esc(caption)}"{size} style="max-width:100%" '
        f'src="data:{mime};base64,{encoded}"><figcaption style="color:#555;font-size:12px">'
        f"{esc(caption)}</figcaption></figure>"
    )


class Html:
    """Ready HTML that a notebook shows (``_repr_html_``), with a short text everywhere else:
    what a method such as ``Dataset.show_batch`` returns."""

    def __init__(self, html_text: str, text: str) -> None:
        self.html = html_text
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text
