"""Streaming metrics whose whole state is a few summable tensors.

Every metric here accumulates counts (a confusion matrix, a number of hits), never averages of
averages, so the value over a dataset does not depend on how it was cut into batches, the
state can be saved inside a checkpoint mid-epoch, and distributed workers combine their states
with one ``all_reduce(SUM)``.

Classification (K classes, confusion matrix C with C[i, j] = samples of true class i predicted
as j): accuracy = trace(C) / sum(C); precision_k = C[k, k] / sum_i C[i, k]; recall_k =
C[k, k] / sum_j C[k, j]; F1_k = 2 P R / (P + R) = 2 C[k, k] / (row_k + col_k); macro =
unweighted mean over classes.
Segmentation (the same matrix over pixels): pixel accuracy = trace / sum; IoU_k = C[k, k] /
(row_k + col_k - C[k, k]); Dice_k = 2 C[k, k] / (row_k + col_k).

Your own metrics, ``fn(outputs, targets) -> float`` (or a 0-d tensor, which spares a device
sync), are averaged over batches weighted by their size, as Keras averages a metric function:
sum_b n_b fn(batch_b) / sum_b n_b. That is the exact value for per-sample means (accuracy,
mean absolute error); for ratios over a whole set (F1) it approaches the exact value as the
batches grow (evaluation batches hold ``eval_batch_size`` samples); cnnlab's own F1 is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from cnnlab.errors import CnnlabError

RATES = ("accuracy", "precision", "recall", "f1", "iou", "dice")
BUILT_IN = (
    *("loss", "accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class"),
    *("pixel_accuracy", "iou", "dice", "mean_iou", "confusion_matrix", "epoch", "lr", "time"),
)
MetricFunction = Callable[[torch.Tensor, torch.Tensor], "float | torch.Tensor"]


def user_metrics(
    metrics: Mapping[str, MetricFunction] | Sequence[MetricFunction] | None,
) -> dict[str, MetricFunction]:
    """``{name: fn}`` from a dict or a list of named functions (their ``__name__``).

    Raises:
        CnnlabError: a lambda in a list (it has no name), a name that is not an identifier,
            starts with ``val_`` or is a built-in column, or an entry that is not callable.
    """
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        unnamed = [fn for fn in metrics if getattr(fn, "__name__", "<lambda>") == "<lambda>"]
        if unnamed:
            raise CnnlabError("a metric in a list needs a name: metrics={'name': fn}")
        metrics = {fn.__name__: fn for fn in metrics}
    for name, fn in metrics.items():
        if not callable(fn):
            raise CnnlabError(
                f"metric {name!r} must be a function fn(outputs, targets) -> float. "
                f"Received: {type(fn).__name__}"
            )
        clash = name in BUILT_IN or name.startswith(("val_", "top"))
        if not isinstance(name, str) or not name.isidentifier() or clash:
            raise CnnlabError(
                f"metric names must be identifiers other than cnnlab's own columns and without "
                f"a val_ or top prefix. Received: {name!r}"
            )
    return dict(metrics)


def higher_is_better(name: str) -> bool:
    """Whether history column ``name`` is a rate (accuracy, precision, recall, F1, IoU, Dice,
    with or without a ``val_``/``macro_``/``top5_`` prefix): in [0, 1], shown as a
    percentage, better when higher. Losses and errors are better when lower."""
    return any(word in name for word in RATES)


def predicted_class(scores: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The index of the largest score along ``dim`` (the first one on ties, as ``argmax``).

    ``max(dim).indices`` rather than ``argmax(dim)``: for a contiguous N x K x H x W tensor,
    PyTorch's CPU ``argmax`` over the non-innermost class dimension takes a slow strided
    reduction, tens of times slower than ``max`` on the same tensor.
    """
    return scores.max(dim).indices


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """K x K int64 counts, rows = true class, columns = predicted class."""
    index = target.reshape(-1).to(torch.int64) * num_classes + pred.reshape(-1).to(torch.int64)
    counts = torch.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Element-wise ratio that is 0 where the denominator is 0 (scikit-learn's convention)."""
    num, den = numerator.to(torch.float64), denominator.to(torch.float64)
    return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))


def classification_report(matrix: torch.Tensor) -> dict[str, object]:
    """Accuracy, per-class and macro precision/recall/F1 from a confusion matrix."""
    hits = matrix.diagonal()
    precision = _ratio(hits, matrix.sum(0))
    recall = _ratio(hits, matrix.sum(1))
    f1 = _ratio(2 * hits, matrix.sum(0) + matrix.sum(1))  # = 2PR / (P + R), from counts
    return {
        "accuracy": float(_ratio(hits.sum(), matrix.sum())),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "per_class": {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": matrix.sum(1).tolist(),
        },
    }


