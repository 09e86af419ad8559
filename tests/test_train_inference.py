"""The precision of evaluation and prediction: ``eval_precision`` (auto, fp32, bf16) resolved
as training's precision is, overridable per call, refused in one line when impossible,
recorded in the run and named in its report."""

import json
import re

import pytest
import torch
from torch import nn

from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.runs import RunRecorder
from cnnlab.train import Trainer
from cnnlab.train import execution as ex
from cnnlab.train.inference import forward_logits, prepare_model

CPU = torch.device("cpu")


def tiny_model() -> nn.Module:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    model.input_size = (1, 8, 8)
    return model


def tiny_data(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8), torch.randint(0, 3, (n,))


def test_auto_evaluates_as_training_is_chosen(monkeypatch):
    monkeypatch.setattr(ex, "native_bf16", lambda device: True)
    assert Trainer(tiny_model(), verbose=0).execution.eval_precision == "bf16"
    monkeypatch.setattr(ex, "native_bf16", lambda device: False)
    assert Trainer(tiny_model(), verbose=0).execution.eval_precision == "fp32"
    chosen = Trainer(tiny_model(), verbose=0, eval_precision="bf16").execution
    assert chosen.eval_precision == "bf16"  # asked for: emulated, but honoured


def test_evaluation_follows_the_training_setting_unless_given_its_own(monkeypatch):
    monkeypatch.setattr(ex, "native_bf16", lambda device: True)
    assert Trainer(tiny_model(), verbose=0, precision="fp32").execution.eval_precision == "fp32"
    both = Trainer(tiny_model(), verbose=0, precision="fp32", eval_precision="auto").execution
    assert (both.precision, both.eval_precision) == ("fp32", "bf16")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: Trainer(tiny_model(), verbose=0, eval_precision="fp16"),
            "eval_precision must be one of auto, fp32, bf16. Received: eval_precision='fp16'",
        ),
        (
            lambda: Trainer(tiny_model(), verbose=0).evaluate(*tiny_data(), precision="half"),
            "precision must be one of auto, fp32, bf16. Received: precision='half'",
        ),
        (
            lambda: Trainer(tiny_model(), verbose=0).predict(tiny_data()[0], precision=16),
            "precision must be one of auto, fp32, bf16. Received: precision=16",
        ),
        (
            lambda: Trainer(tiny_model(), verbose=0, device="meta", eval_precision="bf16"),
            "eval_precision='bf16' runs on cpu or cuda. Received: device=meta",
        ),
    ],
)
def test_impossible_precisions_are_refused_in_one_line(call, message):
    with pytest.raises(CnnlabError, match=re.escape(message)) as info:
        call()
    assert "\n" not in str(info.value)


def test_evaluation_and_prediction_run_in_the_chosen_precision():
    seen: list[torch.dtype] = []
    model = tiny_model()
    model[2].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    images, labels = tiny_data()
    trainer = Trainer(model, verbose=0, eval_precision="bf16")
    result = trainer.evaluate(images, labels)
    assert seen[-1] == torch.bfloat16 and result["precision"] == "bf16"
    assert trainer.evaluate(images, labels, precision="fp32")["precision"] == "fp32"
    assert seen[-1] == torch.float32
    probabilities = trainer.predict(images).probabilities
    assert seen[-1] == torch.bfloat16 and probabilities.dtype == torch.float32
    trainer.predict(images, precision="fp32")
    assert seen[-1] == torch.float32


def test_a_loaded_model_predicts_in_the_chosen_precision():
    model = create_model("lenet5", image_size=28).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.inference_mode():
        expected = model(x)
        channels_last = prepare_model(model, CPU)
        assert channels_last and model.features[0].weight.is_contiguous(
            memory_format=torch.channels_last
        )
        full = forward_logits(model, x, "fp32", channels_last)
        reduced = forward_logits(model, x, "bf16", channels_last)
    assert full.dtype == reduced.dtype == torch.float32
    torch.testing.assert_close(full, expected)
    torch.testing.assert_close(reduced, expected, atol=0.05, rtol=0.05)


def test_bf16_evaluation_agrees_with_float32_on_a_trained_model():
    """A LeNet-5 trained on the digits: bfloat16 inference changes its validation accuracy by
    at most half a point and at most 1% of its predictions."""
    if not ex.native_bf16(CPU):
        pytest.skip("this CPU does not multiply bfloat16 natively (emulated: slow)")
    train, validation = load("digits", "train"), load("digits", "test")
    torch.manual_seed(0)
    trainer = Trainer(create_model("lenet5"), epochs=3, batch_size=32, lr=3e-3, verbose=0)
    trainer.fit(train)
    full = trainer.evaluate(validation, precision="fp32")
    reduced = trainer.evaluate(validation, precision="bf16")
    assert full["accuracy"] > 0.8, full["accuracy"]  # trained: the comparison means something
    assert abs(full["accuracy"] - reduced["accuracy"]) <= 0.005
    assert reduced["loss"] == pytest.approx(full["loss"], rel=0.05)
    changed = trainer.predict(validation, precision="fp32").classes
    changed = (changed != trainer.predict(validation, precision="bf16").classes).sum()
    assert int(changed) <= 0.01 * len(validation)


@pytest.mark.parametrize(("precision", "text"), [("fp32", "float32"), ("bf16", "bfloat16")])
def test_the_run_records_and_reports_its_evaluation_precision(tmp_path, precision, text):
    images, labels = tiny_data(32)
    recorder = RunRecorder(tmp_path)
    trainer = Trainer(
        tiny_model(),
        epochs=1,
        batch_size=16,
        verbose=0,
        callbacks=[recorder],
        eval_precision=precision,
    )
    trainer.fit((images, labels), validation_data=(images, labels))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["execution"]["eval_precision"] == precision
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["validation"]["precision"] == precision
    report = (tmp_path / "report.md").read_text()
    assert re.search(rf"validation computed in \| {text}", report), report[:2000]
