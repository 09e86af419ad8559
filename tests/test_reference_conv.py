"""Reference convolutions equal PyTorch's, forward and backward, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab import reference as R
from cnnlab.arith import resolve_padding, transposed_output_length
from cnnlab.errors import CnnlabError

TOL = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])
FAST = settings(max_examples=25, deadline=None)


def assert_close(ours: np.ndarray, theirs: torch.Tensor, dtype) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def _fits(h: int, w: int, k: int, s: int, d: int, padding) -> bool:
    pads = [resolve_padding(padding, n, k, s, d) for n in (h, w)]
    return all(n + a + b >= d * (k - 1) + 1 for n, (a, b) in zip((h, w), pads, strict=True))


@DTYPES
@FAST
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    f=st.integers(1, 3),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    padding=st.sampled_from([0, 1, 2, "same", "valid"]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_forward_and_backward_match_torch(dtype, n, c, f, h, w, k, s, d, padding, seed):
    assume(_fits(h, w, k, s, d, padding))
    rng = np.random.default_rng(seed)
    x, wt, b = (
        rng.standard_normal(shape).astype(dtype) for shape in [(n, c, h, w), (f, c, k, k), (f,)]
    )
    ours = R.conv2d(x, wt, b, stride=s, padding=padding, dilation=d)

    (top, bottom), (left, right) = (resolve_padding(padding, m, k, s, d) for m in (h, w))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    theirs = F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, tb, stride=s, dilation=d)
    assert_close(ours, theirs, dtype)

    dout = rng.standard_normal(ours.shape).astype(dtype)
    theirs.backward(torch.tensor(dout))
    for mine, grad in zip(R.conv2d_backward(dout, x, wt, s, padding, d), (tx, tw, tb), strict=True):
        assert_close(mine, grad.grad, dtype)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_conv2d_applies_the_activation_after_the_bias(activation):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), np.ones(3)
    expected = getattr(torch, activation)(F.conv2d(*map(torch.tensor, (x, w, b))))
    assert_close(R.conv2d(x, w, b, activation=activation), expected, np.float64)


def test_notes_six_by_six_with_three_by_three_gives_four_by_four():
    assert R.conv2d(np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3))).shape == (1, 1, 4, 4)


def test_conv2d_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(CnnlabError, match="larger than the padded input"):
        R.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))


@DTYPES
@FAST
@given(
    n=st.integers(1, 2),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    p=st.integers(0, 3),
    op=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_conv_transpose2d_recipe_matches_torch(dtype, n, c_in, c_out, h, w, k, s, d, p, op, seed):
    assume(op < max(s, d))
    try:
        for m in (h, w):
            transposed_output_length(m, k, s, p, d, op)
    except CnnlabError:
        assume(False)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    wt = rng.standard_normal((c_in, c_out, k, k)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    theirs = F.conv_transpose2d(
        *map(torch.tensor, (x, wt, b)), stride=s, padding=p, output_padding=op, dilation=d
    )
    assert_close(R.conv_transpose2d(x, wt, b, s, p, op, d), theirs, dtype)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "grid", "pattern"),
    [
        # the notes' first table: 4x4, k2, s1, p0 -> 6x6 grid with a frame of 1 -> 5x5
        (4, 2, 1, 0, 6, [0] + [1] * 4 + [0]),
        # the notes' second table: 3x3, k3, s2, p1 -> 7x7 grid, interleaved zeros -> 5x5
        (3, 3, 2, 1, 7, [0, 1, 0, 1, 0, 1, 0]),
    ],
)
def test_transposed_grid_reproduces_the_notes_tables(size, kernel, stride, padding, grid, pattern):
    ones = np.ones((1, 1, size, size))
    cells = R.transposed_grid(ones, kernel, stride, padding)[0, 0]
    assert cells.shape == (grid, grid)
    np.testing.assert_array_equal(cells, np.outer(pattern, pattern))
    out = R.conv_transpose2d(ones, np.ones((1, 1, kernel, kernel)), stride=stride, padding=padding)
    assert out.shape[-2:] == (5, 5)
