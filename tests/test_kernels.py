"""Image kernels: definitions, the reference filtering equals torch, ranges, images, the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnlab import kernels as K
from cnnlab.cli.main import main
from cnnlab.errors import CnnlabError

SUMS = {"identity": 1, "box-blur": 1, "gaussian-blur": 1, "gaussian-blur-5x5": 1, "sharpen": 1}
SUMS |= {"outline": 0, "sobel-x": 0, "sobel-y": 0, "emboss": 1}


@pytest.mark.parametrize("name", list(K.KERNELS))
def test_named_kernels_are_odd_squares_with_the_expected_gain(name):
    k = K.kernel(name)[1]
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(SUMS[name])


def test_published_kernel_values():
    np.testing.assert_array_equal(
        K.kernel("gaussian-blur")[1] * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    )
    np.testing.assert_array_equal(K.kernel("sobel-x")[1], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(K.kernel("sobel-y")[1], K.kernel("sobel-x")[1].T)
    np.testing.assert_array_equal(K.kernel("sharpen")[1], K.kernel("0,-1,0;-1,5,-1;0,-1,0")[1])
    assert K.kernel("gaussian-blur-5x5")[1][2, 2] * 256 == 36


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name", ["gaussian-blur-5x5", "sobel-x", "emboss", "1,2;3,4"])
@pytest.mark.parametrize("channels", [1, 3])
def test_per_channel_filtering_matches_torch(name, channels):
    image = np.random.default_rng(0).uniform(0, 255, (9, 11, channels))
    k = K.kernel(name)[1]
    ours = K.apply_kernel(image, k)
    weight = torch.tensor(k).expand(channels, 1, *k.shape)
    x = torch.tensor(image.transpose(2, 0, 1))[None]
    theirs = F.conv2d(x, weight, padding="same", groups=channels)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_sum_channels_is_one_filter_over_the_volume():
    image = np.random.default_rng(1).uniform(0, 255, (8, 8, 3))
    k = K.kernel("outline")[1]
    ours = K.apply_kernel(image, k, sum_channels=True)
    assert ours.shape == (8, 8, 1)
    per_channel = K.apply_kernel(image, k)
    np.testing.assert_allclose(ours[..., 0], per_channel.sum(axis=2), atol=1e-9)


def test_identity_keeps_the_image_and_blur_keeps_a_flat_one():
    image = np.random.default_rng(2).uniform(0, 255, (6, 7, 1))
    np.testing.assert_allclose(K.apply_kernel(image, K.kernel("identity")[1]), image)
    flat = K.apply_kernel(np.full((6, 6, 1), 100.0), K.kernel("box-blur")[1])
    np.testing.assert_allclose(flat[1:-1, 1:-1], 100)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("clip", [0, 0, 100, 255]), ("abs", [45, 0, 100, 255]), ("rescale", [0, 23, 73, 255])],
)
def test_range_modes_bring_the_notes_values_back_to_bytes(mode, expected):
    np.testing.assert_array_equal(K.to_display(np.array([-45.0, 0, 100, 460]), mode), expected)


def _palette_image(a: np.ndarray) -> Image.Image:
    image = Image.fromarray(a).convert("P")
    image.putpalette([v for level in range(256) for v in (level, level, level)])
    return image


@pytest.mark.parametrize(
    ("mode", "make", "channels"),
    [
        ("L", lambda a: Image.fromarray(a), 1),
        ("RGB", lambda a: Image.fromarray(np.stack([a] * 3, -1)), 3),
        ("RGBA", lambda a: Image.fromarray(np.stack([a] * 4, -1)), 3),
        ("P", _palette_image, 3),
        ("I;16", lambda a: Image.fromarray(a.astype(np.uint16) * 257), 1),
    ],
)
def test_load_image_converts_modes_to_0_255(tmp_path, mode, make, channels):
    a = np.arange(0, 250, 10, dtype=np.uint8).reshape(5, 5)
    make(a).save(tmp_path / "x.png")
    image = K.load_image(tmp_path / "x.png")
    assert image.shape == (5, 5, channels)
    assert image.max() <= 255 and abs(image.max() - a.max()) <= 5


def test_unreadable_image_is_a_cnnlab_error(tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(CnnlabError, match="cannot read the image"):
        K.load_image(tmp_path / "bad.png")


@pytest.fixture
def small_png(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    return tmp_path / "in.png"


def test_cli_writes_the_figure(capsys, small_png, tmp_path):
    out = tmp_path / "fig.png"
    args = ["kernels", str(small_png), "--kernel", "sobel-x", "--kernel", "0,-1,0;-1,5,-1;0,-1,0"]
    code = main([*args, "--range", "abs", "--sum-channels", "--out", str(out)])
    assert code == 0
    assert "2 kernels" in capsys.readouterr().out
    assert Image.open(out).size[0] > 100


def test_cli_lists_the_kernels(capsys):
    assert main(["kernels", "--list"]) == 0
    assert "sobel-x            -1,0,1;-2,0,2;-1,0,1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        ("0,-1;5", "same length"),
        ("blurry", "kernel must be one of"),
        (";".join([",".join(["1"] * 13)] * 13), "larger than the image"),
    ],
)
def test_cli_bad_kernel_is_one_line_exit_2(capsys, small_png, tmp_path, kernel, message):
    code = main(["kernels", str(small_png), "--kernel", kernel, "--out", str(tmp_path / "f.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


def test_cli_unreadable_image_exit_2(capsys, tmp_path):
    assert main(["kernels", str(tmp_path / "missing.png"), "--out", str(tmp_path / "f.png")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read the image")


def test_sobel_on_real_em_slice_matches_torch():
    root = os.environ.get("CNNLAB_DATA_DIR")
    path = Path(root or "/nonexistent") / "isbi2012" / "train" / "image" / "0.png"
    if not path.exists():
        pytest.skip("set CNNLAB_DATA_DIR to the shared data folder (isbi2012/train/image/0.png)")
    image = K.load_image(path)[:48, :48]
    for name in ("sobel-x", "gaussian-blur"):
        k = K.kernel(name)[1]
        theirs = F.conv2d(
            torch.tensor(image[None, None, :, :, 0]), torch.tensor(k)[None, None], padding=1
        )
        np.testing.assert_allclose(
            K.apply_kernel(image, k)[..., 0], theirs[0, 0].numpy(), atol=1e-9
        )
