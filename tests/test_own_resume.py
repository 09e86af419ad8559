"""Exact resume on the path most users take: their own model on a map-style torch Dataset,
from Python. A process killed with SIGKILL mid-epoch and resumed ends with the weights of
an uninterrupted run, bit for bit."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.runs.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
import torch
from torch import nn
from torch.utils.data import Dataset
from cnnlab.data import load
from cnnlab.runs import RunRecorder
from cnnlab.train import Trainer, seed_everything

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 4 * 4, 10),
        )
    def forward(self, x):
        return self.body(x)

class Digits(Dataset):
    def __init__(self, split):
        data = load("digits", split)
        self.images, self.labels = data.images, data.labels
    def __len__(self):
        return len(self.labels)
    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])

run_dir, resume = sys.argv[1], sys.argv[2] == "resume"
torch.set_num_threads(1)
seed_everything(0)
recorder = RunRecorder(run_dir, resume=resume, checkpoint_every=3)
trainer = Trainer(Net(), epochs=3, batch_size=32, seed=7, verbose=0, callbacks=[recorder])
trainer.fit(Digits("train[:640]"), Digits("test[:128]"))
"""


def run(script: Path, folder: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(folder), mode])


def step_of(folder: Path) -> int:
    try:
        return load_checkpoint(folder / "checkpoints" / "last.safetensors")[1]["global_step"]
    except (CnnlabError, FileNotFoundError):
        return -1


def weights(folder: Path) -> dict[str, torch.Tensor]:
    tensors, _ = load_checkpoint(folder / "checkpoints" / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    assert run(script, tmp_path / "whole", "new").wait(timeout=300) == 0
    reference = weights(tmp_path / "whole")
    killed = tmp_path / "killed"
    for target in (10, 33):  # mid-epoch 1, then mid-epoch 2 of the resumed process
        process = run(script, killed, "resume" if target > 10 else "new")
        deadline = time.monotonic() + 300
        while step_of(killed) < target and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert 0 < step_of(killed) < 60  # 20 steps per epoch, 3 epochs: it stopped part way
    assert run(script, killed, "resume").wait(timeout=300) == 0
    resumed = weights(killed)
    assert resumed.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(value, resumed[key]), key
