"""One writer per run directory, a clean stop on SIGTERM and SIGINT that resumes exactly, and
a full disk that names the file it was writing."""

import errno
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.cli.main import main
from cnnlab.data import load
from cnnlab.errors import CnnlabError
from cnnlab.files import write_bytes
from cnnlab.models import create_model
from cnnlab.runs import RunRecorder
from cnnlab.runs.checkpoint import load_checkpoint
from cnnlab.train import Callback, Trainer

JOB = ["train", "lenet5", "--dataset", "digits", "--train-split", "train[:480]",
       "--val-split", "test[:96]", "--epochs", "3", "--batch-size", "16", "--seed", "5",
       "--quiet", "--precision", "fp32"]  # fmt: skip


class SecondWriter(Callback):
    """At the first step, tries to write the same run from a second trainer."""

    def __init__(self, folder: Path, data) -> None:
        self.folder, self.data, self.error = folder, data, None

    def on_train_batch_end(self, trainer, batch):
        if trainer.global_step == 1:
            other = Trainer(create_model("lenet5"), epochs=1, verbose=0)
            other.callbacks.append(RunRecorder(self.folder))
            with pytest.raises(CnnlabError) as info:
                other.fit(*self.data)
            self.error = str(info.value)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    data = load("digits", "train[:128]"), load("digits", "test[:32]")
    second = SecondWriter(tmp_path / "run", data)
    trainer = Trainer(create_model("lenet5"), epochs=1, verbose=0, callbacks=[second])
    trainer.callbacks.append(RunRecorder(tmp_path / "run"))
    trainer.fit(*data)
    assert "is being written by pid" in second.error and "\n" not in second.error
    assert (tmp_path / "run" / "report.html").exists()  # the first writer finished whole
    # released at the end (and on errors): the folder can be written again
    Trainer(
        create_model("lenet5"), epochs=1, verbose=0, callbacks=[RunRecorder(tmp_path / "run")]
    ).fit(*data)


def test_the_lock_is_released_when_a_fit_fails(tmp_path):
    class Boom(Callback):
        def on_train_batch_end(self, trainer, batch):
            raise RuntimeError("boom")

    data = load("digits", "train[:64]")
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(
            create_model("lenet5"), epochs=1, verbose=0, callbacks=[Boom(), RunRecorder(tmp_path)]
        ).fit(data)
    Trainer(create_model("lenet5"), epochs=1, verbose=0, callbacks=[RunRecorder(tmp_path)]).fit(
        data
    )


def last_step(out: Path) -> int:
    try:
        (run,) = out.iterdir()
        return load_checkpoint(run / "checkpoints" / "last.safetensors")[1]["global_step"]
    except (ValueError, CnnlabError, FileNotFoundError):
        return -1


def weights(run: Path) -> dict[str, torch.Tensor]:
    tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


@pytest.fixture
def one_thread(monkeypatch):
    """Killed processes run with one thread; float sums depend on the thread count, so the
    in-process reference and resume use one too."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_run_and_resume_is_exact(tmp_path, capsys, one_thread, sig):
    assert main([*JOB, "--out", str(tmp_path / "whole")]) == 0
    (whole,) = (tmp_path / "whole").iterdir()
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "cnnlab", *JOB, "--out", str(out), "--checkpoint-every", "10"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while last_step(out) < 10 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 2
    assert err.startswith(f"error: stopped by {sig.name} at epoch ") and err.count("\n") == 1, err
    (run,) = out.iterdir()
    stopped_at = last_step(out)
    assert stopped_at > 10  # the step it stopped after, not only the last periodic one
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    for key, value in weights(whole).items():
        assert torch.equal(value, weights(run)[key]), key
    capsys.readouterr()


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(OSError) as info:
        write_bytes(tmp_path / "metrics.json", b"{}")
    assert info.value.filename == str(tmp_path / "metrics.json")
    assert info.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())  # nothing half-written
