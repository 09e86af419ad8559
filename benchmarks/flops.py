"""Achieved GFLOP/s beside the machine's matmul peak: how far each workload is from the limit.

FLOPs come from cnnlab's own count (:func:`cnnlab.summary.summarize`: multiply-accumulates of
convolutions and matrix products, one forward pass of one sample). Convention: a MAC is 2 FLOPs,
so inference costs 2 x MACs per image; a training step about 3 times a forward pass (the
backward pass computes the gradients of the inputs and of the weights, each costing about as
much as the forward: Kaplan et al. 2020, "Scaling laws for neural language models", sec. 2.1),
so training costs 6 x MACs per image. Pooling, activations, normalization and the optimizer
are not counted, which flatters no one: they cost time and add no FLOPs.

The peak is ``torch.mm`` of large square matrices on all torch threads, best of a few
repetitions, in float32 and bfloat16: what this CPU's matrix units deliver to PyTorch.
"""

from __future__ import annotations

import time

import torch

TRAIN_FLOPS_PER_MAC = 6  # 2 FLOPs per MAC x (forward + backward ~ 3 x forward)
INFER_FLOPS_PER_MAC = 2


def matmul_peak(sizes: tuple[int, ...] = (1024, 2048), repeats: int = 5) -> dict:
    """GFLOP/s of ``torch.mm`` on two n x n matrices (2 n^3 FLOPs) in float32 and bfloat16:
    per dtype the best over ``sizes`` and ``repeats`` timed calls after one warm-up each."""
    peak: dict = {"sizes": list(sizes), "repeats": repeats, "threads": torch.get_num_threads()}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        best = 0.0
        for n in sizes:
            a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
            torch.mm(a, b)
            for _ in range(repeats):
                start = time.perf_counter()
                torch.mm(a, b)
                best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
        peak[name] = best
    return peak


def macs_per_sample(model: str, model_kwargs: dict, input_size: tuple[int, ...]) -> int:
    """cnnlab's count of one sample's forward multiply-accumulates."""
    from cnnlab.models import create_model
    from cnnlab.summary import summarize

    return summarize(create_model(model, **model_kwargs), input_size).total_macs


def gflops(images_per_s: float, macs: int, flops_per_mac: int) -> float:
    return images_per_s * macs * flops_per_mac / 1e9


def achieved(result: dict, macs: int) -> dict[str, dict[str, float | None]]:
    """Per framework of a workload's result: training and inference GFLOP/s (medians)."""
    table = {}
    for fw, infer in result["infer"].items():
        train = result["train"].get(fw)
        table[fw] = {
            "train_gflops": gflops(train["median_images_per_s"], macs, TRAIN_FLOPS_PER_MAC)
            if train
            else None,
            "infer_gflops": gflops(infer["median_images_per_s"], macs, INFER_FLOPS_PER_MAC),
        }
    return table


def share(value: float | None, peak: dict) -> str:
    """GFLOP/s and its share of the fp32 and of the bf16 peak."""
    if value is None:
        return "-"
    return f"{value:,.1f} ({value / peak['fp32']:.1%} / {value / peak['bf16']:.1%})"


def markdown_lines(report: dict) -> list[str]:
    """The section: the peak, then per workload and framework the achieved GFLOP/s."""
    peak = report.get("matmul_peak")
    if not peak:
        return []
    lines = [
        "## Achieved GFLOP/s vs the machine's matmul peak",
        "",
        f"Peak: `torch.mm` of n x n matrices (n in {peak['sizes']}) on {peak['threads']} "
        f"threads, best of {peak['repeats']} calls each: **fp32 {peak['fp32']:,.1f} GFLOP/s, "
        f"bf16 {peak['bf16']:,.1f} GFLOP/s**. FLOPs per image from cnnlab's MAC count "
        "(`cnnlab.summary`, convolutions and matrix products): inference 2 x MACs, training "
        "6 x MACs (forward + backward ~ 3 x forward). Each cell: GFLOP/s at the median img/s "
        "(share of the fp32 peak / of the bf16 peak).",
        "",
        "| workload | MACs per image | framework | training GFLOP/s | inference GFLOP/s |",
        "|---|---:|---|---:|---:|",
    ]
    for name, result in report["workloads"].items():
        macs = result.get("macs_per_sample")
        if macs is None:
            continue
        for fw, row in achieved(result, macs).items():
            lines.append(
                f"| {name} | {macs:,} | {fw} | {share(row['train_gflops'], peak)} "
                f"| {share(row['infer_gflops'], peak)} |"
            )
    return [*lines, ""]
