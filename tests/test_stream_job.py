"""cnnlab train on an image folder: in memory or streamed from a disk cache, chosen by the
memory budget or by --in-memory / --stream, recorded in the run, with the same weights."""

import json
from pathlib import Path

import pytest
import torch

from cache_folders import make_folder
from cnnlab.cli.main import main
from cnnlab.errors import CnnlabError
from cnnlab.runs import streaming
from cnnlab.runs.checkpoint import load_checkpoint
from cnnlab.runs.job import TrainJob

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("job")
    make_folder(root / "images" / "train", 90)
    make_folder(root / "images" / "validation", 30, seed=1)
    return root / "images"


def train(source: Path, out: Path, *flags: str) -> tuple[dict, dict, Path]:
    args = ["train", "lenet5", "--dataset", "image-folder", "-o", f"path={source}"]
    args += ["-o", "size=12x12", "--epochs", "2", "--batch-size", "16", "--quiet"]
    assert main([*args, "--data-dir", str(out / "data"), "--out", str(out), *flags]) == 0
    (run,) = (p for p in out.iterdir() if p.name.startswith("lenet5"))
    weights, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return json.loads((run / "config.json").read_text()), weights, run


def test_stream_and_in_memory_runs_record_their_path_and_agree(source, tmp_path):
    cache = tmp_path / "cache"
    streamed, streamed_weights, run = train(
        source, tmp_path / "s", "--stream", "--data-cache", str(cache)
    )
    in_memory, memory_weights, _ = train(source, tmp_path / "m", "--in-memory")
    assert streamed["data"]["data_path"] == "stream"
    assert streamed["data"]["train"] == f"stream from {cache}"
    assert streamed["run"]["data_cache"] == str(cache)
    assert json.loads((cache / "manifest.json").read_text())["complete"]
    assert in_memory["data"]["data_path"] == "in-memory"
    for key, value in memory_weights.items():
        assert torch.equal(value, streamed_weights[key]), key
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 0  # trains on
    assert json.loads((run / "config.json").read_text())["data"]["data_path"] == "stream"
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")[1]["epoch"] == 3


def test_auto_streams_only_what_exceeds_the_budget(source, tmp_path, monkeypatch):
    job = TrainJob("lenet5", "image-folder", dataset_options={"path": str(source), "size": "12x12"})
    assert streaming.streamed_training(job, tmp_path, progress=False) is None
    monkeypatch.setattr(
        streaming, "available_bytes", lambda: 90 * 3 * 144 * 5
    )  # its half: under the need
    assert streaming.streamed_training(job, tmp_path, progress=False) is not None
    (cache,) = (tmp_path / "caches").iterdir()
    assert cache.name.startswith("train-12x12-")


def test_stream_refuses_data_it_cannot_stream(source, tmp_path):
    job = TrainJob(
        "lenet5", "image-folder", dataset_options={"path": str(source)}, data_path="stream"
    )
    with pytest.raises(CnnlabError, match="add -o size=HxW"):
        streaming.streamed_training(job, tmp_path)
    job = TrainJob("lenet5", "digits", data_path="stream")
    with pytest.raises(CnnlabError, match="streams an image folder"):
        streaming.streamed_training(job, tmp_path)
