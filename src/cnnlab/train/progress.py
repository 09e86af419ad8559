"""What a fit prints: a fresh tqdm bar per epoch (images/s, running loss, ETA) that rewrites
one line in terminals and notebooks, and one summary line per epoch that stays. Where stderr
is not a terminal (a log file, CI) the bar turns itself off (tqdm's ``disable=None``), so logs
get the summary lines only."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class EpochProgress:
    """The bar of one epoch, counted in samples so its rate reads as images per second."""

    def __init__(self, epoch: int, epochs: int, total: int, done: int, enabled: bool) -> None:
        self.bar = (
            tqdm(
                total=total,
                initial=done,
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="img",
                unit_scale=True,
                leave=False,
                dynamic_ncols=True,
                file=sys.stderr,
                disable=None,
            )
            if enabled
            else None
        )

    def update(self, samples: int) -> None:
        if self.bar is not None:
            self.bar.update(samples)

    def show_loss(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _format(name: str, value: float) -> str:
    if name in ("lr",):
        return f"{name} {value:.2e}"
    is_rate = any(w in name for w in ("accuracy", "precision", "recall", "f1", "iou", "dice"))
    return f"{name} {value:.2%}" if is_rate else f"{name} {value:.4f}"


def epoch_line(row: dict[str, float], epochs: int, samples: int) -> str:
    """``epoch 3/10  loss 0.1234  accuracy 96.51%  val_loss ...  lr 1.00e-03  4.1s 1,950 img/s``."""
    shown = [
        _format(k, v)
        for k, v in row.items()
        if k not in ("epoch", "time")
        and not k.startswith(("macro_", "val_macro_", "top", "val_top", "mean_", "val_mean_"))
    ]
    seconds = row["time"]
    rate = samples / seconds if seconds > 0 else float("inf")
    return (
        f"epoch {int(row['epoch'])}/{epochs}  "
        + "  ".join(shown)
        + (f"  {seconds:.1f}s {rate:,.0f} img/s")
    )
