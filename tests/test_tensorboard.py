"""TensorBoardLogger: the event files it writes, read back with TensorBoard's own reader."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.runs import RunRecorder
from cnnlab.runs.tensorboard import TensorBoardLogger, summary_writer
from cnnlab.train import Trainer
from cnnlab.train.history import History

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read(folder) -> event_accumulator.EventAccumulator:
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    return events.Reload()


def values(events, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in events.Scalars(tag)]


@pytest.fixture(scope="module")
def digits():
    return load("digits", "train"), load("digits", "test")


def test_curves_samples_graph_and_hyperparameters_read_back(digits, tmp_path):
    train, test = digits
    torch.manual_seed(0)
    logger = TensorBoardLogger(tmp_path / "tb")
    trainer = Trainer(create_model("lenet5"), epochs=2, lr=3e-3, verbose=0, callbacks=[logger])
    history = trainer.fit(train, test)

    trained = read(tmp_path / "tb" / "train")
    validated = read(tmp_path / "tb" / "validation")
    assert values(trained, "epoch/loss") == [
        (row["epoch"], pytest.approx(row["loss"])) for row in history.rows
    ]
    assert values(validated, "epoch/loss") == [
        (row["epoch"], pytest.approx(row["val_loss"])) for row in history.rows
    ]
    assert [v for _, v in values(validated, "epoch/accuracy")] == pytest.approx(
        history.history["val_accuracy"]
    )
    steps = [step for step, _ in values(trained, "step/loss")]
    assert steps == sorted(steps) and steps[-1] == trainer.global_step
    assert values(trained, "step/lr")[-1][1] == pytest.approx(trainer.lr)

    (image,) = validated.Images("samples")
    assert (image.width, image.height) == (8 * 8, 2 * 8)  # 16 digits of 8x8, 8 a row
    graph = trained.Graph()
    assert any("convolution" in node.op for node in graph.node)

    hparams = read(tmp_path / "tb" / "train").PluginTagToContent("hparams")
    assert hparams, "no hyperparameters written"


def test_a_model_that_cannot_be_traced_gets_a_note(digits, tmp_path):
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

        def forward(self, x):
            if torch.jit.is_tracing():
                raise RuntimeError("no tracing here")
            return self.body(x)

    train, test = digits
    logger = TensorBoardLogger(tmp_path / "tb")
    Trainer(Untraceable(), epochs=1, verbose=0, callbacks=[logger]).fit(train, test)
    trained = read(tmp_path / "tb" / "train")
    assert not trained.Tags()["graph"] and "epoch/loss" in trained.Tags()["scalars"]
    (note,) = trained.Tensors("graph/text_summary")
    assert b"graph not traced: RuntimeError: no tracing here" in note.tensor_proto.string_val[0]


def test_a_resumed_run_does_not_double_back(digits, tmp_path):
    train, test = digits
    run, logs = tmp_path / "run", tmp_path / "tb"

    def fit(epochs: int, resume: bool) -> Trainer:
        torch.manual_seed(0)
        callbacks = [RunRecorder(run, resume=resume), TensorBoardLogger(logs)]
        trainer = Trainer(create_model("lenet5"), epochs=epochs, verbose=0, callbacks=callbacks)
        trainer.fit(train, test)
        return trainer

    fit(1, resume=False)
    trainer = fit(2, resume=True)
    epochs = [step for step, _ in values(read(logs / "validation"), "epoch/loss")]
    assert epochs == [1, 2]
    steps = [step for step, _ in values(read(logs / "train"), "step/loss")]
    assert steps == sorted(set(steps)) and steps[-1] == trainer.global_step


def test_without_tensorboard_one_line_says_what_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "torch.utils.tensorboard":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(CnnlabError, match=r"pip install 'cnnlab\[tensorboard\]'"):
        summary_writer(tmp_path, None)


def test_cli_logs_into_the_run_and_a_resume_keeps_logging(tmp_path):
    from cnnlab.cli.main import main
    from cnnlab.files import read_json
    from cnnlab.runs import RunLayout

    args = ["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--quiet"]
    assert main([*args, "--tensorboard", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    layout = RunLayout(run)
    assert read_json(layout.config)["recorder"]["tensorboard"] is True
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    epochs = [step for step, _ in values(read(layout.tensorboard / "validation"), "epoch/loss")]
    assert epochs == [1, 2]
    accuracy = History.from_csv(layout.history).history["val_accuracy"]
    logged = values(read(layout.tensorboard / "validation"), "epoch/accuracy")
    assert [value for _, value in logged] == pytest.approx(accuracy)
