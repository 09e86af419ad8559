"""Activations, flatten, linear and softmax cross-entropy equal PyTorch, forward and backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnlab import reference as R
from cnnlab.errors import CnnlabError

TOL = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])
ACTIVATIONS = [
    (R.relu, R.relu_backward, torch.relu),
    (R.sigmoid, R.sigmoid_backward, torch.sigmoid),
    (R.tanh, R.tanh_backward, torch.tanh),
]


def assert_close(ours: np.ndarray, theirs: torch.Tensor, dtype) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def _inputs(dtype, shape=(3, 7), seed=0, scale=4.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype(dtype), rng.standard_normal(shape).astype(
        dtype
    )


@DTYPES
@pytest.mark.parametrize(("forward", "backward", "torch_op"), ACTIVATIONS)
def test_activation_matches_torch(dtype, forward, backward, torch_op):
    x, dout = _inputs(dtype)
    tx = torch.tensor(x, requires_grad=True)
    y = torch_op(tx)
    y.backward(torch.tensor(dout))
    assert_close(forward(x), y, dtype)
    assert_close(backward(dout, x), tx.grad, dtype)


@DTYPES
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_matches_torch(dtype, axis):
    x, _ = _inputs(dtype, scale=30.0)
    assert_close(R.softmax(x, axis), torch.softmax(torch.tensor(x), axis), dtype)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(-50, 50)))
def test_sigmoid_derivative_never_exceeds_a_quarter(x):
    assert np.all(R.sigmoid_derivative(x) <= 0.25)


def test_sigmoid_derivative_peaks_at_a_quarter_at_zero():
    assert R.sigmoid_derivative(np.array(0.0)) == 0.25


def test_sigmoid_gradient_vanishes_through_depth_but_relu_does_not_collapse():
    sig = R.gradient_norms_through_depth("sigmoid", 10, np.random.default_rng(0))
    relu = R.gradient_norms_through_depth("relu", 10, np.random.default_rng(0))
    assert sig[-1] < 1e-3 * sig[0]
    assert relu[-1] > 1e-2 * relu[0]


def test_unknown_activation_is_one_line_error():
    with pytest.raises(CnnlabError, match="Received: activation='gelu'"):
        R.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), activation="gelu")


@DTYPES
def test_flatten_orders_channels_then_rows_then_columns(dtype):
    x = np.arange(2 * 3 * 4 * 5, dtype=dtype).reshape(2, 3, 4, 5)
    assert_close(R.flatten(x), torch.flatten(torch.tensor(x), 1), dtype)


@DTYPES
def test_linear_matches_torch(dtype):
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(4, 6), (3, 6), (3,)])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.linear(tx, tw, tb)
    dout = rng.standard_normal((4, 3)).astype(dtype)
    y.backward(torch.tensor(dout))
    assert_close(R.linear(x, w, b), y, dtype)
    for mine, t in zip(R.linear_backward(dout, x, w), (tx, tw, tb), strict=True):
        assert_close(mine, t.grad, dtype)


@DTYPES
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_softmax_cross_entropy_matches_torch(dtype, n, k, seed):
    rng = np.random.default_rng(seed)
    logits = (5 * rng.standard_normal((n, k))).astype(dtype)
    labels = rng.integers(0, k, n)
    t = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(t, torch.tensor(labels))
    loss.backward()
    # a loss near 0 is the difference of two numbers of the logits' size: float rounding is
    # absolute there (a few ulps of the largest logit), so the tolerance has an absolute part
    ulps = 8 * float(np.finfo(dtype).eps) * max(1.0, float(np.abs(logits).max()))
    expected = pytest.approx(loss.item(), rel=TOL[dtype], abs=ulps)
    assert R.softmax_cross_entropy(logits, labels) == expected
    assert_close(R.softmax_cross_entropy_backward(logits, labels), t.grad, dtype)
