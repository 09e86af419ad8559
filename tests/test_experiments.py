"""The notes' exercises as experiments: every quick variant runs and reproduces its outcome.

Each test runs one experiment's quick variant (about a minute on two CPU cores; one torch
thread, which is faster than two on a shared machine) and asserts the learned outcome on the
numbers in its results.json. Experiments on MNIST, the SMS collection or ISBI 2012 are skipped,
with the reason, when CNNLAB_DATA_DIR lacks the files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cnnlab.cli.main import main
from cnnlab.errors import CnnlabError
from cnnlab.experiments import (
    experiment_folder,
    get_experiment,
    list_experiments,
    results_markdown,
    run_experiment,
)

ROOT = Path(os.environ["CNNLAB_DATA_DIR"]) if os.environ.get("CNNLAB_DATA_DIR") else None
NEEDS = {
    "mnist-cnn": "mnist/t10k-images-idx3-ubyte.gz",
    "lenet5-mnist": "mnist/t10k-images-idx3-ubyte.gz",
    "ensemble": "mnist/t10k-images-idx3-ubyte.gz",
    "spam-textcnn": "sms_spam/SMSSpamCollection",
    "unet-isbi": "isbi2012/train/label",
}
ALL = {
    "batchnorm",
    "dropout",
    "ensemble",
    "exploding-gradients",
    "global-pooling",
    "inception",
    "invariance",
    "lenet5-mnist",
    "mnist-cnn",
    "resnet-degradation",
    "spam-textcnn",
    "unet-isbi",
}


def _data_dir(name: str) -> Path | None:
    if name not in NEEDS:
        return None
    if ROOT is None:
        pytest.skip(f"{name} needs real data: CNNLAB_DATA_DIR is not set")
    if not (ROOT / NEEDS[name]).exists():
        pytest.skip(f"{name} needs {ROOT / NEEDS[name]}, which is absent")
    return ROOT


def quick(name: str, out: Path) -> dict:
    """Run ``name --quick`` and return its results.json after checking the report files."""
    report, _ = run_experiment(
        name, quick=True, out=out, data_dir=_data_dir(name), download=False, verbose=0, threads=1
    )
    folder = experiment_folder(out, name, quick=True)
    failed = [f"{c.claim}: {c.measured}" for c in report.checks if not c.passed]
    assert not failed, failed
    return _checked(folder)


def _checked(folder: Path) -> dict:
    html = (folder / "report.html").read_text(encoding="utf-8")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and 'src="figures' not in html  # self-contained
    assert "## Results" in markdown and "## Expected outcomes" in markdown
    assert list((folder / "figures").glob("*.png"))
    assert list((folder / "runs").glob("*/config.json"))  # trained through the library
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["variant"] == "quick" and results["passed"]
    assert any(r["headline"] for r in results["results"])
    return results


def test_registry_lists_every_experiment_with_its_title(capsys):
    assert set(list_experiments()) == ALL
    assert main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ALL) and all(len(line.split(maxsplit=1)) == 2 for line in lines)
    assert get_experiment("resnet_degradation") is get_experiment("resnet-degradation")


def test_unknown_experiment_and_missing_name_are_one_line_errors(capsys):
    with pytest.raises(CnnlabError, match="unknown experiment 'resnet'; choose one of"):
        get_experiment("resnet")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run needs an EXPERIMENT") and err.count("\n") == 1


def test_missing_data_fails_with_one_clear_line(tmp_path, capsys):
    missing, out = str(tmp_path / "none"), str(tmp_path / "out")
    argv = ["run", "lenet5-mnist", "--quick", "--no-download", "--data-dir", missing]
    code = main([*argv, "--out", out, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "mnist" in err and "download=False" in err


def test_results_table_is_generated_from_results_json(tmp_path, capsys):
    for name, variant, text in (("dropout", "quick", "97.50%"), ("lenet5-mnist", "full", "1.10%")):
        folder = experiment_folder(tmp_path, name, variant == "quick")
        folder.mkdir(parents=True)
        results = {
            "experiment": name,
            "variant": variant,
            "seconds": 42.0,
            "results": [
                {"quantity": "q", "text": text, "literature": "lit | x", "headline": True},
                {"quantity": "hidden", "text": "-", "literature": "", "headline": False},
            ],
        }
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    target = tmp_path / "docs" / "results.md"
    assert main(["run", "--table", "--out", str(tmp_path), "--write", str(target)]) == 0
    table = capsys.readouterr().out
    assert table == target.read_text(encoding="utf-8") == results_markdown(tmp_path)
    assert "| dropout | q | 97.50% | lit / x | quick | 42 s |" in table
    assert "| lenet5-mnist | q | 1.10% | lit / x | full | 42 s |" in table
    assert "hidden" not in table and "Not run yet: batchnorm" in table


@pytest.mark.slow
def test_dropout_through_the_cli(tmp_path, capsys):
    argv = ["run", "dropout", "--quick", "--out", str(tmp_path), "--threads", "1", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[ok  ] dropout narrows the train/validation loss gap" in out
    m = _checked(tmp_path / "dropout-quick")["metrics"]
    assert m["params_plain"] == m["params_dropout"] == 669_706
    assert m["gap_dropout"] < m["gap_plain"]
    assert m["val_accuracy_dropout"] > 0.9
    assert m["convention_logit_difference"] < 1e-4
    assert m["inverted_expectation_error"] < 0.05 and m["classic_expectation_error"] < 0.05


@pytest.mark.slow
def test_batchnorm(tmp_path):
    m = quick("batchnorm", tmp_path)["metrics"]
    assert 0 < m["epochs_to_target_bn"] < m["epochs_to_target_plain"] or (
        m["epochs_to_target_plain"] == -1 and m["epochs_to_target_bn"] > 0
    )
    assert 0 < 2 * m["largest_lr_plain"] <= m["largest_lr_bn"]
    assert m["eval_logit_change"] < 1e-4 < m["batch_statistics_logit_change"]


@pytest.mark.slow
def test_ensemble(tmp_path):
    m = quick("ensemble", tmp_path)["metrics"]
    assert m["ensemble_error"] < m["mean_member_error"] < 0.1
    assert m["all_wrong"] < m["mean_member_wrong"] < m["any_wrong"]
    assert m["all_wrong"] < m["any_wrong"] / 2  # the members err on different images
    assert m["mc_error_one_pass"] > m["weight_scaling_error"]  # one thinned net is worse
    assert abs(m["mc_error"] - m["weight_scaling_error"]) <= 0.005  # Srivastava 2014, Fig. 11


@pytest.mark.slow
def test_exploding_gradients(tmp_path):
    m = quick("exploding-gradients", tmp_path)["metrics"]
    assert m["growth_factor_large"] > 1.5  # 2x He's scale: about x2 per layer toward the input
    assert 0.7 < m["growth_factor_he"] < 1.3
    assert m["diverged_step"] > 0 and m["gradient_norm_growth"] > 100
    assert not m["diverged_clipped"] and m["final_loss_clipped"] < 1.0
    assert not m["diverged_he"] and m["final_loss_he"] < m["final_loss_clipped"]
    assert m["val_accuracy_he"] > 0.8


@pytest.mark.slow
def test_global_pooling(tmp_path):
    m = quick("global-pooling", tmp_path)["metrics"]
    assert (m["params_flatten"], m["params_gap"]) == (34_826, 19_466)
    assert m["accuracy_flatten"] > 0.95 and m["accuracy_gap"] > 0.8
    assert m["gap_accuracy_36"] > 0.5


@pytest.mark.slow
def test_inception(tmp_path):
    m = quick("inception", tmp_path)["metrics"]
    assert (m["direct_macs"], m["bottleneck_macs"]) == (120_422_400, 12_443_648)
    assert (m["direct_params"], m["bottleneck_params"]) == (153_632, 15_920)
    assert min(m["accuracy_aux"], m["accuracy_no_aux"]) > 0.9
    assert m["stem_gradient_with_aux"] > m["stem_gradient_main"]


@pytest.mark.slow
def test_invariance(tmp_path):
    m = quick("invariance", tmp_path)["metrics"]
    assert m["shift_accuracy_augmented"] > m["shift_accuracy_plain"]
    assert m["angle_accuracy_augmented"] > m["angle_accuracy_plain"]
    assert min(m["clean_accuracy_plain"], m["clean_accuracy_augmented"]) > 0.9


@pytest.mark.slow
def test_lenet5_mnist(tmp_path):
    m = quick("lenet5-mnist", tmp_path)["metrics"]
    assert m["error"] < 0.04


@pytest.mark.slow
def test_mnist_cnn(tmp_path):
    m = quick("mnist-cnn", tmp_path)["metrics"]
    assert m["accuracy"] > 0.95
    assert m["loss_spread"] < 1e-5


@pytest.mark.slow
def test_resnet_degradation(tmp_path):
    m = quick("resnet-degradation", tmp_path)["metrics"]
    assert m["loss_plain56"] > m["loss_plain20"]  # He et al. Fig. 1: deeper plain is worse
    assert m["loss_residual56"] < m["loss_plain56"]  # shortcuts fix it
    assert m["loss_residual56"] < m["loss_residual20"]  # Fig. 6: deeper residual is better
    assert m["gradient_ratio_sigmoid, plain"] < 1e-6
    assert 0.1 < m["gradient_ratio_ReLU, residual"] < 10


@pytest.mark.slow
def test_spam_textcnn(tmp_path):
    m = quick("spam-textcnn", tmp_path)["metrics"]
    assert m["cnn_f1"] > 0.85 and m["cnn_accuracy"] > 0.95
    assert m["baseline_f1"] > 0.85


@pytest.mark.slow
def test_unet_isbi(tmp_path):
    m = quick("unet-isbi", tmp_path)["metrics"]
    for padding in ("same", "valid"):
        assert m[f"{padding}_membrane_dice"] > 0.6
        assert m[f"{padding}_dice"] > m["trivial_cell_dice"]
