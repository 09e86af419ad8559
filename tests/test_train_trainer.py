"""The trainer: learning, determinism, exact resume, schedules, callbacks, aux heads,
segmentation, and what a run directory holds."""

import json
import math

import pytest
import torch
from torch import nn

from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.runs import RunRecorder
from cnnlab.runs.checkpoint import load_checkpoint
from cnnlab.train import (
    Callback,
    EarlyStopping,
    LearningRateLogger,
    Trainer,
    TrainingDiverged,
    seed_everything,
)
from cnnlab.train.augmentation import get_augment
from cnnlab.train.objective import Objective
from small_models import small_cnn, weights


@pytest.fixture(scope="module")
def digits():
    return load("digits", "train[:600]"), load("digits", "test[:200]")


def test_fit_learns_digits_and_reports_metrics(digits):
    train, val = digits
    trainer = Trainer(small_cnn(), epochs=4, batch_size=32, lr=3e-3, verbose=0)
    history = trainer.fit(train, val)
    assert len(history) == 4
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(history.columns)
    assert history.rows[-1]["loss"] < history.rows[0]["loss"]
    assert history.rows[-1]["val_accuracy"] > 0.85
    result = trainer.evaluate(val)
    assert sum(map(sum, result["confusion_matrix"])) == len(val)
    assert result["accuracy"] == pytest.approx(history.rows[-1]["val_accuracy"])
    prediction = trainer.predict(val.images)
    assert torch.allclose(prediction.probabilities.sum(1), torch.ones(len(val)), atol=1e-5)
    assert torch.equal(prediction.classes, prediction.probabilities.argmax(1))
    again = trainer.predict(val.images)  # eval mode: dropout off, BN running stats
    assert torch.equal(prediction.probabilities, again.probabilities)


def test_two_seeded_deterministic_runs_are_bit_identical(digits):
    train, val = digits
    runs = []
    for _ in range(2):
        model = small_cnn()
        Trainer(model, epochs=2, batch_size=50, seed=7, deterministic=True, verbose=0).fit(
            train, val
        )
        runs.append(weights(model))
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key


