"""Rich display in notebooks of what training gives back: History, Dataset, Evaluation,
Prediction, a loaded run and an experiment's report each have a short ``repr`` and a
self-contained, escaped ``_repr_html_`` (IPython's display protocol)."""

from __future__ import annotations

import io
import json
import pickle
import re
from dataclasses import replace

import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import cnnlab
from cnnlab.data import Dataset, DatasetInfo, Vocabulary, load
from cnnlab.display import Html, png
from cnnlab.errors import CnnlabError
from cnnlab.experiments.base import Context, Report
from cnnlab.runs import RunRecorder
from cnnlab.train import Evaluation, History, Prediction, Trainer, seed_everything
from cnnlab.viz import plot_confusion, plot_history, plot_predictions, plot_segmentation

HOSTILE = "<b>bold</b>"
ESCAPED = "&lt;b&gt;bold&lt;/b&gt;"
CLASSES = (HOSTILE, *(str(i) for i in range(1, 10)))
PNG = b"\x89PNG\r\n\x1a\n"


def hostile(dataset: Dataset) -> Dataset:
    """``dataset`` with class 0 renamed to a string that would be markup if not escaped."""
    return replace(dataset, info=replace(dataset.info, classes=CLASSES))


def assert_safe(html: str) -> None:
    """Self-contained, script-free, with the hostile string escaped wherever it appears."""
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "external reference"
    assert "href=" not in html and "url(" not in html and "<link" not in html
    assert HOSTILE not in html and "<b>" not in html


def assert_short(value: object) -> str:
    text = repr(value)
    assert len(text) < 200 and text.count("\n") <= 3, text
    assert "tensor(" not in text and "array(" not in text, text
    return text


def images_in(html: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))


def small_cnn() -> nn.Module:
    seed_everything(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )
    model.input_size = (1, 8, 8)
    return model


