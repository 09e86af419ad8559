"""Text and HTML renderings of a :class:`~cnnlab.summary.ModelSummary` (data first, text
second): the terminal and a notebook show the same table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnlab import display
from cnnlab.summary.receptive import SpatialField

if TYPE_CHECKING:
    from cnnlab.summary.model_summary import ModelSummary

HEADERS = ("Layer (type)", "Output shape", "Param #", "MACs", "RF", "jump", "start")


def human_bytes(count: int) -> str:
    """``2686`` -> ``"2.62 KB"`` (1 KB = 1024 bytes, as Keras prints)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _axes(values) -> str:
    text = [f"{float(v):g}" for v in values]
    return text[0] if len(set(text)) == 1 else "x".join(text)


def _field_cells(field: SpatialField | None) -> tuple[str, str, str]:
    if field is None or not field.fields:
        return "-", "-", "-"
    if not field.axes:
        return _axes(f.size for f in field.fields), "-", "-"
    return (
        _axes(f.size for f in field.fields),
        _axes(f.jump for f in field.fields),
        _axes(f.start for f in field.fields),
    )


def _table_rows(summary: ModelSummary) -> list[tuple[str, ...]]:
    rows = []
    for row in summary.rows:
        name = f"{row.name} ({row.type})" if row.name else row.type
        shape = "x".join(str(d) for d in row.output_shape) or "-"
        rows.append((name, shape, f"{row.params:,}", f"{row.macs:,}", *_field_cells(row.field)))
    return rows


def _inputs(summary: ModelSummary) -> str:
    return ", ".join("x".join(map(str, s)) for s in summary.input_shapes)


def _title(summary: ModelSummary) -> str:
    return f'Model: "{summary.model_name}"  input {_inputs(summary)} (N x C x H x W)'


def _totals(summary: ModelSummary) -> list[str]:
    """The lines under the table: parameters, MACs, memory and the notes."""
    lines = [
        f"Total params: {summary.total_params:,} ({human_bytes(summary.param_bytes)})",
        f"Trainable params: {summary.trainable_params:,}",
        f"Non-trainable params: {summary.non_trainable_params:,}",
        f"MACs: {summary.total_macs:,}    FLOPs (2 x MACs): {summary.total_flops:,}",
        f"Activations of one forward pass: {human_bytes(summary.activation_bytes)}; "
        f"kept for backward: {human_bytes(summary.saved_bytes)}",
    ]
    if summary.unused_params:
        lines.append(
            f"Parameters not used by this forward pass: {summary.unused_params:,} "
            "(e.g. auxiliary heads that run only in training)"
        )
    if summary.uncounted:
        listed = ", ".join(f"{name} x{count}" for name, count in summary.uncounted.items())
        lines.append(f"Not counted as MACs (no multiply-accumulate rule): {listed}")
    lines.append(
        "RF: receptive field in input pixels; jump: input pixels between neighbours; "
        "start: centre of the first field"
    )
    return lines


def summary_lines(summary: ModelSummary) -> list[str]:
    """The per-layer table followed by the totals."""
    body = _table_rows(summary)
    widths = [max(len(r[i]) for r in [HEADERS, *body]) for i in range(len(HEADERS))]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "=" * len(fmt(HEADERS))
    lines = [_title(summary), rule, fmt(HEADERS)]
    lines += ["-" * len(rule), *map(fmt, body), rule]
    return lines + _totals(summary)


def summary_html(summary: ModelSummary) -> str:
    """The same table and totals for a notebook: names left-aligned, numbers right."""
    rows = _table_rows(summary)
    return display.block(
        display.table(HEADERS, rows, caption=_title(summary), left=2),
        *(display.text(line) for line in _totals(summary)),
    )


def summary_repr(summary: ModelSummary) -> str:
    """One line for a terminal: the model, its input and the totals."""
    return (
        f"ModelSummary({summary.model_name}, input {_inputs(summary)}: "
        f"{summary.total_params:,} params, {summary.total_macs:,} MACs, {len(summary.rows)} layers)"
    )
