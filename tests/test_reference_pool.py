"""Reference pooling equals PyTorch's, forward and backward; the notes' global pooling grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab import reference as R

TOL = {np.float32: 1e-5, np.float64: 1e-10}
NOTES_GRID = [[4, 3, 1, 5], [1, 3, 4, 8], [4, 5, 4, 3], [6, 5, 9, 4]]

POOLS = [
    (R.max_pool2d, R.max_pool2d_backward, F.max_pool2d),
    (R.avg_pool2d, R.avg_pool2d_backward, F.avg_pool2d),
]


def assert_close(ours: np.ndarray, theirs: torch.Tensor, dtype) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("forward", "backward", "torch_op"), POOLS)
@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    p=st.integers(0, 1),
    seed=st.integers(0, 2**16),
)
def test_pooling_matches_torch(dtype, forward, backward, torch_op, n, c, h, w, k, s, p, seed):
    assume(2 * p <= k and min(h, w) + 2 * p >= k)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    theirs = torch_op(tx, k, s, p)
    ours = forward(x, k, s, p)
    assert_close(ours, theirs, dtype)
    dout = rng.standard_normal(ours.shape).astype(dtype)
    theirs.backward(torch.tensor(dout))
    assert_close(backward(dout, x, k, s, p), tx.grad, dtype)


def test_pool_stride_defaults_to_the_kernel():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(R.max_pool2d(x, 2)[0, 0], [[5, 7], [13, 15]])


def test_global_pooling_of_the_notes_grid():
    x = np.array(NOTES_GRID, dtype=float)[None, None]
    assert R.global_max_pool(x)[0, 0] == 9
    assert R.global_avg_pool(x)[0, 0] == pytest.approx(4.3125)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (R.global_max_pool, lambda t: F.adaptive_max_pool2d(t, 1)),
        (R.global_avg_pool, lambda t: F.adaptive_avg_pool2d(t, 1)),
    ],
)
def test_global_pooling_matches_torch(ours, theirs):
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 4))
    assert_close(ours(x), theirs(torch.tensor(x)).flatten(1), np.float64)


def test_same_average_pooling_averages_the_real_pixels_as_keras():
    """Keras' AveragePooling2D(2, strides=2, padding='same') on the 3 x 3 grid 1..9 gives
    [[3, 4.5], [7.5, 9]] (TensorFlow divides by the real pixels of each window); integer
    padding keeps PyTorch's count of the padded zeros."""
    grid = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    same = R.avg_pool2d(grid, 2, 2, "same")[0, 0]
    np.testing.assert_allclose(same, [[3.0, 4.5], [7.5, 9.0]])
    padded = R.avg_pool2d(grid, 2, 2, 1)[0, 0]
    expected = F.avg_pool2d(torch.tensor(grid), 2, 2, padding=1)[0, 0].numpy()
    np.testing.assert_allclose(padded, expected)


def test_same_average_pooling_gradient_matches_torch_without_the_padding():
    """Where 'same' pads symmetrically (kernel 3, stride 1), it is PyTorch's average pooling
    with padding 1 and count_include_pad=False, forward and backward."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 6))
    dout = rng.normal(size=(2, 3, 5, 6))
    xt = torch.tensor(x, requires_grad=True)
    out = F.avg_pool2d(xt, 3, 1, padding=1, count_include_pad=False)
    out.backward(torch.tensor(dout))
    np.testing.assert_allclose(R.avg_pool2d(x, 3, 1, "same"), out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(
        R.avg_pool2d_backward(dout, x, 3, 1, "same"), xt.grad.numpy(), atol=1e-12
    )
