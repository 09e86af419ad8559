"""Model ensembles: the Ensemble module against PyTorch by hand, its loss under cnnlab's
evaluation, its ONNX export, and ``cnnlab ensemble`` through the real entry point on runs
trained here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from cnnlab.cli.main import main
from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.export import export_model
from cnnlab.models import Ensemble, create_model
from cnnlab.runs import ensemble_runs, load_run
from cnnlab.train import Trainer

ONE_EPOCH = ["--epochs", "1", "--quiet", "--precision", "fp32"]


def _members(name: str = "lenet5", count: int = 3, **kwargs) -> list[nn.Module]:
    torch.manual_seed(0)
    return [create_model(name, **kwargs).eval() for _ in range(count)]


class TwoHeads(NamedTuple):
    logits: torch.Tensor
    aux: torch.Tensor


class WithAux(nn.Module):
    """A member that returns a main and an auxiliary head, as GoogLeNet in training."""

    def __init__(self) -> None:
        super().__init__()
        self.main, self.side = nn.Linear(5, 4), nn.Linear(5, 4)

    def forward(self, x: torch.Tensor) -> TwoHeads:
        return TwoHeads(self.main(x), self.side(x))


@pytest.mark.parametrize("name", ["lenet5", "mlp"])
def test_forward_is_the_log_of_the_mean_softmax(name):
    members = _members(name)
    x = torch.randn(6, *Ensemble(members).input_size)
    with torch.no_grad():
        out = Ensemble(members)(x)
        mean = torch.stack([torch.softmax(m(x), dim=1) for m in members]).mean(0)
    torch.testing.assert_close(out, mean.log(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.exp(), mean, atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(torch.softmax(out, dim=1), mean, atol=1e-7, rtol=1e-5)
    assert out.shape == (6, 10) and torch.equal(out.argmax(1), mean.argmax(1))


def test_members_with_auxiliary_heads_contribute_their_main_output():
    torch.manual_seed(0)
    members = [WithAux(), WithAux()]
    x = torch.randn(3, 5)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(x).logits, dim=1) for m in members]).mean(0)
        torch.testing.assert_close(Ensemble(members)(x).exp(), mean)


def test_evaluate_gives_the_loss_and_accuracy_of_the_mean_probability():
    members = _members("mlp", in_channels=1, image_size=8)
    x = torch.rand(40, 1, 8, 8)
    y = torch.arange(40) % 10
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(x), dim=1) for m in members]).mean(0)
    result = Trainer(Ensemble(members), precision="fp32", verbose=0).evaluate(x, y)
    nll = float(-mean[torch.arange(40), y].log().mean())
    assert result["loss"] == pytest.approx(nll, rel=1e-5)
    assert result["accuracy"] == pytest.approx(float((mean.argmax(1) == y).float().mean()))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([], "at least one member. Received: members=[]"),
        ([nn.Linear(2, 2), "lenet5"], "must be torch modules. Received: str"),
        ([create_model("lenet5"), create_model("mlp")], "must take the same input"),
        (
            [create_model("lenet5"), create_model("lenet5", num_classes=3)],
            "same number of classes. Received: [3, 10]",
        ),
    ],
)
def test_bad_members_are_refused_in_one_line(members, message):
    with pytest.raises(CnnlabError) as error:
        Ensemble(members)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_onnx_export_matches_pytorch(tmp_path):
    ensemble = Ensemble(_members())
    result = export_model(ensemble, tmp_path / "ensemble.onnx")
    assert result.input_size == (1, 32, 32) and result.max_abs_diff <= result.tolerance
    x = torch.randn(5, 1, 32, 32)
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        expected = ensemble(x).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(got).sum(1), 1.0, atol=1e-5)  # log-probabilities


def _train(out: Path, *args: str) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    assert main(["train", *args, *ONE_EPOCH, "--out", str(out)]) == 0
    (run,) = set(out.iterdir()) - before
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("runs")
    return [_train(out, "lenet5", "--dataset", "digits", "--seed", str(s)) for s in range(3)]


def _manual_mistakes(run_dir: Path) -> torch.Tensor:
    """The run's mistakes on the digits test split, computed here without cnnlab's trainer."""
    run, data = load_run(run_dir), load("digits", "test")
    with torch.no_grad():
        return run.model(run.input_spec.apply(data.images)).argmax(1) != data.labels


@pytest.mark.slow
def test_cli_prints_members_ensemble_and_overlap(runs, capsys):
    assert main(["ensemble", *map(str, runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ensemble of 3 runs on digits test (") and "samples)" in out[0]
    assert out[1].split() == ["model", "wrong", "error", "accuracy"]
    assert [line.split()[0] for line in out[2:5]] == [r.name for r in runs]
    assert out[5].startswith("mean member") and out[6].startswith("ensemble of 3")
    assert out[7].startswith("wrong by all 3 members: ") and len(out) == 8
    wrong = [_manual_mistakes(r) for r in runs]
    for line, mistakes in zip(out[2:5], wrong, strict=True):
        assert int(line.split()[1]) == int(mistakes.sum())
    all_wrong, any_wrong = (
        int(torch.stack(wrong).all(0).sum()),
        int(torch.stack(wrong).any(0).sum()),
    )
    assert f"wrong by all 3 members: {all_wrong}; by at least one: {any_wrong};" in out[7]


@pytest.mark.slow
def test_json_and_python_agree_with_the_module(runs, tmp_path, capsys):
    assert main(["ensemble", *map(str, runs), "--split", "test[:100]", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["split"] == "digits test[:100]" and data["samples"] == 100
    wrong = [m["wrong"] for m in data["members"]]
    assert data["all_wrong"] <= min(wrong) <= max(wrong) <= data["any_wrong"]
    result = ensemble_runs(runs, split="test[:100]")
    assert result.to_json() == data
    test = load("digits", "test[:100]")
    with torch.no_grad():
        classes = result.model(result.input_spec.apply(test.images)).argmax(1)
    assert result.ensemble_wrong == int((classes != test.labels).sum())
    assert repr(result).startswith("EnsembleEvaluation(3 runs on digits test[:100]: ")
    html = result._repr_html_()
    assert "ensemble of 3" in html and "wrong by all 3 members" in html and "<script" not in html
    assert export_model(result.model, tmp_path / "ensemble.onnx").max_abs_diff < 1e-4


def _copy_with(run: Path, target: Path, change) -> Path:
    shutil.copytree(run, target)
    config = json.loads((target / "config.json").read_text())
    change(config)
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.slow
def test_mismatched_runs_are_refused_in_one_line(runs, tmp_path, capsys):
    other_classes = _copy_with(
        runs[1], tmp_path / "letters", lambda c: c.update(classes=list("abcdefghij"))
    )
    other_data = _copy_with(
        runs[1], tmp_path / "fashion", lambda c: c["run"].update(dataset="fashion-mnist")
    )
    small = _train(tmp_path / "mlp", "mlp", "--dataset", "digits")
    held = _train(tmp_path / "held", "lenet5", "--dataset", "digits", "--val-split", "test[:99]")
    cases = [
        ([runs[0]], "an ensemble needs at least 2 runs. Received: 1"),
        ([runs[0], runs[0]], "is given twice; pass each run once"),
        ([runs[0], other_data], "must share their data set. Received: "),
        ([runs[0], other_classes], "must share their classes. Received: "),
        ([runs[0], small], "must share their input spec. Received: "),
        ([runs[0], held], "must share their validation data. Received: "),
    ]
    for run_dirs, message in cases:
        assert main(["ensemble", *map(str, run_dirs)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert main(["ensemble", str(runs[0]), str(held), "--split", "test"]) == 0  # one split
