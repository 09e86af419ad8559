"""Time to accuracy of ``cnnlab train`` on real MNIST: the measurements behind the recipes.

Each command is the real entry point in a fresh process, trained on ``test[:8000]`` and
validated on ``test[8000:]`` (``$CNNLAB_DATA_DIR`` must hold mnist/). The rounds interleave
the commands (this VM's speed drifts over tens of seconds); per command the median and the
range over rounds are printed: final validation accuracy, training wall time (the sum of the
history's per-epoch ``time``: training steps and validation, not start-up), and the wall time
at the end of the first epoch that reached 99.0% and 99.5%.

Run: ``.venv/bin/python benchmarks/time_to_accuracy.py [--rounds 3] [--only fastcnn]``;
results in ``benchmarks/results/time_to_accuracy[-ONLY].json``. ``--threads 1`` sets
``OMP_NUM_THREADS`` for the children (a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import statistics

from report import RESULTS
from time_budget import SPLITS, run_cnnlab, seconds_to

COMMANDS = {
    "lenet5 (card recipe)": f"lenet5 {SPLITS}",
    "mnist-cnn (card recipe)": f"mnist-cnn {SPLITS}",
    "lenet5 --recipe plain": f"lenet5 {SPLITS} --recipe plain",
    "mnist-cnn --recipe plain": f"mnist-cnn {SPLITS} --recipe plain",
    "fastcnn --recipe digits-fast": f"fastcnn {SPLITS} --recipe digits-fast",
    "fastcnn digits-fast x12 shift": f"fastcnn {SPLITS} --recipe digits-fast --epochs 12 "
    "--augment shift",
}


def run_once(args: str, threads: int | None) -> dict:
    """Train once to the end; the final and best accuracy, training seconds, time to levels."""
    epochs = run_cnnlab(args, threads=threads)
    reached = {f"seconds_to_{level}": seconds_to(epochs, level) for level in (0.99, 0.995)}
    return {
        "accuracy": epochs[-1][0],
        "best": max(a for a, _ in epochs),
        "seconds": sum(s for _, s in epochs),
        **reached,
    }


def summary(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    missed = len(values) - len(known)
    low, mid, high = min(known), statistics.median(known), max(known)
    text = f"{mid:.4g} ({low:.4g}-{high:.4g})"
    return text + (f" [{missed} missed]" if missed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="Commands whose label contains this.")
    parser.add_argument("--threads", type=int, default=None)
    options = parser.parse_args()
    chosen = {k: v for k, v in COMMANDS.items() if options.only in k}
    results: dict[str, list[dict]] = {k: [] for k in chosen}
    for _ in range(options.rounds):
        for label, args in chosen.items():
            results[label].append(run_once(args, options.threads))
            print(label, json.dumps(results[label][-1]), flush=True)
    print(f"\n{'command':<30} {'val accuracy':<26} {'train s':<22} {'s to 99.0%':<22} s to 99.5%")
    for label, runs in results.items():
        cells = [summary([r[k] for r in runs]) for k in ("accuracy", "seconds")]
        cells += [summary([r[f"seconds_to_{v}"] for r in runs]) for v in (0.99, 0.995)]
        print(f"{label:<30} {cells[0]:<26} {cells[1]:<22} {cells[2]:<22} {cells[3]}")
    record = {"commands": {k: COMMANDS[k] for k in chosen}, "threads": options.threads}
    tag = "-" + "".join(c if c.isalnum() else "-" for c in options.only) if options.only else ""
    path = RESULTS / f"time_to_accuracy{tag}.json"
    path.write_text(json.dumps(record | {"runs": results}, indent=1))


if __name__ == "__main__":
    main()