@pytest.fixture(scope="module")
def digits() -> tuple[Dataset, Dataset]:
    return hostile(load("digits", "train[:300]")), hostile(load("digits", "test[:100]"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits) -> tuple[Trainer, History]:
    run_dir = tmp_path_factory.mktemp("display") / "run"
    trainer = Trainer(
        small_cnn(), epochs=2, batch_size=32, lr=3e-3, verbose=0, callbacks=[RunRecorder(run_dir)]
    )
    history = trainer.fit(*digits)
    return trainer, history


def test_history(trained):
    _, history = trained
    text = assert_short(history)
    assert re.fullmatch(
        r"History\(2 epochs: loss [\d.]+ -> [\d.]+, val_accuracy [\d.]+% -> [\d.]+%\)", text
    )
    html = history._repr_html_()
    assert_safe(html)
    assert images_in(html) == 1
    assert "val_accuracy" in html and "2 epochs" in html
    accuracy = f"{100 * history.rows[-1]['val_accuracy']:.2f}%"
    assert accuracy in html  # the table shows rates as percentages


def test_history_without_rows_or_plottable_metrics():
    assert repr(History()) == "History(0 epochs)"
    assert "History(0 epochs)" in History()._repr_html_()
    odd = History([{"epoch": 1, "time": 2.0, HOSTILE: "note"}])
    assert repr(odd) == "History(1 epoch)"
    html = odd._repr_html_()  # nothing to draw: the table alone
    assert_safe(html)
    assert images_in(html) == 0 and ESCAPED in html


def test_dataset_card_and_samples(digits):
    train, _ = digits
    assert assert_short(train) == "Dataset(digits train[:300]: 300 images 1x8x8 uint8, 10 classes)"
    html = train._repr_html_()
    assert_safe(html)
    for fact in ("train[:300]", "classification", "1x8x8 uint8", "CC BY 4.0", ESCAPED):
        assert fact in html
    counts = torch.bincount(train.labels, minlength=10)
    assert f">{int(counts[0])}<" in html  # samples per class
    assert images_in(html) == 16
    batch = train.show_batch(5)
    assert isinstance(batch, Html) and images_in(batch._repr_html_()) == 5
    assert assert_short(batch) == "5 samples of digits train[:300]"
    assert images_in(train.subset(slice(0, 3)).show_batch(8)._repr_html_()) == 3
    with pytest.raises(CnnlabError, match="n >= 1"):
        train.show_batch(0)


def test_segmentation_and_text_datasets():
    shapes = load("synthetic", "train", task="segmentation", train_size=6)
    assert assert_short(shapes).endswith("6 images 1x32x32 uint8 with masks, 4 classes)")
    html = shapes._repr_html_()
    assert_safe(html)
    assert images_in(shapes.show_batch(3)._repr_html_()) == 6  # image and mask side by side
    assert "pixels" in html
    texts = [f"win {HOSTILE} now", "see you at noon", "call me"]
    vocab = Vocabulary.build(texts)
    info = DatasetInfo("sms", "text", "short texts", ("ham", HOSTILE), (8,), ("train",), "", "", "")
    data = Dataset(info, "train", labels=torch.tensor([1, 0, 0]), tokens=vocab.encode(texts, 8))
    data = replace(data, texts=texts, vocab=vocab)
    assert assert_short(data) == "Dataset(sms train: 3 texts of 8 int64 token ids, 2 classes)"
    html = data._repr_html_()
    assert_safe(html)
    assert "see you at noon" in html and f"win {ESCAPED} now" in html and images_in(html) == 0


def test_evaluation_is_a_dict_that_shows_itself(trained, digits):
    trainer, _ = trained
    result = trainer.evaluate(digits[1])
    assert isinstance(result, Evaluation) and isinstance(result, dict)
    assert json.loads(json.dumps(result)) == json.loads(json.dumps(dict(result)))
    assert 0.0 <= result["accuracy"] <= 1.0
    text = assert_short(result)
    assert text.startswith("Evaluation(100 samples, 10 classes: loss ")
    html = result._repr_html_()
    assert_safe(html)
    assert "macro_f1" in html and "per class" in html and ESCAPED in html
    assert images_in(html) == 1  # the confusion matrix
    assert isinstance(trainer.validation_result, Evaluation)


def test_prediction_keeps_its_pair_and_shows_mistakes_first(trained, digits):
    trainer, _ = trained
    val = digits[1]
    prediction = trainer.predict(val)
    probabilities, classes = prediction  # still a pair
    assert len(prediction) == 2 and torch.equal(classes, probabilities.argmax(1))
    assert prediction.inputs is val.images and torch.equal(prediction.targets, val.labels)
    assert prediction.class_names == list(CLASSES)
    wrong = int((classes != val.labels).sum())
    assert assert_short(prediction) == f"Prediction(100 samples, 10 classes, {wrong} wrong)"
    html = prediction._repr_html_()
    assert_safe(html)
    assert images_in(html) == 36 and "36 of 100 shown, mistakes first" in html
    if wrong > 0:  # the first tile is a mistake: framed in red, with the true class
        first = html[html.index("<img") : html.index("</div></div>")]
        assert "true " in first
    again = pickle.loads(pickle.dumps(prediction))
    assert again.class_names == prediction.class_names and torch.equal(again.targets, val.labels)


def test_prediction_of_bare_inputs_and_loaders(trained, digits):
    trainer, _ = trained
    images = digits[1].images[:5]
    prediction = trainer.predict(images)
    assert prediction.inputs is images and prediction.targets is None
    assert assert_short(prediction) == "Prediction(5 samples, 10 classes)"
    assert images_in(prediction._repr_html_()) == 5
    loader = DataLoader(TensorDataset(images, digits[1].labels[:5]), batch_size=2)
    from_loader = trainer.predict(loader)
    assert from_loader.inputs is None
    html = from_loader._repr_html_()
    assert_safe(html)
    assert images_in(html) == 0 and "probability" in html


def test_prediction_of_masks_and_texts():
    probabilities = torch.rand(2, 3, 4, 4).softmax(1)
    classes = probabilities.argmax(1)
    images = torch.randint(0, 255, (2, 1, 4, 4), dtype=torch.uint8)
    masks = classes.clone()
    masks[0, 0, 0] = (masks[0, 0, 0] + 1) % 3
    segmentation = Prediction(probabilities, classes, images, masks, ["bg", HOSTILE, "c"])
    assert assert_short(segmentation) == "Prediction(2 masks 4x4, 3 classes, pixel accuracy 96.88%)"
    assert images_in(segmentation._repr_html_()) == 6  # image, truth and prediction
    texts = [f"free {HOSTILE} prize", "lunch?"]
    text = Prediction(torch.tensor([[0.2, 0.8], [0.9, 0.1]]), torch.tensor([1, 0]), texts)
    html = text._repr_html_()
    assert_safe(html)
    assert f"free {ESCAPED} prize" in html and "80.0%" in html


def test_loaded_run_shows_its_card_and_figures(trained):
    trainer, _ = trained
    run_dir = trainer.callbacks.find(RunRecorder).layout.root
    run = cnnlab.load_run(run_dir, model=small_cnn())
    assert assert_short(run).startswith(f"LoadedRun({run_dir.name}: ")
    html = run._repr_html_()
    assert_safe(html)
    assert "best.safetensors" in html and "val_loss" in html and ESCAPED in html
    assert images_in(html) >= 2  # history and confusion matrix, at least


def test_experiment_report(tmp_path):
    ctx = Context("demo", tmp_path / "demo", quick=True)
    report = Report(ctx, f"Title {HOSTILE}", f"Intro {HOSTILE}")
    report.result("accuracy", 0.9, literature=f"99% {HOSTILE}")
    report.check(f"claim {HOSTILE}", "measured", True)
    report.check("another", "measured", False)
    picture = ctx.figure("pixels")
    picture.parent.mkdir(parents=True)
    picture.write_bytes(png(bytes(range(12)), 4, 3))
    report.doc.figure(picture, f"caption {HOSTILE}")
    text = assert_short(report)
    assert text == "Report(demo quick: 1 results, 1/2 expected outcomes reproduced)"
    html = report._repr_html_()
    assert_safe(html)
    assert "this run" in html and "literature" in html and "90.00%" in html and "NO" in html
    assert f"99% {ESCAPED}" in html and images_in(html) == 1
    written = report.write(1.0).read_text()
    assert "90.00%" in written and "Expected outcomes" in written


def test_png_builder_and_figures_as_bytes():
    pixels = bytes(range(2 * 3 * 3))
    with Image.open(io.BytesIO(png(pixels, 3, 2, 3))) as image:
        assert image.size == (3, 2) and image.mode == "RGB"
        assert image.getpixel((1, 0)) == (3, 4, 5)
    with pytest.raises(ValueError):
        png(b"\0", 2, 2)
    rows = [{"epoch": 1, "loss": 1.0, "val_loss": 1.2}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}]
    assert plot_history(rows).startswith(PNG)
    assert plot_confusion([[3, 1], [0, 4]], ["a", "b"]).startswith(PNG)
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    labels = torch.tensor([0, 1])
    assert plot_predictions(images, labels, labels, [0.9, 0.8], ["a", "b"]).startswith(PNG)
    masks = torch.zeros(2, 4, 4, dtype=torch.int64)
    assert plot_segmentation(images, masks, masks).startswith(PNG)
