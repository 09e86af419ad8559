"""Fonts, sizes and colours shared by the layout and both renderers (SVG and PNG).

Text is set in a monospace font so that its width is known without a font engine: every
character advances 0.6 em in DejaVu Sans Mono (bundled with matplotlib) and in the common
monospace fonts a browser falls back to.
"""

from __future__ import annotations

FONT_FAMILY = "DejaVu Sans Mono"
SVG_FONT_STACK = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
CHAR_WIDTH = 0.61  # em, with a little slack

# style: (font size in px, line height in px, bold, colour)
TEXT_STYLES = {
    "title": (12.0, 16.0, True, "#1a202c"),
    "detail": (10.5, 14.0, False, "#2d3748"),
    "info": (10.5, 14.0, False, "#4a5568"),
    "tag": (9.5, 12.0, False, "#475569"),
}
PAD_X, PAD_Y = 10.0, 6.0
MIN_BOX_WIDTH = 64.0

# category: (fill, stroke)
COLORS = {
    "conv": ("#dbeafe", "#2b6cb0"),
    "norm": ("#dcfce7", "#2f855a"),
    "act": ("#fef3c7", "#b7791f"),
    "pool": ("#ffedd5", "#c05621"),
    "dense": ("#ede9fe", "#6b46c1"),
    "merge": ("#fee2e2", "#c53030"),
    "other": ("#f1f5f9", "#64748b"),
    "io": ("#e2e8f0", "#334155"),
}
EDGE_COLOR = "#4a5568"
SKIP_COLOR = "#c53030"
EDGE_WIDTH = 1.3
ARROW_LENGTH, ARROW_WIDTH = 7.0, 5.0
BACKGROUND = "#ffffff"
FRAME_FILL, FRAME_STROKE = "#f8fafc", "#cbd5e1"


def text_width(text: str, style: str) -> float:
    """Width in px of ``text`` set in ``style`` (monospace: characters times the advance)."""
    return len(text) * TEXT_STYLES[style][0] * CHAR_WIDTH


def box_size(lines: list[tuple[str, str]]) -> tuple[float, float]:
    """Width and height in px of a box holding these ``(style, text)`` lines."""
    width = max(text_width(text, style) for style, text in lines) + 2 * PAD_X
    height = sum(TEXT_STYLES[style][1] for style, _ in lines) + 2 * PAD_Y
    return max(width, MIN_BOX_WIDTH), height
