"""Global average pooling vs flatten + dense: parameters, accuracy, input-size invariance.

Lin, Chen & Yan, "Network In Network", 2013: a global average over each final map replaces
the flatten + dense head (course notes, "Global Pooling").

Quick: the bundled digits in MNIST layout, 8 epochs per head. Full: MNIST (8,000 / 2,000 of
the test images), 15 epochs per head. Run times are in docs/experiments.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data import Dataset
from cnnlab.data.augment import to_float
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.data import describe_source, image_pair
from cnnlab.experiments.plots import Line, Panel, plot_panels
from cnnlab.experiments.registry import register_experiment
from cnnlab.models import create_model

NOTES_PARAMS = 34_826  # the Keras example's summary


@dataclass(frozen=True)
class Settings:
    """Both heads get the same data, epochs and optimizer; ``sizes`` are the test canvases."""

    source: str
    epochs: int
    batch_size: int = 32
    lr: float = 2e-3
    norm_layer: str | None = "batch"
    sizes: tuple[int, ...] = (28, 32, 36, 44, 56, 84)
    seed: int = 0


QUICK = Settings(source="digits", epochs=8)
FULL = Settings(source="mnist", epochs=15)
HEADS = ("flatten", "gap")


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_canvas(images: torch.Tensor, size: int) -> torch.Tensor:
    """28x28 uint8 images centred on a black ``size`` x ``size`` canvas (same digit scale)."""
    extra = size - images.shape[-1]
    before = extra // 2
    return F.pad(images, (before, extra - before, before, extra - before))  # N x C x size x size


def canvas_accuracy(model: nn.Module, data: Dataset, size: int) -> float | str:
    """Accuracy on the validation digits placed on a larger canvas, called on the model
    directly (the trainer would resize inputs to the training size); the error text when the
    model cannot take that size."""
    model.eval()
    x = to_float(on_canvas(data.images, size))
    try:
        with torch.no_grad():
            pred = torch.cat([model(part).argmax(1) for part in x.split(512)])
    except RuntimeError as error:
        return str(error).splitlines()[0]
    return float((pred == data.labels).float().mean())


@register_experiment
def global_pooling(ctx: Context) -> Report:
    """Flatten + dense vs global average pooling head: parameters, accuracy, any input size."""
    s = ctx.pick(QUICK, FULL)
    train, val = image_pair(ctx, s.source)
    models, finals = {}, {}
    for head in HEADS:
        torch.manual_seed(s.seed)
        model = create_model("mnist-cnn", head=head, norm_layer=s.norm_layer)
        trainer = ctx.trainer(
            model, head, epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, seed=s.seed
        )
        history = trainer.fit(train, val)
        models[head], finals[head] = model, history.rows[-1]
    params = {h: count(create_model("mnist-cnn", head=h)) for h in HEADS}
    dense = {h: count(m.head) for h, m in models.items()}
    report = Report(
        ctx,
        "Global average pooling vs flatten + dense",
        "The notes' simple CNN (Keras 'simple MNIST convnet') with its flatten + dense head and "
        "with a global-average-pooling head (one mean per final feature map, then the dense "
        "layer). The parameter counts are those of the notes' model; the trained copies add "
        "batch norm after each convolution (96 parameters) so that the global-pooling head "
        "learns within the quick budget too. " + describe_source(s.source, len(train), len(val)),
        settings=s,
    )
    for head in HEADS:
        literature = f"{NOTES_PARAMS:,} (Keras example)" if head == "flatten" else ""
        report.result(f"parameters, {head} head", params[head], "{:,}", literature, headline=True)
        report.result(f"parameters of the dense layer, {head} head", dense[head], "{:,}")
        report.result(
            f"validation accuracy at 28x28, {head} head",
            finals[head]["val_accuracy"],
            headline=True,
        )
    table = {h: [canvas_accuracy(models[h], val, n) for n in s.sizes] for h in HEADS}
    _sizes(ctx, report, s, table)
    for n, accuracy in zip(s.sizes[1:], table["gap"][1:], strict=True):
        report.result(
            f"validation accuracy on a {n}x{n} canvas, gap head", accuracy, headline=n == 36
        )
    at_36 = table["gap"][s.sizes.index(36)]
    report.check(
        "the flatten head has the Keras example's 34,826 parameters",
        f"{params['flatten']:,}",
        params["flatten"] == NOTES_PARAMS,
    )
    report.check(
        "global pooling needs fewer parameters",
        f"{params['gap']:,} vs {params['flatten']:,}",
        params["gap"] < params["flatten"],
    )
    report.check(
        "only the global-pooling head takes larger inputs",
        "flatten: shape error; gap: "
        + ", ".join(f"{a:.1%}" for a in table["gap"] if isinstance(a, float)),
        all(isinstance(a, str) for a in table["flatten"][1:])
        and all(isinstance(a, float) for a in table["gap"]),
    )
    report.check(
        "the global-pooling CNN learns the digits at 28x28",
        f"{finals['gap']['val_accuracy']:.2%} (bar 80%)",
        finals["gap"]["val_accuracy"] > 0.8,
    )
    report.check(
        "it still reads most digits on a 36x36 canvas it never saw",
        f"{at_36:.2%} (bar 50%)",
        isinstance(at_36, float) and at_36 > 0.5,
    )
    report.metrics.update(
        params_flatten=params["flatten"],
        params_gap=params["gap"],
        accuracy_flatten=finals["flatten"]["val_accuracy"],
        accuracy_gap=finals["gap"]["val_accuracy"],
        **{f"gap_accuracy_{n}": a for n, a in zip(s.sizes, table["gap"], strict=True)},
    )
    return report


def _sizes(ctx: Context, report: Report, s: Settings, table: dict[str, list]) -> None:
    path = plot_panels(
        [
            Panel(
                "Validation digits on larger canvases",
                "canvas side (pixels; trained at 28)",
                "accuracy",
                [
                    Line(
                        f"{head} head",
                        [
                            n
                            for n, a in zip(s.sizes, table[head], strict=True)
                            if isinstance(a, float)
                        ],
                        [a for a in table[head] if isinstance(a, float)],
                        {"marker": "o"},
                    )
                    for head in HEADS
                ],
            )
        ],
        ctx.figure("input_size"),
    )
    report.doc.heading("Input-size invariance")
    report.doc.paragraph(
        "The validation digits are centred on black canvases larger than the 28x28 training "
        "images, keeping the digit's size, and the model is called on them directly. The "
        "flatten head's dense layer expects exactly 64 x 5 x 5 = 1,600 inputs, so any other size "
        "fails; global pooling turns any map size into 64 numbers. The accuracy still falls "
        "as the canvas grows: the average now mixes the digit's responses with those of more "
        "and more blank positions, which the 28x28 training images never had. The network "
        "accepts any size; it is reliable on inputs that look like its training data."
    )
    rows = []
    for n, flat, gap in zip(s.sizes, table["flatten"], table["gap"], strict=True):
        cells = [a if isinstance(a, str) else f"{a:.2%}" for a in (flat, gap)]
        rows.append([f"{n}x{n}", cells[0][:90], cells[1]])
    report.doc.table(["input", "flatten head", "global-pooling head"], rows)
    report.doc.figure(path, "Accuracy against input size (the flatten head runs only at 28)")
