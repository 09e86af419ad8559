"""Habits users bring from Keras, fastai and PyTorch: the learning-rate range test, a plateau
schedule, optimizer and schedule factories, class weights, a balanced sampler and metrics of
their own."""

import json
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.cli.main import main
from cnnlab.data import load
from cnnlab.data.loader import InMemoryLoader
from cnnlab.errors import CnnlabError
from cnnlab.runs import RunRecorder
from cnnlab.train import LRFind, TrainConfig, Trainer, lr_find, seed_everything
from cnnlab.train.balance import balanced_weights, class_weight_setting, class_weights
from cnnlab.train.metrics import MetricState
from cnnlab.train.progress import epoch_line
from small_models import small_cnn, weights


@pytest.fixture(scope="module")
def digits():
    return load("digits", "train[:300]"), load("digits", "test[:100]")


def rows(history) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in history.rows]


# The learning-rate range test


def test_lr_find_leaves_model_optimizer_and_rngs_as_they_were(digits):
    train, val = digits
    model = small_cnn()
    trainer = Trainer(model, epochs=1, batch_size=32, verbose=0)
    trainer.fit(train, val)
    model.eval()
    before = weights(model)
    optimizer = {k: v for k, v in trainer.optimizer.state_dict().items() if k != "state"}
    moments = [t.clone() for s in trainer.optimizer.state.values() for t in s.values()]
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    rngs = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())

    result = trainer.lr_find(train, steps=30)

    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # bit-identical, BN buffers included
    assert not model.training
    assert torch.equal(torch.get_rng_state(), rngs[0])
    assert (np.random.get_state()[1] == rngs[1]).all() and random.getstate() == rngs[2]
    assert {k: v for k, v in trainer.optimizer.state_dict().items() if k != "state"} == optimizer
    after = [t for s in trainer.optimizer.state.values() for t in s.values()]
    assert all(torch.equal(a, b) for a, b in zip(after, moments, strict=True))
    assert isinstance(result, LRFind) and 2 <= len(result.lrs) <= 30
    assert result.lrs[0] == pytest.approx(1e-7)
    ratios = np.diff(np.log(result.lrs))
    assert np.allclose(ratios, math.log(1e8) / 29)  # exponential: one factor per step
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]


def test_lr_find_result_shows_itself_and_stops_when_the_loss_diverges(digits, tmp_path):
    result = lr_find(small_cnn(), digits[0], optimizer="sgd", batch_size=32, end_lr=1e4, steps=60)
    assert result.stopped.startswith("stopped at step") and len(result.lrs) < 60
    smoothed = result.smoothed
    assert smoothed[-1] > 4 * min(smoothed) or not math.isfinite(result.losses[-1])
    assert repr(result).startswith("LRFind(suggestion ")
    page = result._repr_html_()
    assert "steepest descent" in page and "data:image/png;base64," in page
    assert result.plot(tmp_path / "lr.png").stat().st_size > 1000


def test_suggestion_is_the_steepest_descent_before_the_minimum():
    lrs = list(np.logspace(-6, 0, 61))
    centre = 1e-3  # a logistic fall centred on 1e-3, then a rise
    smoothed = [
        2.0 - 1.5 / (1 + math.exp(-3 * math.log(lr / centre))) + (5 * lr if lr > 0.05 else 0)
        for lr in lrs
    ]
    result = LRFind(lrs, smoothed, smoothed, "all 61 steps")
    assert result.suggestion == result.steepest
    assert result.steepest == pytest.approx(centre, rel=0.3)
    assert result.minimum > 1e-2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr < end_lr"),
        ({"steps": 1}, "steps must be"),
        ({"beta": 1.0}, "beta in"),
    ],
)
def test_lr_find_refuses_impossible_arguments(digits, options, message):
    with pytest.raises(CnnlabError, match=message):
        Trainer(small_cnn(), verbose=0).lr_find(digits[0], **options)


# Plateau and factories


