"""Where a U-Net training step spends its time, down to each convolution's three passes: the
measurements behind section 4 of ``benchmarks/PROFILE.md``.

1. ``operators``: ``torch.profiler`` over training steps as ``fit`` runs them on this CPU
   (bf16 autocast, channels_last, fused Adam), grouped into convolution forward, convolution
   backward, dtype casts, ReLU, the rest.
2. ``convolutions``: for every distinct 3x3 convolution shape of the model, the forward, the
   input gradient and the weight gradient timed on their own (``aten.convolution_backward``
   with one output mask at a time), with the GFLOP/s each reaches.
3. ``up_convolutions``: the 2x2 stride-2 transposed convolution as ``nn.ConvTranspose2d``
   against the same map written as a 1x1 convolution to 4x the channels and
   ``pixel_shuffle`` (exact, because kernel = stride: the 2x2 output patches do not
   overlap), forward + backward, bf16 and float32.

Variants are interleaved within one process and the median round is kept (this VM's speed
drifts by up to 1.5x over tens of seconds).

Run: ``.venv/bin/python benchmarks/profile_unet.py [--width 64] [--rounds 5]``; results in
``benchmarks/results/profile_unet.json``.
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
from torch.nn import functional as F

from cnnlab.models.unet import UNet

SIDE, BATCH = 256, 4
CL = torch.channels_last


def median_ms(functions: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median milliseconds per call of each function, timed in interleaved rounds."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {label: [] for label in functions}
    for _ in range(rounds):
        for label, function in functions.items():
            start = time.perf_counter()
            function()
            times[label].append(1e3 * (time.perf_counter() - start))
    return {label: statistics.median(values) for label, values in times.items()}


def training_step(width: int) -> Callable[[], None]:
    torch.manual_seed(0)
    model = UNet(base_width=width, padding="same", image_size=SIDE).to(memory_format=CL)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, fused=True)
    x = torch.rand(BATCH, 1, SIDE, SIDE).to(memory_format=CL)
    y = torch.randint(0, 2, (BATCH, SIDE, SIDE))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def category(op: str) -> str:
    if op.startswith("aten::convolution_backward") or "ConvolutionBackward" in op:
        return "convolution backward"
    if op in ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution"):
        return "convolution forward"
    if op in ("aten::copy_", "aten::_to_copy", "aten::to"):
        return "dtype casts and layout copies"
    if op in ("aten::clamp_min", "aten::relu", "aten::threshold_backward") or "Relu" in op:
        return "ReLU forward and backward"
    if "fused_adam" in op or op.startswith("Optimizer"):
        return "fused Adam step"
    return "the rest (concatenation, gradient sums, max pooling, loss, allocation)"


def operators(width: int, steps: int) -> dict:
    step = training_step(width)
    for _ in range(2):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - start
    shares: dict[str, float] = {}
    averages = profile.key_averages()
    total = sum(event.self_cpu_time_total for event in averages)
    for event in averages:
        key = category(event.key)
        shares[key] = shares.get(key, 0.0) + 100 * event.self_cpu_time_total / total
    print(f"\none training step of U-Net width {width}: {1e3 * wall / steps:.0f} ms (profiled)")
    for key, share in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {key:<72} {share:5.1f}%")
    return {"step_ms_profiled": 1e3 * wall / steps, "percent": shares}


def conv_shapes(width: int) -> list[tuple[int, int, int]]:
    """(in channels, out channels, side) of every distinct 3x3 convolution of the U-Net."""
    model = UNet(base_width=width, padding="same", image_size=SIDE)
    shapes: list[tuple[int, int, int]] = []

    def record(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
        shape = (module.in_channels, module.out_channels, inputs[0].shape[-1])
        if module.kernel_size == (3, 3) and shape not in shapes:
            shapes.append(shape)

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(record)
    with torch.no_grad():
        model(torch.zeros(1, 1, SIDE, SIDE))
    return shapes


def convolutions(width: int, rounds: int) -> list[dict]:
    rows = []
    print(f"\n3x3 convolutions, batch {BATCH}, bf16 channels_last: ms (GFLOP/s)")
    for cin, cout, side in conv_shapes(width):
        x = torch.randn(BATCH, cin, side, side).bfloat16().to(memory_format=CL)
        w = torch.randn(cout, cin, 3, 3).bfloat16().to(memory_format=CL)
        g = torch.randn(BATCH, cout, side, side).bfloat16().to(memory_format=CL)

        def backward(mask: list[bool], x=x, w=w, g=g, cout=cout) -> object:
            return torch.ops.aten.convolution_backward(
                g, x, w, [cout], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask
            )

        passes = {
            "forward": lambda x=x, w=w: F.conv2d(x, w, None, 1, 1),
            "input_gradient": lambda backward=backward: backward([True, False, False]),
            "weight_gradient": lambda backward=backward: backward([False, True, True]),
        }
        if cin == 1:  # the image itself: autograd never asks for its gradient
            del passes["input_gradient"]
        ms = median_ms(passes, rounds)
        gflop = 2 * BATCH * side * side * cin * cout * 9 / 1e9
        row = {"in": cin, "out": cout, "side": side, "gflop": gflop, "ms": ms}
        rows.append(row)
        cells = "  ".join(f"{k} {v:6.1f} ({gflop / v * 1e3:4.0f})" for k, v in ms.items())
        print(f"  {cin:5d}->{cout:<5d} {side:4d}x{side:<4d} {cells}")
    return rows


def up_as_pixel_shuffle(x: torch.Tensor, up: nn.ConvTranspose2d) -> torch.Tensor:
    """``up(x)`` for kernel 2, stride 2: output pixel (2i + a, 2j + b) of channel o is
    ``sum_c x[c, i, j] * weight[c, o, a, b] + bias[o]``, a 1x1 convolution to 4 x out
    channels ordered (o, a, b), which ``pixel_shuffle`` lays out."""
    cin, cout = up.weight.shape[:2]
    weight = up.weight.permute(1, 2, 3, 0).reshape(4 * cout, cin, 1, 1)
    return F.pixel_shuffle(F.conv2d(x, weight, up.bias.repeat_interleave(4)), 2)


def up_convolutions(width: int, rounds: int) -> list[dict]:
    rows = []
    print("\n2x2 stride-2 up-convolutions, forward + backward: ms")
    for level in reversed(range(4)):
        cin, side = width * 2 ** (level + 1), SIDE // 2 ** (level + 1)
        up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2).to(memory_format=CL)
        x = torch.randn(BATCH, cin, side, side).to(memory_format=CL).requires_grad_()
        for precision in ("bf16", "fp32"):

            def run(f: Callable[[], torch.Tensor], precision=precision) -> Callable[[], None]:
                def go() -> None:
                    with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                        out = f()
                    out.backward(torch.ones_like(out))

                return go

            with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                error = (up(x).float() - up_as_pixel_shuffle(x, up).float()).abs().max().item()
            ms = median_ms(
                {
                    "conv_transpose2d": run(lambda up=up, x=x: up(x)),
                    "conv1x1_pixel_shuffle": run(lambda up=up, x=x: up_as_pixel_shuffle(x, up)),
                },
                rounds,
            )
            rows.append({"in": cin, "side": side, "precision": precision, "ms": ms, "error": error})
            print(
                f"  {cin:5d}->{cin // 2:<5d} {side:4d}x{side:<4d} {precision}: "
                + "  ".join(f"{k} {v:6.1f}" for k, v in ms.items())
                + f"  (max difference {error:.1e})"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    report = {
        "width": args.width,
        "batch": BATCH,
        "side": SIDE,
        "torch": torch.__version__,
        "operators": operators(args.width, args.steps),
        "convolutions": convolutions(args.width, args.rounds),
        "up_convolutions": up_convolutions(args.width, args.rounds),
    }
    path = RESULTS / "profile_unet.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
