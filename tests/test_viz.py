"""Training-run figures: each writes a real, non-blank image atomically and rejects bad input."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.viz import plot_confusion, plot_history, plot_predictions, plot_segmentation
from cnnlab.viz.curves import best_epoch, collect_series, group_metrics
from cnnlab.viz.predictions import pick_order

RNG = np.random.default_rng(0)
CLASSES = [f"c{i}" for i in range(10)]


def assert_picture(path: Path) -> None:
    """A readable PNG with more than one colour, and nothing else left in its folder."""
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 100 and image.height > 100
        low, high = zip(*image.convert("RGB").getextrema(), strict=True)
        assert max(high) - min(low) > 50
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def assert_one_line(error: pytest.ExceptionInfo[CnnlabError], received: str = "Received") -> None:
    message = str(error.value)
    assert "\n" not in message and received in message


def history(epochs: int, val: bool = True) -> list[dict[str, float]]:
    rows = []
    for e in range(1, epochs + 1):
        row = {"epoch": e, "loss": 1 / e, "accuracy": 1 - 0.5 / e, "lr": 0.1 * 0.5**e, "time": 2.0}
        if val:
            row |= {"val_loss": 1.2 / e + 0.01 * e, "val_accuracy": 0.9 - 0.5 / e}
        rows.append(row)
    return rows


def blobs(n: int, size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), dtype=np.int64)
    for mask in masks:
        for cy, cx, r in RNG.integers((0, 0, 4), (size, size, 12), size=(4, 3)):
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = 1
    return masks


def test_history_full_run(tmp_path):
    rows = history(12)
    rows[3]["val_loss"] = math.nan
    del rows[5]["accuracy"]
    rows[2]["note"] = "warm-up"
    assert_picture(plot_history(rows, tmp_path / "history.png"))


@pytest.mark.parametrize(
    "rows",
    [history(1), history(4, val=False), [{"iou": 0.5, "val_iou": 0.4, "dice": 0.6}]],
    ids=["one-epoch", "no-validation", "no-loss-no-epoch"],
)
def test_history_edge_cases(tmp_path, rows):
    assert_picture(plot_history(rows, tmp_path / "h.png"))


def test_history_reads_numpy_and_torch_scalars():
    rows = [{"loss": torch.tensor(0.5), "val_loss": np.float32(0.25), "flag": True, "lr": 1}]
    series = collect_series(rows)
    assert sorted(series) == ["loss", "lr", "val_loss"]
    assert series["val_loss"].tolist() == [0.25]


def test_history_groups_and_best_epoch():
    rows = history(6)
    rows[0]["train_macro_f1"] = 0.5
    series = collect_series(rows)
    groups = group_metrics(series)
    assert list(groups) == ["loss", "accuracy", "macro_f1"]
    assert groups["loss"] == {"train": "loss", "val": "val_loss"}
    assert best_epoch(series) == ("val_loss", int(np.nanargmin(series["val_loss"])))
    assert best_epoch(collect_series([{"val_dice": 0.2}, {"val_dice": 0.7}])) == ("val_dice", 1)
    assert best_epoch(collect_series(history(3, val=False))) is None


@pytest.mark.parametrize(
    ("rows", "received"),
    [([], "Received: []"), ([{"loss": 1.0}, 3], "Received: 3"), ([{"epoch": 1, "time": 2}], "")],
)
def test_history_rejects_bad_rows(tmp_path, rows, received):
    with pytest.raises(CnnlabError) as error:
        plot_history(rows, tmp_path / "h.png")
    assert_one_line(error, received)


@pytest.mark.parametrize("k", [2, 30])
def test_confusion_small_and_large(tmp_path, k):
    matrix = RNG.poisson(3, (k, k)) + np.diag(RNG.integers(20, 60, k))
    path = plot_confusion(matrix, [f"class {i}" for i in range(k)], tmp_path / "cm.png")
    assert_picture(path)


def test_confusion_accepts_tensors_counts_and_empty_rows(tmp_path):
    matrix = torch.tensor([[5, 1, 0], [0, 0, 0], [2, 0, 7]])
    assert_picture(plot_confusion(matrix, None, tmp_path / "cm.png", normalize=False, title="t"))
    assert_picture(plot_confusion(matrix, ["a", "b", "c"], tmp_path / "cm2.png"))


@pytest.mark.parametrize(
    ("matrix", "classes"),
    [
        (np.ones((2, 3)), ["a", "b"]),
        (np.ones(4), ["a"]),
        (np.zeros((0, 0)), []),
        (np.ones((2, 2)), ["a", "b", "c"]),
        (-np.ones((2, 2)), ["a", "b"]),
    ],
    ids=["not-square", "1-d", "empty", "names", "negative"],
)
def test_confusion_rejects_bad_input(tmp_path, matrix, classes):
    with pytest.raises(CnnlabError) as error:
        plot_confusion(matrix, classes, tmp_path / "cm.png")
    assert_one_line(error)


def predictions_input(n: int, channels: int, dtype: type, wrong: float):
    images = RNG.random((n, channels, 16, 16))
    images = (images * 255).astype(np.uint8) if dtype is np.uint8 else images.astype(dtype) - 0.5
    true = RNG.integers(0, 10, n)
    pred = np.where(RNG.random(n) < wrong, (true + 1) % 10, true)
    return images, true, pred, RNG.random(n)


@pytest.mark.parametrize(
    ("channels", "dtype", "wrong"),
    [(1, np.uint8, 0.0), (3, np.uint8, 1.0), (1, np.float32, 0.3), (3, np.float64, 0.3)],
    ids=["gray-all-correct", "rgb-all-wrong", "gray-float", "rgb-float"],
)
def test_predictions_grid(tmp_path, channels, dtype, wrong):
    images, true, pred, prob = predictions_input(20, channels, dtype, wrong)
    assert_picture(plot_predictions(images, true, pred, prob, CLASSES, tmp_path / "p.png"))


def test_predictions_accept_tensors_and_cap_items(tmp_path):
    images, true, pred, prob = predictions_input(50, 3, np.float32, 0.2)
    args = [torch.from_numpy(a) for a in (images, true, pred, prob)]
    path = plot_predictions(*args, CLASSES, tmp_path / "p.png", max_items=5, wrong_first=False)
    assert_picture(path)


def test_predictions_show_mistakes_first():
    wrong = np.array([False, True, False, True, False])
    assert pick_order(wrong, 3, wrong_first=True).tolist() == [1, 3, 0]
    assert pick_order(wrong, 3, wrong_first=False).tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("change", "received"),
    [
        ({"images": np.zeros((4, 16, 16))}, "Received shape (4, 16, 16)"),
        ({"images": np.zeros((4, 2, 8, 8))}, "Received shape (4, 2, 8, 8)"),
        ({"images": np.zeros((0, 1, 8, 8))}, "Received shape (0, 1, 8, 8)"),
        ({"true": np.zeros(3, dtype=int)}, "Received shape (3,)"),
        ({"prob": np.zeros((4, 1))}, "Received shape (4, 1)"),
        ({"pred": np.full(4, 10)}, "Received values 10..10"),
        ({"pred": np.zeros(4)}, "Received dtype float64"),
        ({"prob": np.full(4, 80.0)}, "Received values 80..80"),
        ({"max_items": 0}, "max_items=0"),
    ],
)
def test_predictions_reject_bad_input(tmp_path, change, received):
    images, true, pred, prob = predictions_input(4, 1, np.uint8, 0.5)
    kwargs = {"images": images, "true": true, "pred": pred, "prob": prob} | change
    with pytest.raises(CnnlabError) as error:
        plot_predictions(classes=CLASSES, path=tmp_path / "p.png", **kwargs)
    assert_one_line(error, received)


def test_segmentation_with_cropped_predictions(tmp_path):
    masks = blobs(3, 48)
    images = (masks * 150 + 50).astype(np.uint8)[:, None]
    preds = np.roll(masks, 2, axis=2)[:, 4:44, 4:44]
    path = plot_segmentation(images, masks, preds, tmp_path / "s.png", classes=["bg", "cell"])
    assert_picture(path)


def test_segmentation_multiclass_rgb_tensors(tmp_path):
    masks = blobs(2, 32) + 2 * blobs(2, 32) * (blobs(2, 32) == 0)
    images = torch.rand(2, 3, 32, 32)
    preds = torch.from_numpy(np.roll(masks, 3, axis=1))
    masks = torch.from_numpy(masks).float()
    assert_picture(plot_segmentation(images, masks, preds, tmp_path / "s.png", max_items=1))


@pytest.mark.parametrize(
    ("change", "received"),
    [
        ({"images": np.zeros((2, 16, 16))}, "Received shape (2, 16, 16)"),
        ({"masks": np.zeros((3, 16, 16), dtype=int)}, "Received shape (3, 16, 16)"),
        ({"masks": np.zeros((2, 12, 16), dtype=int)}, "Received (12, 16)"),
        ({"preds": np.zeros((2, 20, 20), dtype=int)}, "Received 20 x 20"),
        ({"preds": np.full((2, 16, 16), 0.5)}, "Received values 0.5..0.5"),
        ({"preds": np.zeros((2, 0, 16))}, "Received shape (2, 0, 16)"),
        ({"alpha": 2.0}, "alpha=2.0"),
        ({"classes": ["bg"], "preds": np.ones((2, 16, 16), dtype=int)}, "Received 1 names"),
    ],
)
def test_segmentation_rejects_bad_input(tmp_path, change, received):
    kwargs = {
        "images": np.zeros((2, 1, 16, 16), dtype=np.uint8),
        "masks": np.zeros((2, 16, 16), dtype=int),
        "preds": np.zeros((2, 16, 16), dtype=int),
    } | change
    with pytest.raises(CnnlabError) as error:
        plot_segmentation(path=tmp_path / "s.png", **kwargs)
    assert_one_line(error, received)


def test_svg_suffix_writes_svg(tmp_path):
    path = plot_history(history(3), tmp_path / "h.svg")
    assert path.suffix == ".svg"
    assert "<svg" in path.read_text()[:1000]


def test_write_is_atomic_and_replaces_an_existing_file(tmp_path):
    target = tmp_path / "deep" / "cm.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    assert plot_confusion(np.eye(3) * 4, None, target) == target
    assert_picture(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["cm.png"]


def test_threads_draw_at_the_same_time(tmp_path):
    paths = [tmp_path / f"h{i}.png" for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(pool.map(lambda p: plot_history(history(5), p), paths))
    assert written == paths
    for path in paths:
        assert_picture(path)


def test_missing_suffix_means_png_and_others_are_refused(tmp_path):
    assert plot_confusion(np.eye(2), None, tmp_path / "cm").name == "cm.png"
    with pytest.raises(CnnlabError) as error:
        plot_confusion(np.eye(2), None, tmp_path / "cm.jpg")
    assert_one_line(error, "cm.jpg")
    assert list(tmp_path.iterdir()) == [tmp_path / "cm.png"]
