"""Exact resume of streamed training: a process reading batches from a disk cache with
worker processes, killed with SIGKILL mid-epoch and resumed, ends with the weights of an
uninterrupted run, bit for bit (the resumed epoch skips its trained batches unread)."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from cache_folders import make_folder
from cnnlab.data import build_cache
from cnnlab.errors import CnnlabError
from cnnlab.runs.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
import torch
from torch import nn
from cnnlab.data import open_cache
from cnnlab.runs import RunRecorder
from cnnlab.train import Trainer, seed_everything

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 6 * 6, 3),
        )
    def forward(self, x):
        return self.body(x)

cache_dir, run_dir, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
torch.set_num_threads(1)
seed_everything(0)
recorder = RunRecorder(run_dir, resume=resume, checkpoint_every=2)
trainer = Trainer(Net(), epochs=3, batch_size=8, seed=7, verbose=0, callbacks=[recorder])
cache = open_cache(cache_dir)
trainer.fit(cache, cache)
assert trainer.data_source["data_path"] == "stream"
"""
STEPS = 3 * 30  # 240 samples in batches of 8, 3 epochs


def run(script: Path, cache: Path, folder: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(cache), str(folder), mode])


def step_of(folder: Path) -> int:
    try:
        return load_checkpoint(folder / "checkpoints" / "last.safetensors")[1]["global_step"]
    except (CnnlabError, FileNotFoundError):
        return -1


def weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors, _ = load_checkpoint(folder / "checkpoints" / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


def test_sigkill_during_streamed_training_then_resume_is_bit_identical(tmp_path):
    cache = build_cache(make_folder(tmp_path / "src", 240), tmp_path / "cache", 12, workers=0)
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    assert run(script, cache.folder, tmp_path / "whole", "new").wait(timeout=300) == 0
    reference = weights(tmp_path / "whole")
    assert step_of(tmp_path / "whole") == STEPS
    killed = tmp_path / "killed"
    for target in (10, 45):  # mid-epoch 1, then mid-epoch 2 of the resumed process
        process = run(script, cache.folder, killed, "resume" if target > 10 else "new")
        deadline = time.monotonic() + 300
        while step_of(killed) < target and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert 0 < step_of(killed) < STEPS  # it stopped part way
    assert run(script, cache.folder, killed, "resume").wait(timeout=300) == 0
    resumed = weights(killed)
    assert resumed.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(value, resumed[key]), key
