"""Streamed training under torchrun: two processes build one disk cache (the second waits
for the first) and train from it, each reading and augmenting only its share of every batch,
to the weights of one in-memory process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cache_folders import make_folder
from cnnlab.runs.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def weights(out: Path) -> dict[str, torch.Tensor]:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


def test_two_streaming_processes_match_one_in_memory(tmp_path):
    """Global batch 32 (2 x 16 under DDP): float32 sums differ only in order (1e-5)."""
    make_folder(tmp_path / "images" / "train", 96)
    make_folder(tmp_path / "images" / "validation", 30, seed=1)
    common = ["train", "lenet5", "--dataset", "image-folder", "-o", f"path={tmp_path / 'images'}"]
    common += ["-o", "size=12x12", "--epochs", "2", "--batch-size", "32", "--seed", "1"]
    common += ["--deterministic", "--precision", "fp32", "--quiet", "--augment", "shift"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = {"capture_output": True, "text": True, "env": env, "timeout": 300, "check": False}
    single = subprocess.run(
        [sys.executable, "-m", "cnnlab", *common, "--in-memory", "--out", str(tmp_path / "one")],
        **run,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node=2"]
    cache = tmp_path / "cache"
    streamed = ["--stream", "--data-cache", str(cache), "--out", str(tmp_path / "two")]
    double = subprocess.run(
        [*torchrun, "--master_port", "29617", "-m", "cnnlab", *common, *streamed], **run
    )
    assert double.returncode == 0, double.stderr[-3000:]
    assert (cache / "manifest.json").exists()
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, rtol=0, atol=1e-5)
