"""Metrics: confusion-matrix counts and the scores derived from them, against scikit-learn
and hand-computed values; batch-size invariance of the streaming state."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from cnnlab.errors import CnnlabError
from cnnlab.train.metrics import (
    MetricState,
    classification_report,
    confusion_matrix,
    predicted_class,
    segmentation_report,
)

labels = st.lists(st.integers(0, 4), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 6),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_predicted_class_is_argmax_ties_included(n, k, side, channels_last, dim0, seed):
    # Scores from three values: ties are frequent, and both must pick the first maximum.
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 3, (n, k, side, side), generator=generator).float()
    if channels_last:
        scores = scores.contiguous(memory_format=torch.channels_last)
    if dim0:
        assert torch.equal(predicted_class(scores[0], dim=0), scores[0].argmax(0))
    assert torch.equal(predicted_class(scores), scores.argmax(1))


@settings(max_examples=60, deadline=None)
@given(labels, st.data())
def test_confusion_and_scores_match_sklearn(true, data):
    pred = data.draw(st.lists(st.integers(0, 4), min_size=len(true), max_size=len(true)))
    t, p = torch.tensor(true), torch.tensor(pred)
    matrix = confusion_matrix(p, t, 5)
    np.testing.assert_array_equal(matrix.numpy(), sk_confusion(true, pred, labels=range(5)))
    report = classification_report(matrix)
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=range(5), zero_division=0
    )
    np.testing.assert_allclose(report["per_class"]["precision"], precision)
    np.testing.assert_allclose(report["per_class"]["recall"], recall)
    np.testing.assert_allclose(report["per_class"]["f1"], f1)
    assert report["per_class"]["support"] == support.tolist()
    assert report["macro_f1"] == pytest.approx(f1.mean())
    assert report["accuracy"] == pytest.approx(np.mean(np.array(true) == np.array(pred)))


def test_segmentation_scores_by_hand():
    target = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 1, 1, 1], [0, 0, 0, 1]]])
    report = segmentation_report(confusion_matrix(pred, target, 2))
    # class 1: 3 hits, 1 false positive, 1 false negative
    assert report["pixel_accuracy"] == pytest.approx(6 / 8)
    assert report["iou"] == pytest.approx(3 / 5)
    assert report["dice"] == pytest.approx(2 * 3 / (4 + 4))
    assert report["per_class"]["iou"][0] == pytest.approx(3 / 5)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 17), st.integers(0, 2**16))
def test_state_does_not_depend_on_batching(n, batch, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 7, generator=generator)
    target = torch.randint(0, 7, (n,), generator=generator)
    losses = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    whole = MetricState(7, top_k=3)
    whole.update(losses.mean(), logits, target)
    parts = MetricState(7, top_k=3)
    for i in range(0, n, batch):
        parts.update(losses[i : i + batch].mean(), logits[i : i + batch], target[i : i + batch])
    a, b = whole.result(), parts.result()
    assert a["confusion_matrix"] == b["confusion_matrix"]
    assert a["top3_accuracy"] == b["top3_accuracy"]
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)


def test_top_k_counts_hits_in_the_k_best():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    state = MetricState(4, top_k=2)
    state.update(torch.tensor(0.0), logits, torch.tensor([1, 0]))
    result = state.result()
    assert result["accuracy"] == 0.0
    assert result["top2_accuracy"] == 0.5


def test_state_round_trips_through_state_dict():
    state = MetricState(3)
    state.update(torch.tensor(0.5), torch.eye(3), torch.tensor([0, 1, 1]))
    copy = MetricState(3)
    copy.load_state_dict(state.state_dict())
    assert copy.result() == state.result()


def test_unknown_task_is_one_line_error():
    with pytest.raises(CnnlabError, match="task must be"):
        MetricState(3, task="regression")