def constant(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """A metric that never improves after its first value."""
    return 1.0


def test_plateau_decays_when_the_monitor_stops_improving(digits):
    trainer = Trainer(
        small_cnn(),
        epochs=4,
        schedule="plateau",
        plateau_patience=0,
        gamma=0.5,
        metrics=[constant],
        monitor="val_constant",
        verbose=0,
    )
    history = trainer.fit(*digits)
    lrs = [row["lr"] for row in history.rows]  # the rate each epoch trained with
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])


def test_plateau_names_a_monitor_the_history_lacks(digits):
    trainer = Trainer(small_cnn(), epochs=1, schedule="plateau", monitor="val_f1", verbose=0)
    with pytest.raises(CnnlabError, match="plateau schedule watches 'val_f1'"):
        trainer.fit(*digits)


def plateau(**settings) -> dict:
    return dict(
        schedule="plateau",
        plateau_patience=1,
        gamma=0.5,
        metrics=[constant],
        monitor="val_constant",
        **settings,
    )


def factories(**settings) -> dict:
    return dict(
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True),
        schedule=lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5),
        **settings,
    )


@pytest.mark.parametrize("make", [plateau, factories], ids=["plateau", "factories"])
def test_resume_keeps_the_schedule_state(tmp_path, digits, make):
    """Stopped after epoch 2 and resumed, the schedule continues: the same rates and weights
    as the run that was not stopped."""
    train, val = digits
    settings = make(batch_size=50, seed=2, verbose=0)

    def trainer(folder, epochs, resume=False):
        recorder = RunRecorder(tmp_path / folder, resume=resume)
        return Trainer(small_cnn(), epochs=epochs, callbacks=[recorder], **settings)

    whole = trainer("a", 4)
    whole_history = whole.fit(train, val)
    trainer("b", 2).fit(train, val)
    resumed = trainer("b", 4, resume=True)
    history = resumed.fit(train, val)
    assert rows(history) == rows(whole_history)
    assert len({row["lr"] for row in history.rows}) >= 2  # the rate did change
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_factories_build_the_optimizer_and_step_per_epoch(digits, tmp_path):
    trainer = Trainer(small_cnn(), epochs=3, callbacks=[RunRecorder(tmp_path)], **factories())
    history = trainer.fit(*digits)
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert trainer.optimizer.param_groups[0]["nesterov"] is True
    assert [row["lr"] for row in history.rows] == pytest.approx([0.05, 0.025, 0.0125])
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["train"]["optimizer"], config["train"]["schedule"]) == ("custom", "custom")


def test_factories_and_their_records_are_checked(digits):
    with pytest.raises(CnnlabError, match="given to the Trainer, a factory"):
        TrainConfig(optimizer=lambda params: None)
    with pytest.raises(CnnlabError, match=r"must return a torch\.optim\.Optimizer"):
        Trainer(small_cnn(), optimizer=lambda params: "sgd", verbose=0).fit(digits[0])
    with pytest.raises(CnnlabError, match="'custom' stands for a factory"):
        Trainer(small_cnn(), optimizer="custom", verbose=0).fit(digits[0])
    with pytest.raises(CnnlabError, match="schedule must be"):
        TrainConfig(schedule="sometimes")


# Class weights and the balanced sampler


