"""Training-step time across the model zoo in float32 / bfloat16 x NCHW / channels_last: the
measurements behind the trainer's ``auto`` precision and memory format (``cnnlab.train.
execution``; summary in ``benchmarks/PROFILE.md``).

Per model, the four variants live in ONE process and are timed in interleaved rounds (this
VM's speed drifts by up to 1.5x over tens of seconds, so variants timed minutes apart are not
comparable); each round times ``steps`` training steps (forward, cross-entropy, backward,
fused Adam) on a fixed random batch; the median round is reported.

Run: ``.venv/bin/python benchmarks/profile_zoo.py [--models lenet5 unet] [--rounds 5]``;
results in ``benchmarks/results/profile_zoo.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from report import RESULTS
from torch import nn

from cnnlab.models import create_model
from cnnlab.train.execution import native_bf16

# name: (builder kwargs, input C x H x W, batch, steps per round, segmentation)
ZOO = {
    "lenet5": ({"image_size": 28}, (1, 28, 28), 128, 20, False),
    "mnist-cnn": ({}, (1, 28, 28), 128, 20, False),
    "resnet20": ({}, (3, 32, 32), 128, 4, False),
    "resnet56": ({}, (3, 32, 32), 128, 2, False),
    "resnet18": ({"num_classes": 10}, (3, 112, 112), 32, 1, False),
    "googlenet": ({"num_classes": 10}, (3, 96, 96), 32, 1, False),
    "unet": ({"padding": "same", "base_width": 32, "image_size": 256}, (1, 256, 256), 4, 1, True),
}
VARIANTS = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))


def step_function(name: str, precision: str, channels_last: bool) -> Callable[[], None]:
    kwargs, shape, batch, _, segmentation = ZOO[name]
    torch.manual_seed(0)
    model = create_model(name, **kwargs).train()
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    x = torch.rand(batch, *shape).contiguous(memory_format=memory)
    classes = 2 if segmentation else 10
    y = torch.randint(0, classes, (batch, *shape[1:]) if segmentation else (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def profile_model(name: str, rounds: int) -> dict:
    steps = ZOO[name][3]
    functions = {f"{p}{'+cl' if cl else ''}": step_function(name, p, cl) for p, cl in VARIANTS}
    for function in functions.values():  # warm-up: oneDNN builds its kernels
        for _ in range(max(2, steps // 4)):
            function()
    seconds: dict[str, list[float]] = {label: [] for label in functions}
    for _ in range(rounds):
        for label, function in functions.items():
            start = time.perf_counter()
            for _ in range(steps):
                function()
            seconds[label].append((time.perf_counter() - start) / steps)
    base = statistics.median(seconds["fp32"])
    out = {}
    for label, values in seconds.items():
        median = statistics.median(values)
        out[label] = {"ms_per_step": 1e3 * median, "speedup_vs_fp32_nchw": base / median}
    cells = "  ".join(
        f"{k} {v['ms_per_step']:8.2f} ms ({v['speedup_vs_fp32_nchw']:.2f}x)" for k, v in out.items()
    )
    print(f"{name:<10} batch {ZOO[name][2]:>3}  {cells}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(ZOO), choices=list(ZOO))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    capabilities = torch.cpu.get_capabilities()
    report = {
        "torch": torch.__version__,
        "cpu": capabilities.get("cpu_name"),
        "native_bf16": native_bf16(torch.device("cpu")),
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "models": {name: profile_model(name, args.rounds) for name in args.models},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "profile_zoo.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Written: {path}")


if __name__ == "__main__":
    main()
