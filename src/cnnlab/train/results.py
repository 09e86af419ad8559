"""What training gives back, as a notebook shows it (IPython's rich display protocol): the
metrics of ``Trainer.evaluate`` (:class:`Evaluation`, a dict) and the output of
``Trainer.predict`` (:class:`Prediction`, a named pair). Each has a one-line ``repr`` and an
HTML view built with :mod:`cnnlab.display` (escaped, images embedded, no script).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from cnnlab.data.dataset import Dataset, image_png, mask_png
from cnnlab.display import Html, block, figure, gallery, heading, table, tile
from cnnlab.errors import CnnlabError
from cnnlab.train.data import Samples
from cnnlab.train.metrics import higher_is_better

SHOWN = 36  # samples in a prediction's grid
TEXT_CHARS = 160


def metric_text(name: str, value: object) -> str:
    """A history or metric value as the run reports show it: rates (accuracy, F1, IoU...) as
    percentages, the learning rate in scientific notation, seconds, ``-`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if not isinstance(value, numbers.Real):  # a note a callback put in the row
        return str(value)
    if name in ("epoch", "best_epoch"):
        return str(int(value))
    if name == "lr":
        return f"{value:.2e}"
    if name == "time":
        return f"{value:.1f} s"
    if higher_is_better(name):
        return f"{100 * value:.2f}%"
    return f"{value:.4f}"


class Evaluation(dict):
    """Loss and metrics of ``Trainer.evaluate``: a plain ``dict`` (``result["accuracy"]``,
    ``json.dumps(result)``) that a notebook shows as tables and a confusion matrix.

    ``classes`` names the rows of ``per_class`` and of the matrix (None: 0, 1, 2, ...).
    """

    def __init__(self, metrics: Mapping[str, object], classes: Sequence[str] | None = None):
        super().__init__(metrics)
        self.classes = list(classes) if classes else None

    def _names(self) -> list[str]:
        k = len(self.get("confusion_matrix") or [])
        if self.classes and len(self.classes) == k:
            return self.classes
        return [str(i) for i in range(k)]

    def most_confused(self, top: int = 5) -> list[tuple[str, str, int]]:
        """The ``top`` largest off-diagonal counts of the confusion matrix, largest first, as
        (true class, predicted class, count) (fastai's ``most_confused``)."""
        names = self._names()
        pairs = [
            (names[i], names[j], int(count))
            for i, row in enumerate(self.get("confusion_matrix") or [])
            for j, count in enumerate(row)
            if i != j and count > 0
        ]
        return sorted(pairs, key=lambda pair: -pair[2])[:top]

    def __repr__(self) -> str:
        matrix = self.get("confusion_matrix") or []
        total = int(sum(map(sum, matrix)))
        unit = "pixels" if "pixel_accuracy" in self else "samples"
        keys = ("loss", "accuracy", "pixel_accuracy", "iou", "dice", "macro_f1")
        values = ", ".join(f"{k} {metric_text(k, self[k])}" for k in keys if k in self)
        return f"Evaluation({total:,} {unit}, {len(matrix)} classes: {values})"

    def _repr_html_(self) -> str:
        from cnnlab.viz import plot_confusion  # matplotlib is loaded only to be shown

        names = self._names()
        scalars = [[k, metric_text(k, v)] for k, v in self.items() if isinstance(v, float)]
        parts = [heading(repr(self)), table(["metric", "value"], scalars)]
        per_class = self.get("per_class") or {}
        if per_class and names:
            columns = list(per_class)
            rows = [
                [name, *(_per_class_text(c, per_class[c][i]) for c in columns)]
                for i, name in enumerate(names)
            ]
            parts += [heading("per class"), table(["class", *columns], rows)]
        confused = self.most_confused()
        if confused:
            parts += [
                heading("most confused"),
                table(["true", "predicted", "count"], confused, left=2),
            ]
        if names:
            picture = plot_confusion(self["confusion_matrix"], names)
            width = min(720, 380 + 24 * len(names))
            parts.append(
                figure(picture, "confusion matrix: rows true, columns predicted", width=width)
            )
        return block(*parts)


def _per_class_text(column: str, value: float) -> str:
    return f"{int(value):,}" if column == "support" else f"{100 * value:.2f}%"


class _Pair(NamedTuple):
    probabilities: torch.Tensor
    classes: torch.Tensor


class Prediction(_Pair):
    """``probabilities`` N x K (x H x W) and ``classes`` N (x H x W), their argmax: a pair,
    ``probabilities, classes = trainer.predict(x)``.

    What it was made on, when ``predict`` knows it, so a notebook can show it: ``inputs`` (the
    samples as given, or the texts of a cnnlab text data set), ``targets`` (the true classes or
    masks of a data set) and ``class_names``. They are attributes, not tuple entries, so the
    pair still unpacks in two.
    """

    inputs: Any = None
    targets: torch.Tensor | None = None
    class_names: list[str] | None = None

    def __new__(
        cls,
        probabilities: torch.Tensor,
        classes: torch.Tensor,
        inputs: Any = None,
        targets: torch.Tensor | None = None,
        class_names: Sequence[str] | None = None,
    ) -> Prediction:
        prediction = super().__new__(cls, probabilities, classes)
        prediction.inputs, prediction.targets = inputs, targets
        prediction.class_names = list(class_names) if class_names else None
        return prediction

    def _name(self, class_id: object) -> str:
        """The class name of an id (the id itself when the names do not cover it)."""
        index, names = int(class_id), self.class_names or []
        return names[index] if 0 <= index < len(names) else str(index)

    def _wrong(self) -> torch.Tensor | None:
        """Per sample (per pixel for masks): predicted class differs from the target."""
        targets = self.targets
        if targets is None or tuple(targets.shape) != tuple(self.classes.shape):
            return None
        return self.classes != targets.to(self.classes.device)

    def losses(self) -> torch.Tensor:
        """Each sample's cross-entropy, -log p(true class) (classification with targets).

        Raises:
            CnnlabError: no class targets (predict on a data set, or masks).
        """
        wrong = self._wrong()
        if wrong is None or wrong.ndim != 1:
            raise CnnlabError(
                "losses need the true classes: predict on a labelled data set, e.g. "
                "trainer.predict(load('digits', 'test'))"
            )
        n = len(self.classes)
        picked = self.probabilities[torch.arange(n), self.targets.to(torch.int64)]
        return -torch.log(picked.clamp_min(1e-12))

    def top_losses(self, k: int = 9) -> Html:
        """The ``k`` samples with the highest loss, highest first (fastai's
        ``plot_top_losses``): each with its predicted class and probability, true class and
        loss; images as a gallery, texts as a table. Shown in a notebook, one line each
        elsewhere."""
        losses = self.losses()
        order = torch.argsort(losses, descending=True)[:k].tolist()

        def caption(i: int) -> list[str]:
            predicted = self._name(self.classes[i])
            confidence = float(self.probabilities[i].max())
            return [
                f"{predicted} ({confidence:.0%}) / {self._name(self.targets[i])}",
                f"loss {float(losses[i]):.2f}",
            ]

        lines = [f"#{i}: predicted / true {' '.join(caption(i))}" for i in order]
        images = _images(self.inputs, len(losses))
        if images is not None:
            wrong = self._wrong()
            body = gallery(
                tile([image_png(images[i])], caption(i), wrong=bool(wrong[i])) for i in order
            )
        else:
            texts = self.inputs if isinstance(self.inputs, list) else None
            rows = [[i, *([texts[i][:TEXT_CHARS]] if texts else []), *caption(i)] for i in order]
            header = ["#", *(["text"] if texts else []), "predicted / true", "loss"]
            body = table(header, rows, left=len(header) - 1)
        title = f"top {len(order)} losses (predicted (probability) / true, loss)"
        return Html(block(heading(title), body), "\n".join([title, *lines]))

    def __repr__(self) -> str:
        n, k = self.probabilities.shape[:2]
        shape = "x".join(map(str, self.classes.shape[1:]))
        what = f"{n:,} masks {shape}" if shape else f"{n:,} samples"
        wrong = self._wrong()
        if wrong is None:
            result = ""
        elif shape:
            result = f", pixel accuracy {100 * (1 - wrong.float().mean()):.2f}%"
        else:
            result = f", {int(wrong.sum()):,} wrong"
        return f"Prediction({what}, {k} classes{result})"

    def _repr_html_(self) -> str:
        n = self.classes.shape[0]
        wrong = self._wrong()
        order = torch.arange(n)
        if wrong is not None and wrong.ndim == 1:  # mistakes first
            order = torch.argsort((~wrong).to(torch.int8), stable=True)
        shown = order[:SHOWN].tolist()
        images = _images(self.inputs, n)
        if self.classes.ndim > 1:
            body = self._masks(shown, images)
        elif images is not None:
            body = self._images(shown, images, wrong)
        else:
            body = self._table(shown, wrong)
        note = f"{len(shown)} of {n:,} shown" + (", mistakes first" if wrong is not None else "")
        return block(heading(repr(self)), body, f'<div style="color:#555">{note}</div>')

    def _caption(self, index: int, wrong: torch.Tensor | None) -> list[str]:
        confidence = float(self.probabilities[index].max())
        lines = [f"{self._name(self.classes[index])} ({confidence:.0%})"]
        if wrong is not None and wrong[index]:
            lines.append(f"true {self._name(self.targets[index])}")
        return lines

    def _images(self, shown: list[int], images: torch.Tensor, wrong: torch.Tensor | None) -> str:
        return gallery(
            tile(
                [image_png(images[i])],
                self._caption(i, wrong),
                wrong=bool(wrong is not None and wrong[i]),
            )
            for i in shown
        )

    def _masks(self, shown: list[int], images: torch.Tensor | None) -> str:
        """Image, true mask (when known) and predicted mask, side by side."""
        tiles = []
        for i in shown:
            pictures = [] if images is None else [image_png(images[i])]
            if self.targets is not None:
                pictures.append(mask_png(self.targets[i]))
            tiles.append(tile([*pictures, mask_png(self.classes[i])], [f"#{i}"], width=96))
        parts = ["image"] * (images is not None) + ["true"] * (self.targets is not None)
        legend = f'<div style="color:#555">{" | ".join([*parts, "predicted"])}</div>'
        return legend + gallery(tiles)

    def _table(self, shown: list[int], wrong: torch.Tensor | None) -> str:
        """Texts (or sample numbers) with predicted class, probability and true class."""
        texts = self.inputs if isinstance(self.inputs, list) else None
        rows = []
        for i in shown:
            true = self._name(self.targets[i]) if wrong is not None else "-"
            confidence = f"{float(self.probabilities[i].max()):.1%}"
            text = [texts[i][:TEXT_CHARS]] if texts else []
            rows.append([i, *text, self._name(self.classes[i]), confidence, true])
        header = ["#", *(["text"] if texts else []), "predicted", "probability", "true"]
        return table(header, rows, left=len(header) - 2)


def _images(inputs: Any, n: int) -> torch.Tensor | None:
    """N x C x H x W images from inputs as given (N x H x W gray, N x C x H x W or Keras'
    N x H x W x C with C 1 or 3); None for anything else (token ids, texts)."""
    if isinstance(inputs, np.ndarray):
        inputs = torch.as_tensor(inputs)
    if not isinstance(inputs, torch.Tensor) or len(inputs) != n or inputs.dtype == torch.bool:
        return None
    if inputs.ndim == 3:
        return inputs.unsqueeze(1)
    if inputs.ndim == 4 and inputs.shape[1] in (1, 3):
        return inputs
    if inputs.ndim == 4 and inputs.shape[3] in (1, 3):
        return inputs.permute(0, 3, 1, 2)
    return None


def prediction_context(data: object, classes: Sequence[str] | None) -> dict[str, Any]:
    """What ``Trainer.predict`` keeps of ``data`` for display (references, no copies): a
    cnnlab data set's images (or texts) and targets, held samples', an array's or tensor's
    self; nothing of a DataLoader or a torch data set (they would be read again).
    ``classes``: the trainer's class names, else the data's."""
    if isinstance(data, Dataset):
        inputs = data.images if data.images is not None else data.texts or data.tokens
        targets = data.masks if data.masks is not None else data.labels
        return {"inputs": inputs, "targets": targets, "class_names": classes or data.classes}
    if isinstance(data, Samples):
        inputs = data.texts or data.inputs
        return {"inputs": inputs, "targets": data.targets, "class_names": classes or data.classes}
    inputs = data if isinstance(data, torch.Tensor | np.ndarray) else None
    return {"inputs": inputs, "class_names": classes}
