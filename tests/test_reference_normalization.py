"""Batch norm and dropout: PyTorch's numbers, and the two dropout conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import reference as R
from cnnlab.errors import CnnlabError

TOL = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


def assert_close(ours: np.ndarray, theirs: torch.Tensor, dtype) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


@DTYPES
@pytest.mark.parametrize("training", [True, False])
@settings(max_examples=15, deadline=None)
@given(
    shape=st.sampled_from([(4, 3), (2, 3, 4, 5), (3, 1, 2, 2), (5, 2, 1, 1)]),
    momentum=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_batch_norm_matches_torch(dtype, training, shape, momentum, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    mean, var = rng.standard_normal(c).astype(dtype), rng.random(c).astype(dtype) + 0.5
    t_mean, t_var = torch.tensor(mean), torch.tensor(var)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y = F.batch_norm(tx, t_mean, t_var, tg, tb, training, momentum, 1e-5)
    ours = R.batch_norm(x, gamma, beta, mean, var, training, momentum, 1e-5)
    assert_close(ours.y, y, dtype)
    assert_close(ours.running_mean, t_mean, dtype)
    assert_close(ours.running_var, t_var, dtype)
    if training:
        dout = rng.standard_normal(shape).astype(dtype)
        y.backward(torch.tensor(dout))
        grads = R.batch_norm_backward(dout, x, gamma, 1e-5)
        for mine, t in zip(grads, (tx, tg, tb), strict=True):
            assert_close(mine, t.grad, dtype)


def test_batch_norm_does_not_mutate_running_statistics():
    mean, var = np.zeros(2), np.ones(2)
    R.batch_norm(np.arange(8.0).reshape(4, 2), np.ones(2), np.zeros(2), mean, var, True)
    np.testing.assert_array_equal(mean, 0)
    np.testing.assert_array_equal(var, 1)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9])
def test_inverted_dropout_keeps_one_minus_p_and_scales_like_torch(p):
    x = np.random.default_rng(3).random(200_000) + 1
    y = R.dropout(x, p, np.random.default_rng(4))
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)
    torch.manual_seed(0)
    theirs = F.dropout(torch.tensor(x), p, training=True).numpy()
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-12)
    np.testing.assert_allclose(theirs[theirs != 0], x[theirs != 0] / (1 - p), rtol=1e-12)
    assert y.mean() == pytest.approx(x.mean(), rel=0.02)
    np.testing.assert_array_equal(R.dropout(x, p, np.random.default_rng(4), training=False), x)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_classic_dropout_scales_at_test_time_by_the_keep_probability(p):
    x = np.random.default_rng(5).random(200_000) + 1
    train = R.dropout(x, p, np.random.default_rng(6), mode="classic")
    test = R.dropout(x, p, np.random.default_rng(6), training=False, mode="classic")
    np.testing.assert_allclose(train[train != 0], x[train != 0])
    np.testing.assert_allclose(test, x * (1 - p))
    assert train.mean() == pytest.approx(test.mean(), rel=0.02)


def test_both_dropout_modes_drop_the_same_units_for_the_same_seed():
    x = np.ones(50)
    inverted = R.dropout(x, 0.5, np.random.default_rng(7))
    classic = R.dropout(x, 0.5, np.random.default_rng(7), mode="classic")
    np.testing.assert_array_equal(inverted != 0, classic != 0)


@pytest.mark.parametrize(("p", "mode"), [(1.0, "inverted"), (-0.1, "classic"), (0.5, "other")])
def test_dropout_rejects_bad_arguments(p, mode):
    with pytest.raises(CnnlabError, match="Received"):
        R.dropout(np.ones(3), p, np.random.default_rng(0), mode=mode)
