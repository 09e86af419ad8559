"""Crash test: training processes killed with SIGKILL at random moments, then resumed; every
resume must complete and end exactly like the uninterrupted run (nothing lost)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.cli.main import main
from cnnlab.errors import CnnlabError
from cnnlab.runs.checkpoint import load_checkpoint

KILLS = 20
JOB = ["train", "lenet5", "--dataset", "digits", "--train-split", "train[:480]",
       "--val-split", "test[:96]", "--epochs", "3", "--batch-size", "16",
       "--checkpoint-every", "4", "--seed", "5", "--quiet"]  # fmt: skip


STEPS = 3 * 480 // 16


def reached(out: Path, target: int) -> bool:
    """Has the run in ``out`` checkpointed step ``target`` (or, past the last step, ended)?"""
    runs = list(out.glob("*/config.json"))
    if not runs or target == 0:
        return bool(runs)
    if target > STEPS:
        return (runs[0].parent / "figures").exists()
    try:
        _, meta = load_checkpoint(runs[0].parent / "checkpoints" / "last.safetensors")
    except CnnlabError:  # not written yet, or being replaced
        return False
    return meta["global_step"] >= target


def outcome(run: Path) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    metrics = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in tensors.items() if k.startswith("model.")}, metrics["validation"]


@pytest.fixture
def one_thread():
    """The killed processes run with one thread; float sums depend on the thread count, so
    the in-process reference and resumes use one too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_twenty_random_sigkills_lose_nothing(tmp_path, capsys, one_thread):
    assert main([*JOB, "--out", str(tmp_path / "reference")]) == 0
    (reference_run,) = (tmp_path / "reference").iterdir()
    weights, validation = outcome(reference_run)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(2026)
    moments = {"before the first checkpoint": 0, "mid-training": 0, "after training": 0}
    for attempt in range(KILLS):
        out = tmp_path / f"killed{attempt}"
        process = subprocess.Popen(
            [sys.executable, "-m", "cnnlab", *JOB, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        target = rng.randint(0, STEPS + 8)  # past STEPS: while the report is written
        deadline = time.monotonic() + 120
        while process.poll() is None and not reached(out, target):
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        (run,) = out.iterdir()
        last = run / "checkpoints" / "last.safetensors"
        if (run / "metrics.json").exists():
            moments["after training"] += 1
        elif last.exists():
            moments["mid-training"] += 1
        else:
            moments["before the first checkpoint"] += 1
        assert main(["train", "--resume", str(run), "--quiet"]) == 0, capsys.readouterr().err
        resumed_weights, resumed_validation = outcome(run)
        for key, value in weights.items():
            assert torch.equal(value, resumed_weights[key]), (attempt, key)
        assert resumed_validation == validation
        assert not list(run.rglob(".*.tmp"))
    print(f"crash test: {KILLS} kills {moments}, outputs lost: 0")
    assert moments["mid-training"] >= KILLS // 2