def test_class_weights_weigh_the_training_loss_as_the_formula_says(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 2, 2, generator=generator)
    y = torch.tensor([0] * 30 + [1] * 8 + [2] * 2)
    seed_everything(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        logits = model(x).double()
    settings = dict(epochs=1, batch_size=40, precision="fp32", channels_last="no", verbose=0)
    recorder = RunRecorder(tmp_path)
    trainer = Trainer(model, class_weight="balanced", callbacks=[recorder], **settings)
    history = trainer.fit(x, y)

    w = torch.tensor([40 / (3 * 30), 40 / (3 * 8), 40 / (3 * 2)], dtype=torch.float64)
    ce = -torch.log_softmax(logits, 1)[torch.arange(40), y]
    expected = float((w[y] * ce).sum() / w[y].sum())  # sum_i w[y_i] CE_i / sum_i w[y_i]
    assert history.rows[0]["loss"] == pytest.approx(expected, rel=1e-6)
    assert history.rows[0]["loss"] != pytest.approx(float(ce.mean()), rel=1e-3)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train"]["class_weight"] == "balanced"
    assert config["data"]["class_weight"] == pytest.approx(w.tolist(), rel=1e-6)


def test_validation_loss_stays_unweighted(digits):
    train, val = digits
    model = small_cnn()
    trainer = Trainer(model, epochs=1, class_weight=[1] * 9 + [50], verbose=0)
    history = trainer.fit(train, val)
    plain = Trainer(model, verbose=0).evaluate(val)["loss"]
    assert history.rows[0]["val_loss"] == pytest.approx(plain, rel=1e-5)


def test_class_weight_forms():
    assert class_weight_setting([1, 6.5]) == "1,6.5"
    assert class_weight_setting({"spam": 6.5}) == "spam=6.5"
    assert class_weight_setting(" Balanced ") == "balanced"
    assert class_weight_setting("ham = 1, spam = 0.1") == "ham=1,spam=0.1"
    config = TrainConfig(class_weight={1: 2.0})
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    weights = class_weights("spam=6.5", None, 2, ["ham", "spam"])
    assert weights.tolist() == [1.0, 6.5]
    assert class_weights("1=3", None, 3).tolist() == [1.0, 3.0, 1.0]
    assert balanced_weights(torch.tensor([0, 0, 0, 2]), 3).tolist() == pytest.approx([2 / 3, 0, 2])
    for bad in ("often", [-1, 2], [0, 0], "a=1,2"):
        with pytest.raises(CnnlabError, match="class"):
            class_weight_setting(bad)
    with pytest.raises(CnnlabError, match="has 2 weights but the model has 3"):
        class_weights("1,2", None, 3)
    with pytest.raises(CnnlabError, match="not one of: ham, spam"):
        class_weights("eggs=2", None, 2, ["ham", "spam"])
    with pytest.raises(CnnlabError, match="DataLoader"):
        class_weights("balanced", None, 2)


def test_balanced_sampler_draws_classes_evenly_and_repeatably():
    y = torch.tensor([0] * 900 + [1] * 100)
    weights = 1.0 / torch.bincount(y).double()[y]
    loader = InMemoryLoader(torch.arange(1000), y, batch_size=1000, seed=5, weights=weights)
    (_, first), (_, second) = next(iter(loader)), next(iter(loader))
    assert 0.4 < float(first.float().mean()) < 0.6  # half of the draws are the 10% class
    loader.set_epoch(0)
    assert torch.equal(next(iter(loader))[1], first) and not torch.equal(first, second)


def test_balanced_sampler_trains_and_is_refused_where_it_cannot_draw(digits):
    history = Trainer(small_cnn(), epochs=1, sampler="balanced", verbose=0).fit(*digits)
    assert history.rows[0]["val_accuracy"] > 0
    masks = (torch.rand(4, 1, 8, 8), torch.zeros(4, 8, 8, dtype=torch.int64))
    model = nn.Conv2d(1, 2, 1)
    with pytest.raises(CnnlabError, match="masks hold many classes"):
        Trainer(model, sampler="balanced", verbose=0).fit(masks)
    with pytest.raises(CnnlabError, match="sampler must be"):
        TrainConfig(sampler="sometimes")


# Metrics of your own


def mean_absolute_error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs.argmax(1) - targets).abs().float().mean()


def test_user_metrics_join_the_history_and_the_progress_line(digits):
    train, val = digits
    hits = lambda outputs, targets: float((outputs.argmax(1) == targets).float().mean())  # noqa: E731
    trainer = Trainer(
        small_cnn(),
        epochs=2,
        batch_size=300,
        metrics={"hits": hits},
        eval_batch_size=100,
        verbose=0,
    )
    history = trainer.fit(train, val)
    row = history.rows[-1]
    assert row["hits"] == pytest.approx(row["accuracy"])  # one batch: the exact value
    assert row["val_hits"] == pytest.approx(row["val_accuracy"])
    assert "val_hits" in epoch_line(row, 2, len(train))
    listed = Trainer(small_cnn(), metrics=[mean_absolute_error], verbose=0)
    result = listed.evaluate(val)
    assert result["mean_absolute_error"] >= 0


