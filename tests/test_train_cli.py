"""cnnlab train / evaluate / predict / export through the real entry point."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.cli.main import main

QUICK = ["--epochs", "2", "--batch-size", "64", "--quiet", "--lr", "0.003"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "lenet5", "--dataset", "digits", *QUICK, "--out", str(out)]) == 0
    (run,) = list(out.iterdir())
    return run


def digit_image(path: Path, mode: str, size: tuple[int, int] = (40, 40), dark_ink=True) -> Path:
    """A '1' drawn as a vertical bar, saved in ``mode``."""
    canvas = np.full(size[::-1], 255 if dark_ink else 0, dtype=np.uint8)
    w = size[0]
    canvas[4:-4, w // 2 - max(1, w // 12) : w // 2 + max(1, w // 12)] = 0 if dark_ink else 255
    image = Image.fromarray(canvas, mode="L")
    if mode == "I;16":
        image = Image.fromarray(canvas.astype(np.uint16) * 257)
    elif mode != "L":
        image = image.convert(mode)
    image.save(path)
    return path


def test_train_writes_a_run_and_prints_where(run_dir, capsys):
    assert (run_dir / "report.html").exists() and (run_dir / "history.csv").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["model"] == "lenet5" and config["run"]["val_split"] == "test"
    assert config["run"]["command"].startswith("cnnlab ")
    assert config["train"]["epochs"] == 2


def test_precision_and_memory_format_flags_reach_the_run(tmp_path):
    args = ["train", "lenet5", "--dataset", "digits", "--train-split", "train[:128]"]
    args += ["--val-split", "test[:64]", "--epochs", "1", "--quiet", "--out", str(tmp_path)]
    assert main([*args, "--precision", "fp32", "--channels-last", "no"]) == 0
    (run,) = list(tmp_path.iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["precision"] == "fp32" and config["train"]["channels_last"] is False
    assert config["execution"]["precision"] == "fp32"
    assert config["execution"]["channels_last"] is False
    assert config["execution"]["fused_optimizer"] is True
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # the settings survive resume


def test_an_unknown_precision_is_a_usage_error(capsys):
    code = main(["train", "lenet5", "--dataset", "digits", "--precision", "fp8"])
    assert code == 2
    assert "fp8" in capsys.readouterr().err


def test_evaluate_prints_metrics_and_json(run_dir, capsys):
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "precision" in out
    assert main(["evaluate", str(run_dir), "--split", "test[:50]", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sum(map(sum, result["confusion_matrix"])) == 50 and 0 <= result["accuracy"] <= 1


@pytest.mark.parametrize(("precision", "named"), [("fp32", "float32"), ("bf16", "bfloat16")])
def test_evaluate_and_predict_take_a_precision_and_say_which(
    run_dir, tmp_path, capsys, precision, named
):
    assert main(["evaluate", str(run_dir), "--precision", precision]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert named in head, head
    args = ["evaluate", str(run_dir), "--split", "test[:50]", "--json", "--precision", precision]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == precision
    image = digit_image(tmp_path / "one.png", "L")
    assert main(["predict", str(run_dir), str(image), "--json", "--precision", precision]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-5)


def test_an_unknown_inference_precision_is_a_usage_error(run_dir, tmp_path, capsys):
    assert main(["evaluate", str(run_dir), "--precision", "fp16"]) == 2
    assert "fp16" in capsys.readouterr().err
    image = digit_image(tmp_path / "one.png", "L")
    assert main(["predict", str(run_dir), str(image), "--precision", "int8"]) == 2
    assert "int8" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "CMYK", "I;16", "1"])
def test_predict_takes_any_mode_and_size(run_dir, tmp_path, capsys, mode):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    image = digit_image(tmp_path / f"one{suffix}", mode, size=(57, 31))
    assert main(["predict", str(run_dir), str(image), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert len(result["probabilities"]) == 10
    assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-5)
    assert result["inverted"] is True  # dark ink on white: inverted to MNIST's convention


def test_predict_prints_class_and_probability(run_dir, tmp_path, capsys):
    files = [digit_image(tmp_path / f"{i}.png", "L", (8 + 10 * i, 8 + 10 * i)) for i in range(2)]
    assert main(["predict", str(run_dir), *map(str, files), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("%" in line for line in lines)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable image"),
        (b"\x89PNG\r\n\x1a\n garbage", "not a readable image"),
        (None, "does not exist"),
    ],
)
def test_predict_unreadable_file_is_one_line(run_dir, tmp_path, capsys, content, message):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    assert main(["predict", str(run_dir), str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_resume_of_a_finished_run_changes_nothing(run_dir, capsys):
    before = (run_dir / "history.csv").read_text()
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert (run_dir / "history.csv").read_text() == before


def test_export_onnx_from_a_run(run_dir, tmp_path, capsys):
    target = tmp_path / "lenet.onnx"
    assert main(["export", str(run_dir), "--out", str(target)]) == 0
    assert target.stat().st_size > 10_000 and "parity" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "lenet5"], "needs MODEL and --dataset"),
        (["train", "lenet5", "--dataset", "nope"], "unknown dataset"),
        (["train", "nope", "--dataset", "digits"], "unknown model"),
        (["train", "lenet5", "--dataset", "digits", "--epochs", "-1"], "epochs must be"),
        (["train", "lenet5", "--dataset", "digits", "--batch-size", "0"], "batch_size must be"),
        (["train", "lenet5", "--dataset", "digits", "-m", "image_size"], "key=value"),
        (["train", "--resume", "/nonexistent/run"], "not a cnnlab run directory"),
        (["evaluate", "/nonexistent/run"], "not a cnnlab run directory"),
        (
            [
                "train",
                "lenet5",
                "--dataset",
                "digits",
                "--val-split",
                "test",
                "--validation-split",
                "0.1",
            ],
            "not both",
        ),
    ],
)
def test_bad_train_input_is_one_line(args, message, capsys, tmp_path):
    assert main([*args, "--out", str(tmp_path)] if args[0] == "train" else args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_wrong_architecture_checkpoint_is_named(run_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json",):
        config = json.loads((run_dir / name).read_text())
        config["run"]["model_kwargs"]["num_classes"] = 7
        (copy / name).write_text(json.dumps(config))
    (copy / "checkpoints").mkdir()
    os.link(run_dir / "checkpoints" / "best.safetensors", copy / "checkpoints" / "best.safetensors")
    assert main(["evaluate", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "do not fit LeNet5" in err and "(10, 84) vs (7, 84)" in err


def test_a_resumed_run_keeps_its_checkpoint_cadence(tmp_path, monkeypatch):
    """--checkpoint-every is the recorder's; config.json keeps it, so a resume without the
    flag checkpoints as often as the run did (digits train: 1,437 samples, 23 steps of 64)."""
    import cnnlab.runs.recorder as recorder

    out = tmp_path / "runs"
    one_epoch = ["--epochs", "1", "--batch-size", "64", "--quiet", "--checkpoint-every", "5"]
    assert main(["train", "lenet5", "--dataset", "digits", *one_epoch, "--out", str(out)]) == 0
    (run,) = list(out.iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["recorder"] == {"checkpoint_every": 5, "tensorboard": False}
    config["train"]["epochs"] = 2  # one more epoch to resume into
    (run / "config.json").write_text(json.dumps(config))
    saved = []
    original = recorder.save_checkpoint
    monkeypatch.setattr(
        recorder, "save_checkpoint", lambda path, *a: saved.append(path.name) or original(path, *a)
    )
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    every_fifth = [step for step in range(24, 47) if step % 5 == 0]  # global steps of epoch 2
    assert saved.count("last.safetensors") == len(every_fifth) + 1, saved  # and the epoch end


def test_resume_refuses_flags_that_would_change_the_run(run_dir, capsys):
    before = (run_dir / "history.csv").read_text()
    code = main(["train", "--resume", str(run_dir), "--lr", "0.1", "--batch-size", "8"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--lr" in err and "--batch-size" in err, err
    assert (run_dir / "history.csv").read_text() == before


def test_a_finished_run_says_so_or_trains_on(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "lenet5", "--dataset", "digits", *QUICK, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert "finished 2 of 2 epochs; nothing to train" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 2
    assert "has trained 2 epochs; --epochs must be 2 or more" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0
    assert "epoch 3/3" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 3
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3


def test_a_run_that_cannot_fit_in_memory_is_refused_in_seconds(tmp_path):
    """A 572 x 572 U-Net at batch 64 needs about 50 GiB: refused before any data is prepared,
    in a process capped at 2 GB of address space (the kernel would otherwise kill it)."""
    out = tmp_path / "runs"
    args = [
        "train", "unet", "--dataset", "synthetic", "--option", "task=segmentation",
        "--option", "size=572", "--option", "train_size=64", "--option", "test_size=8",
        "--batch-size", "64", "--epochs", "1", "--quiet", "--out", str(out),
    ]  # fmt: skip
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))"
    code = f"{cap}; import sys; from cnnlab.cli.main import main; sys.exit(main({args!r}))"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.startswith("error: training needs about ") and result.stderr.count("\n") == 1
    )
    assert "activations of a batch of 64" in result.stderr
    assert "--batch-size" in result.stderr or "smaller inputs" in result.stderr
    assert time.monotonic() - started < 60 and not out.exists()
