"""What a fit prints: per-epoch bars and lines in a terminal, one bar per fit in a notebook
with the epoch lines kept, a loss that stays live on slow steps, and no warning when
ipywidgets is absent."""

import time
import warnings

import pytest
import torch
from torch import nn

import cnnlab.train.progress as progress
from cnnlab.train import Callback, Trainer
from cnnlab.train.progress import ProgressBar


def tiny_data(n: int = 96):
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=generator)
    return x, torch.randint(0, 3, (n,), generator=generator)


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))


class Syncs(Callback):
    """Counts loss reads; sleeps after each step to make steps slow."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause, self.count = pause, 0

    def on_train_batch_end(self, trainer, batch):
        time.sleep(self.pause)

    def on_sync(self, trainer, loss):
        self.count += 1


def test_slow_steps_still_read_the_loss_every_second():
    syncs = Syncs(pause=0.35)
    trainer = Trainer(tiny_model(), epochs=1, batch_size=16, verbose=0, sync_every=1000)
    trainer.callbacks.append(syncs)
    trainer.fit(tiny_data())  # 6 steps of ~0.35 s: first step, then at least once a second
    assert syncs.count >= 3


def test_a_notebook_gets_one_bar_and_every_epoch_line(capsys, monkeypatch):
    monkeypatch.setattr(progress, "notebook_bar_class", lambda: progress.text_tqdm)
    bar = ProgressBar(notebook=True)
    trainer = Trainer(tiny_model(), epochs=3, batch_size=16, verbose=0)
    trainer.callbacks.append(bar)
    trainer.fit(tiny_data())
    captured = capsys.readouterr()
    assert [line[:10] for line in captured.out.splitlines()] == [
        "epoch 1/3 ",
        "epoch 2/3 ",
        "epoch 3/3 ",
    ]
    assert "288/288" in captured.err and "loss=" in captured.err  # 3 x 96 samples, one bar
    assert bar.bar is None  # closed at the end of the fit


def test_no_warning_without_ipywidgets(monkeypatch):
    real = progress.importlib.util.find_spec
    monkeypatch.setattr(
        progress.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real(name, *a),
    )
    assert progress.notebook_bar_class() is progress.text_tqdm
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = Trainer(tiny_model(), epochs=1, batch_size=32, verbose=0)
        trainer.callbacks.append(ProgressBar(notebook=True))
        trainer.fit(tiny_data())


@pytest.mark.parametrize("notebook", [False, True])
def test_a_plain_pipe_gets_the_lines(capfd, notebook, monkeypatch):
    monkeypatch.setattr(progress, "notebook_bar_class", lambda: progress.text_tqdm)
    trainer = Trainer(tiny_model(), epochs=2, batch_size=32, verbose=0)
    trainer.callbacks.append(ProgressBar(notebook=notebook))
    trainer.fit(tiny_data())
    out = capfd.readouterr().out
    assert out.count("epoch ") == 2 and "img/s" in out