def test_user_metrics_are_averaged_per_sample_and_saved():
    state = MetricState(3, metrics={"mae": mean_absolute_error})
    logits = torch.eye(3)[[0, 1, 2, 2]]  # predictions 0 1 2 2
    state.update(torch.tensor(0.0), logits[:3], torch.tensor([0, 1, 0]))  # errors 0 0 2
    state.update(torch.tensor(0.0), logits[3:], torch.tensor([0]))  # error 2
    assert state.result()["mae"] == pytest.approx(4 / 4)
    copy = MetricState(3, metrics={"mae": mean_absolute_error})
    copy.load_state_dict(state.state_dict())
    assert "user.mae" in state.state_dict() and copy.result()["mae"] == state.result()["mae"]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([lambda o, t: 0.0], "needs a name"),
        ({"accuracy": mean_absolute_error}, "other than cnnlab's own"),
        ({"val_mae": mean_absolute_error}, "val_ or top prefix"),
        ({"mae": 3}, "must be a function"),
    ],
)
def test_user_metrics_are_checked(metrics, message):
    with pytest.raises(CnnlabError, match=message):
        Trainer(small_cnn(), metrics=metrics, verbose=0)


# From the command line

SMALL = ["--dataset", "digits", "--train-split", "train[:256]", "--batch-size", "32"]


def test_cli_lr_find_prints_the_suggestion_and_writes_the_plot(tmp_path, capsys):
    assert main(["train", "lenet5", *SMALL, "--lr-find", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "suggested lr" in out and "steepest descent" in out and "train with: --lr" in out
    assert [p.name for p in tmp_path.iterdir()] == ["lr-find-lenet5-digits.png"]  # no run


def test_cli_settings_for_imbalance_and_plateau_reach_the_run(tmp_path):
    args = ["train", "lenet5", *SMALL, "--val-split", "test[:64]", "--epochs", "1", "--quiet"]
    args += ["--class-weight", "balanced", "--sampler", "balanced", "--schedule", "plateau"]
    assert main([*args, "--plateau-patience", "2", "--out", str(tmp_path)]) == 0
    (run,) = list(tmp_path.iterdir())
    config = json.loads((run / "config.json").read_text())
    train = config["train"]
    assert (train["class_weight"], train["sampler"], train["schedule"]) == (
        "balanced",
        "balanced",
        "plateau",
    )
    assert train["plateau_patience"] == 2 and len(config["data"]["class_weight"]) == 10


# Interpretation


def test_top_losses_and_most_confused(digits):
    train, val = digits
    trainer = Trainer(small_cnn(), epochs=1, verbose=0)
    trainer.fit(train)
    prediction = trainer.predict(val)
    losses = prediction.losses()
    shown = prediction.top_losses(4)
    lines = repr(shown).splitlines()
    worst = int(losses.argmax())
    assert len(lines) == 5 and lines[1].startswith(f"#{worst}: ")
    assert f"loss {float(losses.max()):.2f}" in lines[1] and "<img" in shown._repr_html_()
    expected = -torch.log(prediction.probabilities[torch.arange(100), val.labels])
    assert torch.allclose(losses, expected)
    evaluation = trainer.evaluate(val)
    confused = evaluation.most_confused(3)
    matrix = evaluation["confusion_matrix"]
    off = sorted((c for i, r in enumerate(matrix) for j, c in enumerate(r) if i != j), reverse=True)
    assert [count for _, _, count in confused] == off[: len(confused)]
    assert "most confused" in evaluation._repr_html_()
    with pytest.raises(CnnlabError, match="need the true classes"):
        trainer.predict(val.images).losses()