def segmentation_report(matrix: torch.Tensor) -> dict[str, object]:
    """Pixel accuracy, per-class and mean IoU and Dice from a pixel confusion matrix.

    For two classes (background 0, object 1) ``iou`` and ``dice`` are those of class 1, the
    usual reading for membranes or lesions; otherwise they are the means over classes.
    """
    hits = matrix.diagonal()
    union = matrix.sum(0) + matrix.sum(1)
    iou = _ratio(hits, union - hits)
    dice = _ratio(2 * hits, union)
    binary = len(hits) == 2
    return {
        "pixel_accuracy": float(_ratio(hits.sum(), matrix.sum())),
        "iou": float(iou[1] if binary else iou.mean()),
        "dice": float(dice[1] if binary else dice.mean()),
        "mean_iou": float(iou.mean()),
        "per_class": {"iou": iou.tolist(), "dice": dice.tolist()},
    }


class MetricState:
    """Summable running state of one pass over data: loss sum, sample count, confusion matrix
    and top-k hits.

    Args:
        num_classes: K.
        task: ``"classification"`` or ``"segmentation"`` (the matrix counts pixels).
        top_k: extra k for top-k accuracy (classification, only when k < K).
        metrics: your own ``{name: fn(outputs, targets)}``, summed as batch-size-weighted
            values (``user.NAME``).
    """

    def __init__(
        self,
        num_classes: int,
        task: str = "classification",
        top_k: int = 5,
        metrics: Mapping[str, MetricFunction] | None = None,
    ) -> None:
        if task not in ("classification", "segmentation"):
            raise CnnlabError(
                f"task must be 'classification' or 'segmentation'. Received: task={task!r}"
            )
        self.num_classes = num_classes
        self.task = task
        self.top_k = top_k if task == "classification" and 1 < top_k < num_classes else 0
        self.metrics = dict(metrics or {})
        self.reset()

    def reset(self) -> None:
        # float64 loss sum: summing thousands of float32 batch losses must not drift
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.count = torch.zeros((), dtype=torch.int64)
        self.matrix = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
        self.top_hits = torch.zeros((), dtype=torch.int64)
        self.user_sums = {name: torch.zeros((), dtype=torch.float64) for name in self.metrics}

    def update(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch: ``loss`` is the batch's mean loss (a 0-d tensor, kept on device until
        the epoch ends: no host sync per step), ``logits`` N x K (x H x W)."""
        n = target.shape[0]
        pred = predicted_class(logits)
        device = logits.device
        if self.matrix.device != device:
            self.to(device)
        self.loss_sum += loss.detach().to(torch.float64) * n
        self.count += n
        self.matrix += confusion_matrix(pred, target, self.num_classes)
        if self.top_k:
            top = logits.topk(self.top_k, dim=1).indices
            self.top_hits += (top == target.unsqueeze(1)).any(1).sum()
        for name, fn in self.metrics.items():
            value = torch.as_tensor(fn(logits, target), dtype=torch.float64, device=device)
            if value.numel() != 1:
                raise CnnlabError(
                    f"metric {name!r} must return one number. Received: a tensor of shape "
                    f"{tuple(value.shape)}"
                )
            self.user_sums[name] += value.reshape(()) * n

    def to(self, device: torch.device | str) -> MetricState:
        for name, value in self.state_dict().items():
            self._set(name, value.to(device))
        return self

    def _set(self, name: str, value: torch.Tensor) -> None:
        if name.startswith("user."):
            self.user_sums[name.removeprefix("user.")] = value
        else:
            setattr(self, name, value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "loss_sum": self.loss_sum,
            "count": self.count,
            "matrix": self.matrix,
            "top_hits": self.top_hits,
            **{f"user.{name}": value for name, value in self.user_sums.items()},
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict`'s tensors; a metric the saved state lacks (added since)
        starts from zero."""
        for name in self.state_dict():
            if name in state or not name.startswith("user."):
                self._set(name, state[name].clone())

    def result(self) -> dict[str, object]:
        """All metrics of the pass; scalars first, then ``per_class`` and the matrix."""
        count = int(self.count)
        out: dict[str, object] = {"loss": float(self.loss_sum) / count if count else float("nan")}
        matrix = self.matrix.cpu()
        if self.task == "classification":
            out.update(classification_report(matrix))
            if self.top_k:
                out[f"top{self.top_k}_accuracy"] = float(self.top_hits) / count if count else 0.0
        else:
            out.update(segmentation_report(matrix))
        for name, total in self.user_sums.items():
            out[name] = float(total) / count if count else float("nan")
        out["confusion_matrix"] = matrix.tolist()
        return out


def scalar_metrics(result: dict[str, object]) -> dict[str, float]:
    """The float entries of :meth:`MetricState.result` (what goes into the history)."""
    return {k: v for k, v in result.items() if isinstance(v, float)}
