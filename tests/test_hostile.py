"""Hostile inputs, end to end through the command line: each gives one clear line on stderr
and a non-zero exit, and never a partial or corrupt output."""

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli.main import main
from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.runs import RunRecorder
from cnnlab.runs import checkpoint as ckpt
from cnnlab.train import Trainer, seed_everything

TRAIN = ["train", "lenet5", "--quiet", "--epochs", "1"]


def one_line_error(capsys, code: int, *words: str) -> str:
    captured = capsys.readouterr()
    assert code != 0
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    for word in words:
        assert word in captured.err, captured.err
    return captured.err


def no_run_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), list(out.rglob("*"))


def mnist_dir(tmp_path: Path, images: bytes) -> Path:
    """A data directory whose MNIST test images file holds ``images``."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    labels = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 4]))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(labels)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(images)
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["t10k-images", "md5"]),
        (gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 40)[:30], ["t10k-images", "md5"]),
        (os.urandom(2000), ["t10k-images", "md5"]),
    ],
    ids=["empty", "truncated", "garbage"],
)
def test_damaged_mnist_files(tmp_path, capsys, content, words):
    data = mnist_dir(tmp_path, content)
    out = tmp_path / "runs"
    code = main(
        [
            *TRAIN,
            "--dataset",
            "mnist",
            "--train-split",
            "test",
            "--data-dir",
            str(data),
            "--no-download",
            "--out",
            str(out),
        ]
    )
    one_line_error(capsys, code, *words)
    no_run_written(out)


def test_damaged_sms_collection(tmp_path, capsys):
    folder = tmp_path / "sms_spam"
    folder.mkdir()
    (folder / "SMSSpamCollection").write_text("ham\tcut in the mid")
    code = main(
        [
            "train",
            "textcnn",
            "--dataset",
            "sms-spam",
            "--data-dir",
            str(tmp_path),
            "--no-download",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    one_line_error(capsys, code, "SMSSpamCollection")
    no_run_written(tmp_path / "runs")


def test_damaged_isbi_slice(tmp_path, capsys):
    source = os.environ.get("CNNLAB_DATA_DIR")
    if not source or not (Path(source) / "isbi2012" / "train").is_dir():
        pytest.skip("ISBI 2012 slices absent: set CNNLAB_DATA_DIR to a folder with isbi2012/")
    shutil.copytree(Path(source) / "isbi2012", tmp_path / "isbi2012")
    (tmp_path / "isbi2012" / "train" / "image" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code = main(
        [
            "train",
            "unet",
            "--dataset",
            "isbi2012",
            "--data-dir",
            str(tmp_path),
            "--no-download",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    one_line_error(capsys, code, "3.png")
    no_run_written(tmp_path / "runs")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert main([*TRAIN, "--dataset", "digits", "--out", str(out)]) == 0
    return next(out.iterdir())


@pytest.mark.parametrize(("width", "height"), [(1, 1), (10_000, 10_000), (3, 700)])
def test_predict_odd_sizes(run_dir, tmp_path, capsys, width, height):
    path = tmp_path / "odd.png"
    Image.new("L", (width, height), 255).save(path)
    assert main(["predict", str(run_dir), str(path), "--json"]) == 0
    assert '"probabilities"' in capsys.readouterr().out


def test_predict_refuses_a_decompression_bomb(run_dir, tmp_path, capsys):
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(path)  # 144 M pixels, a few KB on disk
    one_line_error(capsys, main(["predict", str(run_dir), str(path)]), "pixels")


@pytest.mark.parametrize("kind", ["directory", "text", "missing"])
def test_predict_unusable_paths(run_dir, tmp_path, capsys, kind):
    path = {"directory": tmp_path, "text": tmp_path / "a.png", "missing": tmp_path / "no.png"}
    if kind == "text":
        path[kind].write_text("not an image")
    one_line_error(capsys, main(["predict", str(run_dir), str(path[kind])]), str(path[kind]))


def test_image_folder_with_every_odd_mode_trains(tmp_path, capsys):
    modes = {"RGBA": (255, 255, 255, 0), "P": 3, "CMYK": (0, 0, 0, 0), "LA": (200, 255)}
    for index, (mode, fill) in enumerate(modes.items()):
        for cls in ("a", "b"):
            folder = tmp_path / "imgs" / cls
            folder.mkdir(parents=True, exist_ok=True)
            suffix = ".jpg" if mode == "CMYK" else ".png"
            Image.new(mode, (12 + index, 9), fill).save(folder / f"{mode}{suffix}")
    folder = tmp_path / "imgs" / "a"
    Image.fromarray(np.arange(12 * 9, dtype=np.uint16).reshape(9, 12) * 600).save(
        folder / "sixteen.png"
    )
    data = load("image-folder", "train", path=str(tmp_path / "imgs"), size="10x10")
    assert data.images.dtype == torch.uint8 and data.images.shape[1:] == (3, 10, 10)
    sixteen = data.images[[i for i, p in enumerate(sorted(folder.iterdir())) if "six" in p.name]]
    assert int(sixteen.max()) > 200  # scaled from 16 bits, not clipped to white


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_nan_or_inf_in_data_is_refused(value):
    seed_everything(0)
    images = torch.rand(64, 1, 28, 28)
    images[3, 0, 5, 5] = value
    from cnnlab.models import create_model

    with pytest.raises(CnnlabError, match="NaN or Inf in 1 samples"):
        Trainer(create_model("lenet5", image_size=28), epochs=1, batch_size=64, verbose=0).fit(
            (images, torch.zeros(64, dtype=torch.int64))
        )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--lr", "1e9", "--optimizer", "sgd"], ["diverged", "lower the learning rate"]),
        (["--lr", "0"], ["lr must be"]),
        (["--lr", "-1"], ["lr must be"]),
        (["--batch-size", "0"], ["batch_size must be"]),
        (["--epochs", "-3"], ["epochs must be"]),
        (["--checkpoint-every", "-1"], ["checkpoint_every must be"]),
        (["-m", "in_channels=3"], ["3-channel", "in_channels=1"]),
        (["-m", "image_size=13"], ["28x28 or 32x32"]),
        (["--train-split", "train[200%:]"], ["split"]),
        (["--device", "cuda:7"], ["CUDA"]),
    ],
)
def test_absurd_settings_through_the_cli(tmp_path, capsys, args, words):
    code = main([*TRAIN, "--dataset", "digits", "--out", str(tmp_path / "runs"), *args])
    one_line_error(capsys, code, *words)


def test_text_model_on_images_is_a_shape_error(tmp_path, capsys):
    code = main([*TRAIN[:1], "textcnn", "--dataset", "digits", "--out", str(tmp_path)])
    one_line_error(capsys, code, "textcnn cannot be built for digits (images 1x8x8)")


def test_unwritable_output_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code = main([*TRAIN, "--dataset", "digits", "--out", str(blocker / "runs")])
    one_line_error(capsys, code, "cannot read or write")


def test_failed_checkpoint_write_keeps_the_previous_and_resume_works(tmp_path, monkeypatch):
    data = load("digits", "train[:256]"), load("digits", "test[:64]")

    def run(folder: Path, resume: bool = False):
        seed_everything(0)
        from cnnlab.models import create_model

        model = create_model("lenet5")
        recorder = RunRecorder(folder, resume=resume, checkpoint_every=3)
        Trainer(model, epochs=3, batch_size=32, verbose=0, callbacks=[recorder]).fit(*data)
        return model.state_dict()

    reference = run(tmp_path / "a")
    replace, calls = os.replace, []

    def disk_full_on_the_fifth_checkpoint(source, target):
        if str(target).endswith("last.safetensors"):
            calls.append(target)
            if len(calls) == 5:
                raise OSError(28, "No space left on device", str(target))
        replace(source, target)

    monkeypatch.setattr(ckpt.os, "replace", disk_full_on_the_fifth_checkpoint)
    with pytest.raises(OSError, match="No space left"):
        run(tmp_path / "b")
    monkeypatch.undo()
    _, meta = ckpt.load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert meta["global_step"] == 9  # steps 3, 6, 8 (epoch end), 9: the fourth survived whole
    assert not list((tmp_path / "b" / "checkpoints").glob(".*tmp"))
    resumed = run(tmp_path / "b", resume=True)
    for key, value in reference.items():
        assert torch.equal(value, resumed[key]), key
