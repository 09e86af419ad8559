"""Tokenizer, vocabulary and encoding; the SMS loader on a generated file."""

from __future__ import annotations

import pytest
import torch

from cnnlab.data import Vocabulary, load, tokenize
from cnnlab.data.sms import read_collection
from cnnlab.errors import CnnlabError


def test_tokenize_lowercases_and_keeps_words():
    assert tokenize("WINNER!! Call 09061701461 now, don't wait...") == [
        "winner",
        "call",
        "09061701461",
        "now",
        "don't",
        "wait",
    ]
    assert tokenize("  ...  ") == []


def test_vocabulary_order_min_freq_and_max_size():
    texts = ["b a a", "c a b", "d"]
    vocab = Vocabulary.build(texts)
    assert vocab.tokens == ("<pad>", "<unk>", "a", "b", "c", "d")  # by count, ties alphabetical
    assert Vocabulary.build(texts, min_freq=2).tokens == ("<pad>", "<unk>", "a", "b")
    assert Vocabulary.build(texts, max_size=3).tokens == ("<pad>", "<unk>", "a")
    with pytest.raises(CnnlabError, match="max_size must be >= 2"):
        Vocabulary.build(texts, max_size=1)


def test_encode_pads_truncates_and_maps_unknowns():
    vocab = Vocabulary.build(["the cat sat"])
    ids = vocab.encode(["the dog sat", "the cat sat the cat sat"], length=4)
    assert ids.dtype == torch.int64 and ids.shape == (2, 4)
    the, cat, sat = (vocab.index[w] for w in ("the", "cat", "sat"))
    assert ids.tolist() == [[the, 1, sat, 0], [the, cat, sat, the]]
    assert vocab.decode(ids[0].tolist()) == "the <unk> sat"


def _write_sms(folder, rows):
    (folder / "sms_spam").mkdir(parents=True)
    path = folder / "sms_spam" / "SMSSpamCollection"
    path.write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


def test_sms_vocabulary_comes_from_train_only(tmp_path, monkeypatch):
    from cnnlab.data import sms

    rows = [("ham", f"hello friend {i}") for i in range(40)]
    rows += [("spam", f"win prize now {i} unique{i}") for i in range(10)]
    _write_sms(tmp_path, rows)
    monkeypatch.setattr(sms, "MEMBER_MD5", None)
    train = load("sms-spam", "train", data_dir=tmp_path, download=False, length=6)
    test = load("sms-spam", "test", data_dir=tmp_path, download=False, length=6)
    assert (len(train), len(test)) == (40, 10)
    assert test.labels.bincount().tolist() == [8, 2]  # stratified 20% of each class
    assert train.vocab == test.vocab
    test_only = {w for t in test.texts for w in tokenize(t)} - {
        w for t in train.texts for w in tokenize(t)
    }
    assert test_only and not test_only & set(train.vocab.tokens)
    assert test.tokens.shape == (10, 6)


def test_sms_bad_line_is_named(tmp_path):
    path = _write_sms(tmp_path, [("ham", "ok"), ("maybe", "what")])
    with pytest.raises(CnnlabError, match="line 2"):
        read_collection(path)
