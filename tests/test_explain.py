"""``cnnlab explain``: the notes' worked examples, through the library and the real CLI."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import explain as E
from cnnlab.cli.main import main
from cnnlab.errors import CnnlabError

NOTES_GLOBAL = "4,3,1,5;1,3,4,8;4,5,4,3;6,5,9,4"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "grid_rows"),
    [
        (4, 2, 1, 0, ["0 0 0 0 0 0", *["0 x x x x 0"] * 4, "0 0 0 0 0 0"]),
        (3, 3, 2, 1, ["0 0 0 0 0 0 0", "0 x 0 x 0 x 0"] * 3 + ["0 0 0 0 0 0 0"]),
    ],
)
def test_transposed_prints_the_notes_tables(capsys, size, kernel, stride, padding, grid_rows):
    args = ["--input", f"{size}x{size}", "--kernel", str(kernel), "--stride", str(stride)]
    code, out, _ = run(capsys, "transposed", *args, "--padding", str(padding), "--symbolic")
    assert code == 0
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("step 2")) + 1
    assert lines[start : start + len(grid_rows)] == grid_rows
    assert "output 5x5:" in lines


def test_transposed_counts_recipe_and_real_multiplications():
    steps = E.explain_transposed(np.ones((3, 3)), np.ones((3, 3)), stride=2, padding=1)
    assert steps.recipe_products == 5 * 5 * 9
    assert steps.nonzero_products == 49
    assert steps.direct_products == 81
    assert steps.conv.steps.output.shape == (1, 5, 5)


def test_global_pool_of_the_notes_grid(capsys):
    code, out, _ = run(capsys, "global-pool", "--values", NOTES_GLOBAL)
    assert code == 0
    assert "global max  = 9" in out
    assert "global mean = 69 / 16 = 4.3125" in out


def test_conv_six_by_six_kernel_three_gives_four_by_four(capsys):
    code, out, _ = run(capsys, "conv", "--input", "6x6", "--kernel", "3", "--at", "3,3")
    assert code == 0
    assert "output 4x4:" in out


def test_conv_window_products_and_sum_are_the_output_pixel():
    x = np.arange(25.0).reshape(1, 5, 5)
    w = np.array([[[0, 1, 0], [1, -4, 1], [0, 1, 0]]], dtype=float)
    steps = E.explain_conv(x, w, bias=2.0, padding=1, at=(2, 3))
    np.testing.assert_array_equal(steps.steps.window[0], x[0, 1:4, 2:5])
    assert steps.total + steps.bias == steps.steps.output[0, 2, 3]


def test_conv_with_channels_sums_over_channels(capsys):
    values = "1,2,3;4,5,6;7,8,9 | 1,1,1;1,1,1;1,1,1"
    weights = "1,0;0,1 | 2,2;2,2"
    code, out, _ = run(capsys, "conv", "--values", values, "--weights", weights, "--bias", "1")
    assert code == 0
    # window (0,0): channel 0 gives 1 + 5 = 6, channel 1 gives 4 * 2 = 8
    assert "sum of products = 6 + 8 = 14; + bias 1 = 15" in out


def test_pool_shows_window_and_output(capsys):
    code, out, _ = run(capsys, "pool", "--values", NOTES_GLOBAL, "--at", "1,1", "--mode", "avg")
    assert code == 0
    assert "mean = 20 / 4 of the window = 5" in out


def test_dropout_shows_mask_and_both_conventions():
    x = np.full((4, 4), 2.0)
    steps = E.explain_dropout(x, 0.5, seed=3)
    np.testing.assert_array_equal(steps.inverted_train, x * steps.mask * 2)
    np.testing.assert_array_equal(steps.classic_train, x * steps.mask)
    np.testing.assert_array_equal(steps.classic_test, x * 0.5)


def test_batchnorm_shows_statistics(capsys):
    code, out, _ = run(capsys, "batchnorm", "--values", "1,2;3,6;5,10")
    assert code == 0
    steps = E.explain_batchnorm(E.parse_grid("1,2;3,6;5,10"))
    np.testing.assert_allclose(steps.result.mean, [3, 6])
    np.testing.assert_allclose(steps.result.var, [8 / 3, 32 / 3])
    np.testing.assert_allclose(steps.result.running_var, [0.9 + 0.1 * 4, 0.9 + 0.1 * 16])
    assert "running variance" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conv", "--values", "1,2;3"], "same length"),
        (["conv", "--values", "1,a;3,4"], "only numbers"),
        (["conv", "--input", "2x2", "--kernel", "3"], "larger than the padded input"),
        (["conv", "--at", "4,0"], "--at must name an output pixel"),
        (["pool", "--at", "x"], "--at"),
        (["dropout", "--p", "1.5"], "p must be in [0, 1)"),
        (["transposed", "--output-padding", "2"], "output_padding must be smaller"),
        (["conv", "--channels", "2", "--weights", "1"], "one kernel per input channel"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_parse_grid_accepts_commas_and_spaces():
    np.testing.assert_array_equal(E.parse_grid("1 2, 3; 4,5 6"), [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(CnnlabError):
        E.parse_grid(" ; ")
