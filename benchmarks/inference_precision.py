"""What bfloat16 inference costs and buys on a trained run: its validation data evaluated in
float32 and in bfloat16 autocast (accuracy or Dice, and how many predictions change), and the
prediction throughput of both (median of ``--repeats`` alternating timed passes).

    python benchmarks/inference_precision.py RUN_DIR [--batch-size 256] [--repeats 7]

The numbers quoted in docs/training.md ("How fast, and why") come from this script, on a
LeNet-5 trained on MNIST ``test[:8000]`` (validation ``test[8000:]``) and a U-Net trained on
ISBI 2012 (validation: the 6 held-out slices).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from cnnlab.runs import load_run
from cnnlab.runs.job import evaluation_data
from cnnlab.train import TrainConfig, Trainer

PRECISIONS = ("fp32", "bf16")
SHOWN = ("loss", "accuracy", "pixel_accuracy", "iou", "dice")


def measure(run_dir: str, batch_size: int, repeats: int, data_dir: str | None) -> dict:
    run = load_run(run_dir)
    data, split = evaluation_data(run.config, None, data_dir, False, source=run.layout.config)
    config = TrainConfig.from_json(run.config["train"])
    trainers = {
        p: Trainer(
            run.model,
            config,
            input_spec=run.input_spec,
            verbose=0,
            eval_batch_size=batch_size,
            eval_precision=p,
        )
        for p in PRECISIONS
    }
    result: dict = {"run": str(run_dir), "split": split, "samples": len(data), "batch": batch_size}
    classes = {}
    for precision, trainer in trainers.items():
        evaluation = trainer.evaluate(data)
        result[precision] = {k: evaluation[k] for k in SHOWN if k in evaluation}
        classes[precision] = trainer.predict(data).classes
    changed = (classes["fp32"] != classes["bf16"]).sum().item()
    result["changed_predictions"] = int(changed)
    result["predictions"] = classes["fp32"].numel()
    timings: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    inputs = data.tensors()[0]
    for trainer in trainers.values():  # warm-up: every batch shape once
        trainer.predict(inputs[: 2 * batch_size + len(inputs) % batch_size])
    for round_ in range(repeats):
        order = PRECISIONS if round_ % 2 == 0 else PRECISIONS[::-1]
        for precision in order:
            start = time.perf_counter()
            trainers[precision].predict(inputs)
            timings[precision].append(len(inputs) / (time.perf_counter() - start))
    for precision, rates in timings.items():
        result[precision]["images_per_s"] = statistics.median(rates)
        result[precision]["images_per_s_runs"] = [round(r, 1) for r in rates]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data-dir", default=None, help="default: $CNNLAB_DATA_DIR")
    args = parser.parse_args()
    torch.manual_seed(0)
    result = measure(args.run_dir, args.batch_size, args.repeats, args.data_dir)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
