"""Training as users run it, in real processes: killed with SIGKILL and resumed, run by
torchrun on two processes, and LeNet-5 on real MNIST digits."""

import json
import os
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

DIGITS = ["lenet5", "--dataset", "digits", "--quiet", "--seed", "1"]


def cnnlab(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cnnlab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        **kwargs,
    )


def only_run(folder: Path) -> Path:
    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    return run


def without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def final_state(run: Path) -> tuple[dict, dict]:
    tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    weights = {k: v for k, v in tensors.items() if k.startswith("model.")}
    return weights, json.loads((run / "metrics.json").read_text())


def test_sigkill_mid_epoch_then_resume_gives_the_same_run(tmp_path):
    settings = ["--epochs", "4", "--batch-size", "16", "--checkpoint-every", "9"]
    reference = cnnlab("train", *DIGITS, *settings, "--out", str(tmp_path / "a"))
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "b"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "train", *DIGITS, *settings, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    killed_at = None
    while time.monotonic() < deadline and process.poll() is None:
        checkpoints = list(out.glob("*/checkpoints/last.safetensors"))
        if checkpoints:
            try:
                _, meta = load_checkpoint(checkpoints[0])
            except CnnlabError:  # replaced while we read it: look again
                continue
            if meta["global_step"] >= 100 and meta["step"] > 0:
                process.send_signal(signal.SIGKILL)
                killed_at = (meta["epoch"], meta["step"])
                break
        time.sleep(0.005)
    process.wait()
    assert killed_at is not None, "the run ended before it could be killed mid-epoch"
    run = only_run(out)
    assert not (run / "metrics.json").exists()

    resumed = cnnlab("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    weights_a, metrics_a = final_state(only_run(tmp_path / "a"))
    weights_b, metrics_b = final_state(run)
    for key, value in weights_a.items():
        assert torch.equal(value, weights_b[key]), key
    assert metrics_a["validation"] == metrics_b["validation"]
    assert without_time([metrics_a["final"]]) == without_time([metrics_b["final"]])


@pytest.mark.parametrize("batch", [64, 479])
def test_two_process_ddp_matches_one_process(tmp_path, batch):
    """Same global batch (64): 2 x 32 under DDP vs 64 in one process. In float32, sums differ
    only in order, so weights agree to 1e-5 (bfloat16 autocast would round each process's
    partial gradients to 8 bits, so the comparison is made in float32). With 479, the 1,438
    training digits end in a batch of one sample: the second process's share is empty."""
    common = [*DIGITS, "--epochs", "2", "--batch-size", str(batch), "--deterministic"]
    common += ["--precision", "fp32"]
    single = cnnlab("train", *common, "--out", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    double = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node=2",
            "--master_port",
            "29613",
            "-m",
            "cnnlab",
            "train",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    assert double.stdout.count("run written to") == 1  # rank 0 alone reports and writes
    assert len(list((tmp_path / "two").iterdir())) == 1
    weights_1, metrics_1 = final_state(only_run(tmp_path / "one"))
    weights_2, metrics_2 = final_state(only_run(tmp_path / "two"))
    for key, value in weights_1.items():
        torch.testing.assert_close(weights_2[key], value, rtol=0, atol=1e-5)
    assert metrics_2["validation"]["accuracy"] == pytest.approx(
        metrics_1["validation"]["accuracy"], abs=1e-3
    )


def test_lenet5_reaches_98_percent_on_real_mnist(tmp_path, capsys):
    data = os.environ.get("CNNLAB_DATA_DIR")
    if not data or not (Path(data) / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("real MNIST absent: set CNNLAB_DATA_DIR to a folder with mnist/t10k-*")
    code = main(
        [
            "train",
            "lenet5",
            "--dataset",
            "mnist",
            "--train-split",
            "test[:8000]",
            "--val-split",
            "test[8000:]",
            "--epochs",
            "15",
            "--schedule",
            "one-cycle",
            "--lr",
            "0.003",
            "--augment",
            "shift-rotate",
            "--quiet",
            "--out",
            str(tmp_path),
            "--no-download",
        ]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((only_run(tmp_path) / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.98
