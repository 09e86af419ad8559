"""Split strings, seeded/stratified splits and Keras' validation_split."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.data import load, parse_split, seeded_split, stratified_split, validation_split
from cnnlab.errors import CnnlabError

SPLITS = ("train", "test")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 5000), k=st.integers(0, 100))
def test_percent_slices_partition_the_split(n, k):
    head, tail = (parse_split(s, SPLITS)[0].resolve(n) for s in (f"train[:{k}%]", f"train[{k}%:]"))
    items = list(range(n))
    assert items[head] + items[tail] == items
    assert len(items[head]) == math.floor(k * n / 100 + 0.5)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), a=st.integers(-100, 100), b=st.integers(-100, 100))
def test_percent_bounds_behave_like_python_slices(n, a, b):
    part = parse_split(f"test[{a}%:{b}%]", SPLITS)[0]
    expected = slice(
        int(math.copysign(math.floor(abs(a) * n / 100 + 0.5), a)),
        int(math.copysign(math.floor(abs(b) * n / 100 + 0.5), b)),
    )
    assert part.resolve(n) == expected


def test_rounding_rule_halves_go_up():
    assert parse_split("train[:50%]", SPLITS)[0].resolve(5) == slice(None, 3)
    assert parse_split("train[:10%]", SPLITS)[0].resolve(1234) == slice(None, 123)


def test_split_parsing_of_the_tfds_examples():
    assert parse_split("test[:8000]", SPLITS)[0].resolve(10000) == slice(None, 8000)
    parts = parse_split("train[10%:]+test", SPLITS)
    assert [p.name for p in parts] == ["train", "test"]
    assert parts[0].resolve(60000) == slice(6000, None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("valid", "unknown split 'valid'"), ("train[:101%]", "within -100%"), ("train[1]", "look")],
)
def test_bad_split_strings(spec, message):
    with pytest.raises(CnnlabError, match=message):
        parse_split(spec, SPLITS)


def test_load_joins_and_slices():
    whole = load("synthetic", "train", train_size=40, test_size=10)
    test = load("synthetic", "test", train_size=40, test_size=10)
    joined = load("synthetic", "train[10%:]+test[:5]", train_size=40, test_size=10)
    assert len(joined) == 36 + 5
    assert torch.equal(joined.images[:36], whole.images[4:])
    assert torch.equal(joined.images[36:], test.images[:5])


def test_validation_split_takes_the_last_fraction_like_keras():
    x, y = torch.arange(10).view(10, 1), torch.arange(10)
    (train_x, train_y), (val_x, val_y) = validation_split((x, y), 0.25)
    assert train_y.tolist() == list(range(7))  # floor(10 * 0.75) = 7
    assert val_y.tolist() == [7, 8, 9]
    assert torch.equal(train_x[:, 0], train_y) and torch.equal(val_x[:, 0], val_y)
    data = load("synthetic", "train", train_size=20)
    train, val = validation_split(data, 0.1)
    assert (len(train), len(val)) == (18, 2)
    assert torch.equal(val.labels, data.labels[18:])
    with pytest.raises(CnnlabError, match="fraction"):
        validation_split(data, 1.0)


def test_seeded_split_is_fixed_and_complete():
    a_first, a_second = seeded_split(30, 0.2, seed=0)
    b_first, b_second = seeded_split(30, 0.2, seed=0)
    assert torch.equal(a_first, b_first) and torch.equal(a_second, b_second)
    assert len(a_second) == 6
    assert sorted(torch.cat([a_first, a_second]).tolist()) == list(range(30))
    assert not torch.equal(seeded_split(30, 0.2, seed=1)[1], a_second)


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(1, 60), min_size=2, max_size=4), seed=st.integers(0, 9))
def test_stratified_split_keeps_class_shares(counts, seed):
    labels = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    first, second = stratified_split(labels, 0.2, seed=seed)
    assert sorted(torch.cat([first, second]).tolist()) == list(range(len(labels)))
    for cls, count in enumerate(counts):
        assert int((labels[second] == cls).sum()) == math.floor(0.2 * count + 0.5)
