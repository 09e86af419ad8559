"""The inspection tour run by ``make demo``: the course notes' worked examples, then the
model zoo.

Each example is data (a title, what the course notes say, the computed layer); the report renders
them with the formulas and numbers substituted, so a reader can check every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnlab import arith
from cnnlab.arith.report import describe, describe_bottleneck
from cnnlab.files import write_text
from cnnlab.models import create_model, list_models
from cnnlab.summary import summarize
from cnnlab.summary.catalog import model_catalog


@dataclass(frozen=True)
class WorkedExample:
    title: str
    notes_say: str
    layer: arith.LayerArithmetic


def notes_examples() -> list[WorkedExample]:
    """The worked examples of the course notes' "Padding", "Filtri, kernel e parametri",
    "Inception Block", "Esercitazione LeNet-5 con Keras" and "Downsampling e Upsampling"."""
    return [
        WorkedExample(
            "Padding: a 6x6 image and a 3x3 kernel",
            "(6 - 3 + 1) x (6 - 3 + 1) = 4 x 4",
            arith.conv2d("6x6x1", 3, 1),
        ),
        WorkedExample(
            "'same' padding keeps the size: padding = (f - 1) / 2",
            "6 x 6 with padding 1",
            arith.conv2d("6x6x1", 3, 1, padding="same"),
        ),
        WorkedExample(
            "Parameters of one 3x3x3 filter",
            "(3*3*3 = 27 + 1 bias = 28) * 1 filter = 28",
            arith.conv2d("6x6x3", 3, 1),
        ),
        WorkedExample(
            "AlexNet's first layer: 227x227x3, 96 filters 11x11, stride 4",
            "(227 - 2*0 - 11) / 4 + 1 = 55 -> 55 x 55 x 96 (the notes write -2p for +2p)",
            arith.conv2d("227x227x3", 11, 96, stride=4),
        ),
        WorkedExample(
            "32 filters 5x5x192 on 28x28x192, no padding",
            "28 - 0 - 5 / 1 = 23 + 1 = 24 -> 24 x 24 x 32; 153,601 parameters",
            arith.conv2d("28x28x192", 5, 32),
        ),
        WorkedExample(
            "The same with 'same' padding",
            "28 x 28 x 32; 28*28*32*5*5*192 = 120,422,400 multiplications",
            arith.conv2d("28x28x192", 5, 32, padding="same"),
        ),
        WorkedExample(
            "LeNet-5's S2: 2x2 pooling of 6 maps 28x28",
            "6 feature maps 14 x 14",
            arith.pool2d("28x28x6", 2),
        ),
        WorkedExample(
            "Transposed convolution: 4x4, kernel 2, stride 1, padding 0",
            "(4 - 1)*1 + 2 - 2*0 = 5 -> 5 x 5",
            arith.conv_transpose2d("4x4x1", 2, 1),
        ),
        WorkedExample(
            "Transposed convolution: 3x3, kernel 3, stride 2, padding 1",
            "(3 - 1)*2 + 3 - 2*1 = 5 -> 5 x 5",
            arith.conv_transpose2d("3x3x1", 3, 1, stride=2, padding=1),
        ),
    ]


def tour_markdown() -> str:
    """The whole tour as Markdown: worked examples, the Inception cost table, the model zoo."""
    parts = ["# cnnlab inspection tour", "", "## The notes' worked examples", ""]
    for example in notes_examples():
        parts += [f"### {example.title}", "", f"The notes: {example.notes_say}", "", "```"]
        parts += [*describe(example.layer), "```", ""]
    bottleneck = arith.bottleneck_comparison("28x28x192", 5, 32, 16)
    parts += ["## Inception: the 1x1 bottleneck", "", "```", *describe_bottleneck(bottleneck)]
    parts += ["```", "", "The notes count one bias per layer (153,601; 3,073; 12,801); with one"]
    parts += ["bias per filter the counts are 153,632; 3,088; 12,832.", ""]
    parts += [
        "## The model zoo",
        "",
        "| model | input (C x H x W) | params | MACs |",
        "|---|---|--:|--:|",
    ]
    for entry in model_catalog(list_models()):
        size = "x".join(map(str, entry["input_size"]))
        parts.append(f"| {entry['name']} | {size} | {entry['params']:,} | {entry['macs']:,} |")
    parts += ["", "## LeNet-5 layer by layer", "", "```"]
    parts += [*summarize(create_model("lenet5")).lines(), "```", ""]
    return "\n".join(parts)


def write_tour(out_dir: Path) -> Path:
    """Write ``tour.md`` with the tour into ``out_dir`` (atomically) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_text(out_dir / "tour.md", tour_markdown())
