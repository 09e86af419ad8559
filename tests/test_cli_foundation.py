"""The foundation commands through the real entry point (``cnnlab`` console script)."""

import json
import subprocess
import sys

import pytest

from cnnlab.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_arith_conv_json_alexnet(capsys):
    code, out, _ = run(
        capsys,
        "arith",
        "conv",
        "--input",
        "227x227x3",
        "--kernel",
        "11",
        "--stride",
        "4",
        "--padding",
        "0",
        "--filters",
        "96",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["output_shape"] == [55, 55, 96]
    assert (data["params"], data["macs"]) == (34_944, 105_415_200)


def test_arith_conv_shows_formula_with_numbers(capsys):
    code, out, _ = run(
        capsys,
        "arith",
        "conv",
        "--input",
        "227x227x3",
        "--kernel",
        "11",
        "--stride",
        "4",
        "--filters",
        "96",
    )
    assert code == 0
    assert "floor((227 + 0 + 0 - 1*(11 - 1) - 1) / 4) + 1 = 55" in out
    assert "(11*11*3/1 + 1) * 96 = 34,944" in out


def test_arith_bottleneck_table(capsys):
    code, out, _ = run(
        capsys,
        "arith",
        "conv",
        "--input",
        "28x28x192",
        "--kernel",
        "5",
        "--padding",
        "same",
        "--filters",
        "32",
        "--bottleneck",
        "16",
    )
    assert code == 0
    for number in ("120,422,400", "2,408,448", "10,035,200", "12,443,648", "153,632", "15,920"):
        assert number in out


def test_arith_pool_and_transposed_json(capsys):
    _, out, _ = run(capsys, "arith", "pool", "--input", "28x28x6", "--kernel", "2", "--json")
    assert json.loads(out)["output_shape"] == [14, 14, 6]
    _, out, _ = run(
        capsys,
        "arith",
        "transposed",
        "--input",
        "3x3x1",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--padding",
        "1",
        "--filters",
        "1",
        "--json",
    )
    assert json.loads(out)["output_shape"] == [5, 5, 1]
    _, out, _ = run(
        capsys,
        "arith",
        "transposed",
        "--input",
        "4x4x1",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--output-padding",
        "1",
        "--filters",
        "2",
        "--json",
    )
    assert json.loads(out)["output_shape"] == [10, 10, 2]


@pytest.mark.parametrize(
    "args",
    [
        ("arith", "conv", "--input", "2x2x1", "--kernel", "5", "--filters", "1"),
        ("arith", "conv", "--input", "8x8x1", "--kernel", "3", "--filters", "1", "--stride", "0"),
        ("arith", "conv", "--input", "8by8", "--kernel", "3", "--filters", "1"),
        ("arith", "conv", "--input", "8x8x1", "--filters", "1"),
        ("summary", "no-such-model"),
        ("summary", "lenet5", "--input", "3x32x32"),
        ("summary", "lenet5", "--input", "1x32"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(capsys, args):
    code, _, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def test_summary_json_lenet5_and_mlp(capsys):
    _, out, _ = run(capsys, "summary", "lenet5", "--input", "1x32x32", "--json")
    assert json.loads(out)["total_params"] == 61_706
    _, out, _ = run(capsys, "summary", "mlp", "--input", "1x28x28", "--json")
    assert json.loads(out)["total_params"] == 669_706


def test_summary_table(capsys):
    code, out, _ = run(capsys, "summary", "lenet5", "--input", "1x32x32", "--batch", "4")
    assert code == 0
    assert "Total params: 61,706" in out
    assert "4x6x28x28" in out


def test_demo_trains_lenet5_and_writes_the_reports(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path))
    assert code == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] > 0.95  # LeNet-5 learned the digits
    assert (run_dir / "report.html").exists() and "validation accuracy" in out
    report = (tmp_path / "tour.md").read_text()
    assert "120,422,400" in report and "153,632" in report
    assert "| lenet5 |" in report
    assert not list(tmp_path.glob("*.tmp"))


def test_console_script_runs_as_a_process():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlab",
            "arith",
            "conv",
            "--input",
            "6x6x1",
            "--kernel",
            "3",
            "--filters",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["output_shape"] == [4, 4, 1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlab",
            "arith",
            "conv",
            "--input",
            "6x6",
            "--kernel",
            "3",
            "--filters",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("lenet5", 61_706),
        ("mlp", 669_706),
        ("mnist-cnn", 34_826),
        ("resnet20", 269_722),
        ("resnet110", 1_727_962),
        ("resnet50", 25_557_032),
        ("unet", 31_030_658),
        ("inception-block", 163_696),
    ],
)
def test_summary_json_agrees_with_published_counts(capsys, model, params):
    code, out, _ = run(capsys, "summary", model, "--json")
    assert code == 0
    assert json.loads(out)["total_params"] == params


def test_models_lists_the_zoo(capsys):
    code, out, _ = run(capsys, "models", "--json")
    entries = {e["name"]: e for e in json.loads(out)}
    assert code == 0
    assert entries["unet"]["input_size"] == [1, 572, 572]
    assert entries["resnet18"]["params"] == 11_689_512
    assert entries["lenet5"]["macs"] == 416_520
