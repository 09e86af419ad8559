"""What a fit prints, as a callback: a fresh tqdm bar per epoch (images/s, running loss, ETA)
that rewrites one line in terminals and notebooks, and one summary line per epoch that stays.
Where stderr is not a terminal (a log file, CI) the bar turns itself off (tqdm's
``disable=None``), so logs get the summary lines only."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from cnnlab.train.callbacks import Callback
from cnnlab.train.metrics import higher_is_better

if TYPE_CHECKING:
    from cnnlab.train.trainer import Trainer

HIDDEN_PREFIXES = ("macro_", "val_macro_", "top", "val_top", "mean_", "val_mean_")


class ProgressBar(Callback):
    """Progress of a fit on the main process.

    Args:
        bar: show a bar per epoch (counted in samples, so its rate reads as images/s).
        lines: print one summary line per epoch.
    """

    def __init__(self, bar: bool = True, lines: bool = True) -> None:
        self.show_bar, self.lines = bar, lines
        self.bar: tqdm | None = None

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        if not (self.show_bar and trainer.world.is_main):
            return
        self.bar = tqdm(
            total=trainer.num_train_samples,
            initial=self._done(trainer),
            desc=f"epoch {epoch + 1}/{trainer.config.epochs}",
            unit="img",
            unit_scale=True,
            leave=False,
            dynamic_ncols=True,
            file=sys.stderr,
            disable=None,
        )

    @staticmethod
    def _done(trainer: Trainer) -> int:
        return min(trainer.step_in_epoch * trainer.config.batch_size, trainer.num_train_samples)

    def on_train_batch_end(self, trainer: Trainer, batch: int) -> None:
        if self.bar is not None:
            self.bar.update(self._done(trainer) - self.bar.n)

    def on_sync(self, trainer: Trainer, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.lines and trainer.world.is_main:
            tqdm.write(epoch_line(row, trainer.config.epochs, trainer.num_train_samples))


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
