"""What a fit prints, as a callback.

In a terminal: a fresh tqdm bar per epoch (images/s, running loss, ETA) that rewrites one
line, and one summary line per epoch that stays. Where stderr is not a terminal (a log file,
CI) the bar turns itself off (tqdm's ``disable=None``), so logs get the summary lines only.
In a Jupyter notebook: one bar for the whole fit (a widget when ipywidgets is installed, a
text bar otherwise, without tqdm's warning about it), the epoch lines printed below it. The
trainer reads the loss back at least once a second, so the bar's loss stays live.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

from tqdm.std import tqdm as text_tqdm

from cnnlab.train.callbacks import Callback
from cnnlab.train.metrics import higher_is_better

if TYPE_CHECKING:
    from cnnlab.train.trainer import Trainer

HIDDEN_PREFIXES = ("macro_", "val_macro_", "top", "val_top", "mean_", "val_mean_")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def notebook_bar_class():
    """tqdm's widget bar when ipywidgets is installed, else the text bar."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as widget_tqdm  # imports ipywidgets: only in notebooks

        return widget_tqdm
    return text_tqdm


class ProgressBar(Callback):
    """Progress of a fit on the main process.

    Args:
        bar: show a bar (counted in samples, so its rate reads as images/s).
        lines: print one summary line per epoch.
        notebook: one bar for the whole fit, as in a notebook (default: detected).
    """

    def __init__(self, bar: bool = True, lines: bool = True, notebook: bool | None = None):
        self.show_bar, self.lines = bar, lines
        self.notebook = in_notebook() if notebook is None else notebook
        self.bar: text_tqdm | None = None

    def _samples_done(self, trainer: Trainer) -> int:
        in_epoch = min(trainer.step_in_epoch * trainer.config.batch_size, trainer.num_train_samples)
        return in_epoch + (trainer.epoch * trainer.num_train_samples if self.notebook else 0)

    def _open(self, trainer: Trainer, total: int, leave: bool) -> None:
        kind = notebook_bar_class() if self.notebook else text_tqdm
        self.bar = kind(
            total=total,
            initial=self._samples_done(trainer),
            desc=f"epoch {trainer.epoch + 1}/{trainer.config.epochs}",
            unit="img",
            unit_scale=True,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stderr,
            disable=False if self.notebook else None,
        )

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.show_bar and self.notebook and trainer.world.is_main:
            self._open(trainer, trainer.config.epochs * trainer.num_train_samples, leave=True)

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if not (self.show_bar and trainer.world.is_main):
            return
        if self.notebook and self.bar is not None:
            self.bar.set_description(f"epoch {epoch + 1}/{trainer.config.epochs}")
        elif not self.notebook:
            self._open(trainer, trainer.num_train_samples, leave=False)

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        if self.bar is not None:
            self.bar.update(self._samples_done(trainer) - self.bar.n)

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=self.notebook)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if self.bar is not None and not self.notebook:
            self.bar.close()
            self.bar = None
        if self.lines and trainer.world.is_main:
            line = epoch_line(row, trainer.config.epochs, trainer.num_train_samples)
            if self.notebook:
                print(line, flush=True)  # below the bar, which stays
            else:
                text_tqdm.write(line)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _format(name: str, value: float) -> str:
    if name == "lr":
        return f"{name} {value:.2e}"
    return f"{name} {value:.2%}" if higher_is_better(name) else f"{name} {value:.4f}"


def epoch_line(row: dict[str, float], epochs: int, samples: int) -> str:
    """``epoch 3/10  loss 0.1234  accuracy 96.51%  val_loss ...  lr 1.00e-03  4.1s 1,950 img/s``."""
    shown = [
        _format(k, v)
        for k, v in row.items()
        if k not in ("epoch", "time") and not k.startswith(HIDDEN_PREFIXES)
    ]
    seconds = row["time"]
    rate = samples / seconds if seconds > 0 else float("inf")
    return (
        f"epoch {int(row['epoch'])}/{epochs}  "
        + "  ".join(shown)
        + (f"  {seconds:.1f}s {rate:,.0f} img/s")
    )