class Crash(Callback):
    """Simulates a crash (an exception) when the trainer reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_sync(self, trainer, loss):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_mid_epoch_equals_an_uninterrupted_run(tmp_path, digits):
    train, val = digits
    settings = dict(epochs=3, batch_size=32, seed=3, sync_every=1, verbose=0)
    augment = get_augment("shift-rotate")
    reference = small_cnn()
    recorder = RunRecorder(tmp_path / "a", checkpoint_every=4)
    whole = Trainer(reference, augment=augment, callbacks=[recorder], **settings)
    whole_history = whole.fit(train, val)

    recorder = RunRecorder(tmp_path / "b", checkpoint_every=4)
    crashed = Trainer(small_cnn(), augment=augment, callbacks=[Crash(27), recorder], **settings)
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(train, val)
    _, meta = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert (meta["epoch"], meta["step"], meta["global_step"]) == (1, 5, 24)

    resumed_model = small_cnn(dropout=0.2)
    recorder = RunRecorder(tmp_path / "b", resume=True, checkpoint_every=4)
    resumed = Trainer(resumed_model, augment=augment, callbacks=[recorder], **settings)
    history = resumed.fit(train, val)
    for key, value in weights(reference).items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    strip = [{k: v for k, v in r.items() if k != "time"} for r in history.rows]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in whole_history.rows]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_of_a_channels_last_lenet_is_exact(tmp_path, digits, precision):
    """channels_last weights (C_in > 1, so NHWC differs from NCHW) with the fused Adam:
    stopping after epoch 1 and resuming ends where the uninterrupted run ends."""
    train, _ = digits
    settings = dict(batch_size=64, seed=1, verbose=0, precision=precision, channels_last=True)

    def trainer(run_dir, epochs, resume=False):
        seed_everything(0)
        recorder = RunRecorder(run_dir, resume=resume)
        return Trainer(create_model("lenet5"), epochs=epochs, callbacks=[recorder], **settings)

    whole = trainer(tmp_path / "a", 2)
    whole.fit(train)
    trainer(tmp_path / "b", 1).fit(train)
    resumed = trainer(tmp_path / "b", 2, resume=True)
    resumed.fit(train)
    assert resumed.execution.channels_last and resumed.execution.fused_optimizer
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, digits):
    with pytest.raises(CnnlabError, match="nothing to resume"):
        recorder = RunRecorder(tmp_path, resume=True)
        Trainer(small_cnn(), callbacks=[recorder], verbose=0).fit(digits[0])


@pytest.mark.parametrize("model", ["lenet5", "small-cnn"])
def test_nan_guard_stops_a_diverging_run(tmp_path, digits, model):
    net = create_model("lenet5") if model == "lenet5" else small_cnn()
    recorder = RunRecorder(tmp_path)
    trainer = Trainer(net, epochs=3, optimizer="sgd", lr=1e9, verbose=0, callbacks=[recorder])
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(*digits)
    message = str(info.value)
    assert "\n" not in message and "lower the learning rate" in message and "lr=1e+09" in message
    assert not (tmp_path / "checkpoints" / "last.safetensors").exists()


def test_nan_in_the_data_is_refused(digits):
    images = digits[0].images.float() / 255
    images[5, 0, 3, 3] = float("nan")
    with pytest.raises(CnnlabError, match="NaN or Inf"):
        Trainer(small_cnn(), epochs=1, batch_size=600, verbose=0).fit((images, digits[0].labels))


@pytest.mark.parametrize(
    ("schedule", "check"),
    [
        ("constant", lambda lrs: all(x == 0.01 for x in lrs)),
        ("cosine", lambda lrs: lrs[-1] == pytest.approx(0.0, abs=1e-12) and lrs[0] < 0.01),
        ("one-cycle", lambda lrs: max(lrs) == pytest.approx(0.01, rel=0.2) and lrs[-1] < 1e-4),
        ("step", lambda lrs: lrs == pytest.approx([0.01, 0.001, 0.001, 1e-4])),
    ],
)
def test_schedules_step_per_batch(digits, schedule, check):
    logger = LearningRateLogger()
    trainer = Trainer(
        small_cnn(),
        epochs=4,
        batch_size=100,
        lr=0.01,
        schedule=schedule,
        step_epochs=2 if schedule == "step" else 30,
        sync_every=1,
        verbose=0,
        callbacks=[logger],
        optimizer="sgd",
    )
    history = trainer.fit(digits[0])
    lrs = [row["lr"] for row in history.rows]
    if schedule == "step":
        lrs = [logger.values[0], *lrs[1:]]
    assert check(lrs), lrs
    assert len(logger.values) == 4 * 6


def test_early_stopping_stops(digits):
    stopper = EarlyStopping("val_loss", patience=1, min_delta=100.0)
    trainer = Trainer(small_cnn(), epochs=10, verbose=0, callbacks=[stopper])
    history = trainer.fit(*digits)
    assert len(history) == 2 and stopper.stopped_epoch == 2


def test_validation_split_takes_the_last_fraction(digits):
    history = Trainer(small_cnn(), epochs=1, verbose=0).fit(digits[0], validation_split=0.25)
    assert "val_accuracy" in history.rows[0]


def test_gradient_clipping_bounds_the_update(digits):
    model = small_cnn()
    before = weights(model)
    Trainer(
        model,
        epochs=1,
        batch_size=600,
        optimizer="sgd",
        momentum=0.0,
        lr=1.0,
        grad_clip=1e-3,
        verbose=0,
    ).fit(digits[0])
    change = torch.cat(
        [
            (model.state_dict()[k] - v).flatten().float()
            for k, v in before.items()
            if v.is_floating_point() and "running" not in k
        ]
    )
    assert change.norm() <= 1e-3 + 1e-6


def test_aux_heads_add_their_weighted_loss():
    logits, aux1, aux2 = torch.randn(3, 4, 5).unbind(0)
    target = torch.tensor([0, 1, 2, 3])
    out = create_model("googlenet").__class__  # the NamedTuple comes from the model module
    from cnnlab.models.googlenet import GoogLeNetOutputs

    assert out is not None
    ce = nn.functional.cross_entropy
    loss = Objective(aux_weight=0.3)(GoogLeNetOutputs(logits, aux1, aux2), target)
    expected = ce(logits, target) + 0.3 * (ce(aux1, target) + ce(aux2, target))
    assert loss == pytest.approx(float(expected))


def test_googlenet_with_aux_heads_trains():
    seed_everything(0)
    model = create_model("googlenet", aux_logits=True, num_classes=3, image_size=64)
    x = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    history = Trainer(model, epochs=1, batch_size=6, verbose=0, top_k=1).fit((x, y), (x, y))
    assert math.isfinite(history.rows[0]["loss"]) and "val_accuracy" in history.rows[0]


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_segmentation_learns_masks(padding):
    data = load(
        "synthetic",
        "train",
        task="segmentation",
        size=44 if padding == "valid" else 32,
        train_size=96,
    )
    masks = (data.masks > 0).long()
    seed_everything(0)
    model = create_model(
        "unet", num_classes=2, base_width=8, depth=2, padding=padding, norm_layer="batch"
    )
    trainer = Trainer(model, epochs=6, batch_size=16, lr=3e-3, verbose=0)
    history = trainer.fit((data.images, masks), (data.images, masks))
    assert {"pixel_accuracy", "iou", "dice", "val_dice"} <= set(history.columns)
    assert history.rows[-1]["val_dice"] > 0.8
    prediction = trainer.predict(data.images[:2])
    side = 32 if padding == "same" else 4
    assert prediction.classes.shape[0] == 2 and prediction.classes.shape[1] >= side


def test_run_directory_holds_everything(tmp_path, digits):
    trainer = Trainer(
        small_cnn(),
        epochs=2,
        verbose=0,
        callbacks=[RunRecorder(tmp_path, run_info={"model": "custom", "dataset": "digits"})],
    )
    trainer.fit(*digits)
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    expected = {
        "config.json",
        "history.csv",
        "metrics.json",
        "report.md",
        "report.html",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
        "figures/history.png",
        "figures/confusion.png",
        "figures/predictions.png",
    }
    assert expected <= names
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train"]["epochs"] == 2 and config["input_spec"]["size"] == [8, 8]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and len(metrics["validation"]["confusion_matrix"]) == 10
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and 'src="http' not in page
    report = (tmp_path / "report.md").read_text()
    assert "figures/history.png" in report
    worst = metrics["top_losses"]  # the validation samples most wrong, highest loss first
    assert len(worst) == 9 and [m["loss"] for m in worst] == sorted(
        (m["loss"] for m in worst), reverse=True
    )
    first = worst[0]
    assert f"| {first['index']} | {first['true']} | {first['predicted']} |" in report
    matrix = metrics["validation"]["confusion_matrix"]
    largest = max(n for i, row in enumerate(matrix) for j, n in enumerate(row) if i != j)
    table = report.split("## Most confused (validation)")[1].split("\n## ")[0]
    first_row = [line for line in table.splitlines() if line.startswith("| ")][1]
    assert first_row.endswith(f"| {largest} |")  # the most confused pair comes first


def test_bad_data_is_a_one_line_error():
    with pytest.raises(CnnlabError, match="equal length"):
        Trainer(small_cnn(), verbose=0).fit((torch.zeros(4, 1, 8, 8), torch.zeros(3)))
    with pytest.raises(CnnlabError, match="in_channels=3"):
        Trainer(small_cnn(), verbose=0).fit((torch.zeros(4, 3, 8, 8), torch.zeros(4)))


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("epochs", -1),
        ("batch_size", 0),
        ("lr", float("nan")),
        ("optimizer", "rmsprop"),
        ("verbose", 3),
        ("grad_clip", 0.0),
    ],
)
def test_absurd_settings_are_refused(setting, value):
    with pytest.raises(CnnlabError, match=setting if setting != "lr" else "lr must"):
        Trainer(small_cnn(), **{setting: value})


def test_run_directory_with_tensor_validation(tmp_path, digits):
    train, val = digits
    trainer = Trainer(small_cnn(), epochs=1, verbose=0, callbacks=[RunRecorder(tmp_path)])
    trainer.fit((train.images, train.labels), (val.images, val.labels))
    assert (tmp_path / "report.html").exists() and (tmp_path / "figures" / "confusion.png").exists()
