"""The one atomic-write helper: whole files or none, one temporary-name scheme, clear errors."""

import json
import os

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.files import (
    atomic_path,
    read_json,
    remove_stale_temporaries,
    temporary_name,
    write_json,
    write_text,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "report.md", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_folder_is_moved_into_place_whole(tmp_path):
    target = tmp_path / "pages"
    with atomic_path(target) as temporary:
        temporary.mkdir()
        (temporary / "0.png").write_bytes(b"x")
    assert [p.name for p in target.iterdir()] == ["0.png"]
    with pytest.raises(ValueError), atomic_path(tmp_path / "other") as temporary:
        temporary.mkdir()
        raise ValueError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages"]


def test_temporaries_follow_the_one_scheme_the_sweep_removes(tmp_path):
    nested = tmp_path / "checkpoints"
    nested.mkdir()
    left = [temporary_name(tmp_path / "config.json"), temporary_name(nested / "last.safetensors")]
    for path in left:
        path.write_bytes(b"partial")
    assert left[0].name.startswith(".config.json.") and left[0].name.endswith(".tmp")
    assert temporary_name(tmp_path / "a") != temporary_name(tmp_path / "a")  # unique per call
    (tmp_path / "keep.json").write_text("{}")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(left)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["keep.json"]


def test_json_round_trip_writes_nan_as_null(tmp_path):
    path = write_json(tmp_path / "m.json", {"loss": float("nan"), "rows": [1.0, float("inf")]})
    assert json.loads(path.read_text()) == {"loss": None, "rows": [1.0, None]}
    assert read_json(path) == {"loss": None, "rows": [1.0, None]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{", "is not UTF-8 text"),
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object. Received: list"),
    ],
)
def test_read_json_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(CnnlabError, match=message) as caught:
        read_json(path)
    assert str(path) in str(caught.value)


def test_read_json_of_a_missing_file(tmp_path):
    with pytest.raises(CnnlabError, match="cannot read"):
        read_json(tmp_path / "absent.json")
    assert not os.listdir(tmp_path)
