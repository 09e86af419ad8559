"""``cnnlab explain train-step`` and ``activations``: the notes' training procedure and the
activations' derivatives, checked against PyTorch autograd."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import explain as E
from cnnlab import reference as R
from cnnlab.cli.main import main
from cnnlab.explain import training as T

DIGITS = T.load_digits_01()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def torch_gradients(x, labels, w, b, templates):
    """The same model in PyTorch: loss, dL/dw, dL/db by autograd."""
    tw = torch.tensor(w[None, None], requires_grad=True)
    tb = torch.tensor([b], dtype=torch.float64, requires_grad=True)
    fmap = F.conv2d(torch.tensor(x), tw, tb)  # N x 1 x h x w
    scores = fmap.flatten(1) @ torch.tensor(templates.reshape(10, -1)).T  # N x 10
    loss = F.cross_entropy(scores, torch.tensor(labels))
    loss.backward()
    return float(loss.detach()), tw.grad[0, 0].numpy(), float(tb.grad[0])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), n=st.integers(10, 60))
def test_gradients_of_the_ten_parameters_equal_autograd(seed, k, n):
    rng = np.random.default_rng(seed)
    x, labels = DIGITS[0][:n], DIGITS[1][:n]
    w, b = rng.normal(0, 1, (k, k)), float(rng.normal())
    templates = T.readout_templates(x, labels, (9 - k, 9 - k))
    ours = T.filter_gradients(x, labels, w, b, templates)
    theirs = torch_gradients(x, labels, w, b, templates)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_walk_follows_torch_sgd_step_by_step(momentum):
    walk = E.explain_train_step((3, 3), lr=0.2, momentum=momentum, steps=6, images=50, seed=3)
    x, labels = torch.tensor(walk.images), torch.tensor(walk.labels)
    w = torch.tensor(walk.w0[None, None], requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=0.2, momentum=momentum)
    templates = torch.tensor(walk.templates.reshape(10, -1))
    for step in walk.steps:
        optimizer.zero_grad()
        loss = F.cross_entropy(F.conv2d(x, w, b).flatten(1) @ templates.T, labels)
        loss.backward()
        optimizer.step()
        assert float(loss.detach()) == pytest.approx(step.loss, rel=1e-10)
        np.testing.assert_allclose(step.w, w.detach()[0, 0].numpy(), rtol=1e-9, atol=1e-12)
        assert step.b == pytest.approx(float(b.detach()), rel=1e-9, abs=1e-12)


def test_sgd_step_is_the_momentum_rule():
    w, v = R.sgd_step(np.array([1.0]), np.array([2.0]), np.array([0.5]), lr=0.1, momentum=0.9)
    np.testing.assert_allclose(v, [0.9 * 0.5 + 2.0])
    np.testing.assert_allclose(w, [1.0 - 0.1 * 2.45])


@pytest.mark.parametrize("kernel", [(3, 3), (5, 5), (2, 4)])
def test_the_loss_falls_and_unseen_digits_are_recognized(kernel):
    walk = E.explain_train_step(kernel, lr=0.2, steps=15)
    losses = [s.loss for s in walk.steps]
    assert all(b < a for a, b in itertools.pairwise(losses))
    assert walk.test_after[0] < walk.test_before[0]
    assert walk.test_after[1] > max(0.5, walk.test_before[1])


def test_train_step_prints_the_notes_steps(capsys):
    code, out, _ = run(capsys, "train-step", "--steps", "5", "--momentum", "0.9")
    assert code == 0
    assert "learned: 10 parameters, the 9 filter weights and 1 bias" in out
    assert "FIXED read-out (not learned)" in out
    assert "v <- mu * v + dL/dw; w <- w - lr * v" in out
    for step in range(1, 9):
        assert f"step {step}," in out
    assert "evaluation on the 797 unseen digits" in out
    assert "\n   5  " in out  # the table's last row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train-step", "--steps", "0"], "steps must be between 1 and 1000"),
        (["train-step", "--kernel", "9"], "kernel must fit the 8x8 digits"),
        (["train-step", "--momentum", "1"], "momentum must be in [0, 1)"),
        (["train-step", "--lr", "0"], "lr must be > 0"),
        (["train-step", "--images", "5"], "images must be between 10 and 1000"),
        (["activations", "--depth", "0"], "depth must be between 1 and 60"),
        (["activations", "--inputs", "1,a"], "only numbers"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_activation_derivatives_equal_autograd(name):
    steps = E.explain_activations(np.linspace(-6, 6, 49))
    x = torch.tensor(steps.inputs, requires_grad=True)
    y = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[name](x)
    y.sum().backward()
    np.testing.assert_allclose(steps.values[name], y.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(steps.derivatives[name], x.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_the_depth_table_is_computed_and_the_sigmoid_stays_under_its_bound():
    steps = E.explain_activations([0.0], depth=12, start=0.5)
    top, at = steps.maxima["sigmoid"]
    assert top == pytest.approx(0.25) and at == pytest.approx(0.0)
    chains = zip(steps.chains["sigmoid"], steps.chains["relu"], strict=True)
    for depth, (sigmoid, relu) in enumerate(chains, 1):
        assert sigmoid <= top**depth and relu == 1.0
    x = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    a = x
    for _ in range(12):
        a = torch.sigmoid(a)
    a.backward()
    assert steps.chains["sigmoid"][-1] == pytest.approx(float(x.grad), rel=1e-12)


def test_activations_prints_both_tables(capsys):
    code, out, _ = run(capsys, "activations", "--depth", "3")
    assert code == 0
    assert "max sigmoid' = 0.25 at x = 0" in out
    assert "layers L  bound 0.25^L" in out
    assert "what ReLU changes" in out


def test_walks_show_themselves_in_notebooks():
    walk = E.explain_train_step(steps=3)
    assert repr(walk).startswith("TrainStepWalk(3x3 filter, 3 steps")
    assert "<table" in walk._repr_html_() and "unseen digits" in walk._repr_html_()
    steps = E.explain_activations([-1.0, 0.0, 1.0], depth=4)
    assert "max sigmoid' = 0.25" in repr(steps)
    assert "sigmoid chain" in steps._repr_html_()
