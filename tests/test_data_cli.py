"""``cnnlab datasets`` through the real entry point."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from cnnlab.cli.main import main


def test_list_and_info(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "cifar10", "sms-spam", "isbi2012", "digits"):
        assert name in out
    assert main(["datasets", "info", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in out and "Ankle boot" in out


def test_unknown_dataset_is_one_line(capsys):
    assert main(["datasets", "info", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown dataset 'imagenet'") and err.count("\n") == 1


def test_show_synthetic_segmentation(tmp_path, capsys):
    out = tmp_path / "grid.png"
    code = main(
        [
            "datasets",
            "show",
            "synthetic",
            "-o",
            "task=segmentation",
            "--count",
            "6",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path),
        ]
    )
    assert code == 0 and "6 samples" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size[0] > 100


def test_show_image_folder(tmp_path, capsys):
    for cls, colour in (("cats", (200, 10, 10)), ("dogs", (10, 10, 200))):
        (tmp_path / cls).mkdir()
        for i, size in enumerate([(20, 30), (40, 25)]):
            Image.new("RGB", size, colour).save(tmp_path / cls / f"{i}.png")
    out = tmp_path / "grid.png"
    args = ["datasets", "show", "image-folder", "-o", f"path={tmp_path}", "--out", str(out)]
    assert main(args) == 2
    assert "pass size=HxW" in capsys.readouterr().err
    assert main([*args, "-o", "size=16x16"]) == 0 and out.is_file()


def test_download_failure_is_one_line(tmp_path, capsys):
    code = main(
        [
            "datasets",
            "download",
            "fashion-mnist",
            "--data-dir",
            str(tmp_path),
            "--mirror",
            "http://127.0.0.1:9",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and err.count("\n") == 1
    assert list((tmp_path / "fashion_mnist").iterdir()) == []


@pytest.mark.skipif(
    not os.environ.get("CNNLAB_DATA_DIR"), reason="CNNLAB_DATA_DIR is not set (shared data)"
)
def test_show_mnist_from_shared_data(tmp_path, capsys):
    root = os.environ["CNNLAB_DATA_DIR"]
    if not os.path.exists(os.path.join(root, "mnist", "t10k-images-idx3-ubyte.gz")):
        pytest.skip("MNIST test images are absent")
    out = tmp_path / "mnist.png"
    args = ["datasets", "show", "mnist", "--split", "test[:9]", "--no-download", "--out", str(out)]
    assert main([*args, "--data-dir", root]) == 0 and out.is_file()
