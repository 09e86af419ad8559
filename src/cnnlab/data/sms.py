"""SMS Spam Collection v.1 (Almeida, Gómez Hidalgo, Yamakami 2011; UCI ML Repository).

One file, ``SMSSpamCollection``: 5,574 lines ``ham|spam<TAB>text`` (4,827 ham, 747 spam). The
collection has no official split: ``train``/``test`` are a stratified 80/20 split with seed 0
(:func:`~cnnlab.data.splits.stratified_split`), the same on every machine. The vocabulary is
built on ``train`` only, whichever split is loaded.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import torch

from cnnlab.data.dataset import Dataset, DatasetInfo
from cnnlab.data.download import by_hand, check_md5, fetch, source_url
from cnnlab.data.registry import register_dataset
from cnnlab.data.splits import stratified_split
from cnnlab.data.text import Vocabulary
from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path

BASE = "https://archive.ics.uci.edu/static/public/228"
ARCHIVE = "sms+spam+collection.zip"
MEMBER = "SMSSpamCollection"
MEMBER_MD5 = "1949b64a224790d01335c2bf8a0e48b2"

INFO = DatasetInfo(
    name="sms-spam",
    task="text",
    description="5,574 SMS labelled ham/spam; stratified seeded split 80% train / 20% test.",
    classes=("ham", "spam"),
    shape=(50,),
    splits=("train", "test"),
    source="https://archive.ics.uci.edu/dataset/228/sms+spam+collection",
    license="CC BY 4.0",
    citation="Almeida, Gómez Hidalgo, Yamakami. Contributions to the Study of SMS Spam "
    "Filtering: New Collection and Results. DocEng 2011.",
    files={ARCHIVE: None, MEMBER: MEMBER_MD5},
)


def _collection(root: Path, download: bool, mirror: str | None) -> Path:
    """``<data_dir>/sms_spam/SMSSpamCollection``, extracted from the UCI zip if missing."""
    folder = root / "sms_spam"
    dest = folder / MEMBER
    url = source_url(BASE, ARCHIVE, mirror)
    if dest.is_file():
        return fetch(url, dest, MEMBER_MD5, download=False, name=INFO.name)
    if not download:
        raise CnnlabError(
            f"{dest} is missing (sms-spam needs it and download=False); download {url}, extract "
            f"{MEMBER} from it and put it at {dest}, or run: cnnlab datasets download sms-spam"
        )
    archive = fetch(url, folder / ARCHIVE, None, download, INFO.name)
    fix = f"delete {archive} and {by_hand(archive, url)}"
    try:
        with atomic_path(dest) as temporary:
            with zipfile.ZipFile(archive) as bundle:
                temporary.write_bytes(bundle.read(MEMBER))
            check_md5(temporary, MEMBER_MD5, url, shown=dest)
    except (zipfile.BadZipFile, KeyError) as error:
        raise CnnlabError(f"{archive} is not the SMS Spam zip ({error}); {fix}") from error
    return dest


def read_collection(path: Path) -> tuple[list[str], torch.Tensor]:
    """Texts and labels (ham = 0, spam = 1) from a ``label<TAB>text`` file."""
    texts, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        label, sep, text = line.partition("\t")
        if not sep or label not in INFO.classes:
            raise CnnlabError(
                f"{path} line {number} is not 'ham<TAB>text' or 'spam<TAB>text'. "
                f"Received: {line[:40]!r}; replace the file with the original SMSSpamCollection"
            )
        texts.append(text)
        labels.append(INFO.classes.index(label))
    return texts, torch.tensor(labels, dtype=torch.int64)


@register_dataset(INFO)
def sms_spam(
    split: str,
    root: Path,
    download: bool,
    mirror: str | None,
    length: int = 50,
    min_freq: int = 1,
    max_size: int | None = None,
) -> Dataset:
    """SMS texts as ``length`` token ids each, with labels, raw texts and the train vocabulary.

    Args:
        length: tokens per message after padding/truncation.
        min_freq: drop words seen fewer times in ``train``.
        max_size: cap on the vocabulary size (specials included).
    """
    texts, labels = read_collection(_collection(root, download, mirror))
    train, test = stratified_split(labels, 0.2, seed=0)
    vocab = Vocabulary.build((texts[i] for i in train.tolist()), min_freq, max_size)
    index = train if split == "train" else test
    chosen = [texts[i] for i in index.tolist()]
    info = replace(INFO, shape=(length,))
    return Dataset(
        info,
        split,
        labels=labels[index],
        tokens=vocab.encode(chosen, length),
        texts=chosen,
        vocab=vocab,
    )
