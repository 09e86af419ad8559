"""``cnnlab explain``: the course notes' operations computed step by step on a small grid."""

from __future__ import annotations

import click
import numpy as np

from cnnlab import explain as E
from cnnlab.errors import CnnlabError
from cnnlab.shapes import parse_dims, parse_pair

VALUES_HELP = "The input grid: rows separated by ';', values by ',' or spaces; channels by '|'."
PADDING_HELP = "N, HxW, 'same' (Keras/TF) or 'valid'."


def _volume(values: str | None, input_shape: str, channels: int, seed: int) -> np.ndarray:
    """The input as C x H x W: parsed from --values, or small reproducible integers."""
    if values is not None:
        return E.parse_volume(values)
    h, w = parse_dims(input_shape, 2, "--input (H x W)")
    return E.default_volume((channels, h, w), seed)


def _padding(text: str):
    return parse_pair(text, "padding", minimum=0) if "x" in text.lower() else text


def _kernel(weights: str | None, size: str, channels: int, seed: int) -> np.ndarray:
    """One filter, C x k_h x k_w: parsed from --weights, or small integers in -1..1."""
    if weights is None:
        return E.default_volume((channels, *parse_pair(size, "kernel")), seed + 1, -1, 1)
    kernel = E.parse_volume(weights, "--weights")
    if kernel.shape[0] != channels:
        raise CnnlabError(
            f"--weights must hold one kernel per input channel (separate them with '|'). "
            f"Received {kernel.shape[0]} kernel(s) for {channels} channel(s)"
        )
    return kernel


def _options(*names: str, **defaults):
    """The options shared by the subcommands, by name, with per-command defaults."""
    table = {
        "input": click.option(
            "--input",
            "input_shape",
            default=defaults.get("input", "6x6"),
            show_default=True,
            help="Input size H x W (ignored when --values is given).",
        ),
        "values": click.option("--values", default=None, help=VALUES_HELP),
        "seed": click.option(
            "--seed", type=int, default=0, show_default=True, help="Seed of the default values."
        ),
        "kernel": click.option(
            "--kernel",
            default=defaults.get("kernel", "3"),
            show_default=True,
            help="Kernel size: N or HxW.",
        ),
        "stride": click.option(
            "--stride",
            default=defaults.get("stride", "1"),
            show_default=True,
            help="Stride: N or HxW.",
        ),
        "padding": click.option(
            "--padding", default=defaults.get("padding", "0"), show_default=True, help=PADDING_HELP
        ),
        "at": click.option(
            "--at",
            default="0,0",
            show_default=True,
            help="Output pixel row,col (from 0) whose window is shown.",
        ),
        "channels": click.option(
            "--channels",
            type=int,
            default=1,
            show_default=True,
            help="Input channels (default values only).",
        ),
        "weights": click.option(
            "--weights", default=None, help="Kernel values, same notation as --values."
        ),
        "bias": click.option("--bias", type=float, default=0.0, show_default=True),
    }

    def decorate(command):
        for name in reversed(names):
            command = table[name](command)
        return command

    return decorate


def _echo(lines: list[str]) -> None:
    click.echo("\n".join(lines))


@click.group()
def explain() -> None:
    """Show an operation of the notes step by step on a small grid.

    \b
    cnnlab explain conv --input 6x6 --kernel 3 --at 1,2
    cnnlab explain transposed --input 3x3 --kernel 3 --stride 2 --padding 1 --symbolic
    cnnlab explain pool --values "1,3,2,4;5,6,7,8;3,2,1,0;1,2,3,4" --kernel 2
    cnnlab explain global-pool --values "4,3,1,5;1,3,4,8;4,5,4,3;6,5,9,4"
    cnnlab explain dropout --p 0.5 --seed 1
    cnnlab explain batchnorm --values "1,2;3,6;5,10"
    cnnlab explain train-step --steps 5 --momentum 0.9
    cnnlab explain activations --depth 10
    """


@explain.command()
@_options(
    "input", "channels", "values", "seed", "kernel", "weights", "bias", "stride", "padding", "at"
)
@click.option("--dilation", default="1", show_default=True, help="Dilation: N or HxW.")
def conv(input_shape, channels, values, seed, kernel, weights, bias, stride, padding, at, dilation):
    """A convolution with one filter: padded input, window, products, sum + bias, output."""
    x = _volume(values, input_shape, channels, seed)
    w = _kernel(weights, kernel, x.shape[0], seed)
    steps = E.explain_conv(
        x,
        w,
        bias,
        parse_pair(stride, "stride"),
        _padding(padding),
        parse_pair(dilation, "dilation"),
        E.parse_at(at),
    )
    _echo(E.render_conv(steps))


@explain.command()
@_options(
    "input",
    "values",
    "seed",
    "kernel",
    "weights",
    "bias",
    "stride",
    "padding",
    "at",
    input="3x3",
    stride="2",
    padding="1",
)
@click.option(
    "--output-padding",
    default="0",
    show_default=True,
    help="Extra rows/cols at the bottom/right (< stride).",
)
@click.option("--symbolic", is_flag=True, help="Show the grid as the notes do: x pixels, 0 zeros.")
def transposed(
    input_shape, values, seed, kernel, weights, bias, stride, padding, at, output_padding, symbolic
):
    """A transposed convolution by the notes' recipe: insert zeros, frame, flipped conv."""
    x = _volume(values, input_shape, 1, seed)
    if x.shape[0] != 1:
        raise CnnlabError(f"transposed takes one channel. Received {x.shape[0]} channels")
    w = _kernel(weights, kernel, 1, seed)
    steps = E.explain_transposed(
        x[0],
        w[0],
        parse_pair(stride, "stride"),
        _padding(padding),
        parse_pair(output_padding, "output_padding", minimum=0),
        bias,
        E.parse_at(at),
    )
    _echo(E.render_transposed(steps, symbolic))


@explain.command()
@_options("input", "channels", "values", "seed", "kernel", "padding", "at", input="4x4", kernel="2")
@click.option("--stride", default=None, help="Stride: N or HxW (default: the kernel).")
@click.option("--mode", type=click.Choice(["max", "avg"]), default="max", show_default=True)
def pool(input_shape, channels, values, seed, kernel, padding, at, stride, mode):
    """Max or average pooling: the window of one output pixel and the whole output."""
    x = _volume(values, input_shape, channels, seed)
    steps = E.explain_pool(
        x,
        parse_pair(kernel, "kernel"),
        stride and parse_pair(stride, "stride"),
        _padding(padding),
        mode,
        E.parse_at(at),
    )
    _echo(E.render_pool(steps))


@explain.command("global-pool")
@_options("input", "channels", "values", "seed", input="4x4")
def global_pool(input_shape, channels, values, seed):
    """Global max and average pooling: one value per channel."""
    _echo(E.render_global_pool(E.explain_global_pool(_volume(values, input_shape, channels, seed))))


@explain.command()
@_options("input", "values", "seed", input="4x4")
@click.option(
    "--p",
    "p",
    type=float,
    default=0.5,
    show_default=True,
    help="Drop probability (keep probability is 1 - p), as in PyTorch/Keras.",
)
def dropout(input_shape, values, seed, p):
    """Dropout: the mask, inverted and classic outputs in training and at test time."""
    x = _volume(values, input_shape, 1, seed)
    _echo(E.render_dropout(E.explain_dropout(x[0], p, seed)))


@explain.command()
@_options("input", "values", "seed", input="4x3")
@click.option("--gamma", type=float, default=1.0, show_default=True, help="Scale.")
@click.option("--beta", type=float, default=0.0, show_default=True, help="Shift.")
@click.option("--momentum", type=float, default=0.1, show_default=True)
@click.option("--eps", type=float, default=1e-5, show_default=True)
def batchnorm(input_shape, values, seed, gamma, beta, momentum, eps):
    """Batch norm of a mini-batch (rows: samples, columns: features), training mode."""
    x = _volume(values, input_shape, 1, seed)
    if x.shape[0] != 1 or x.shape[1] < 2:
        raise CnnlabError(
            "batchnorm takes one grid with at least 2 rows (samples). "
            f"Received shape {'x'.join(map(str, x.shape))}"
        )
    _echo(E.render_batchnorm(E.explain_batchnorm(x[0], gamma, beta, momentum, eps)))


@explain.command("train-step")
@_options("seed", "kernel")
@click.option("--lr", type=float, default=0.5, show_default=True, help="Learning rate.")
@click.option(
    "--momentum",
    type=float,
    default=0.0,
    show_default=True,
    help="SGD momentum mu: v = mu*v + g; w = w - lr*v (0: plain gradient descent).",
)
@click.option("--steps", type=int, default=20, show_default=True, help="Gradient steps.")
@click.option("--images", type=int, default=100, show_default=True, help="Training digits.")
def train_step(seed, kernel, lr, momentum, steps, images):
    """The notes' training procedure on real digits: one filter, forward, loss, backprop, update."""
    walk = E.explain_train_step(parse_pair(kernel, "kernel"), lr, momentum, steps, images, seed)
    _echo(E.render_train_step(walk))


@explain.command()
@click.option(
    "--inputs",
    default="-5,-2,-1,-0.5,0,0.5,1,2,5",
    show_default=True,
    help="Inputs x, separated by ',' or spaces.",
)
@click.option("--depth", type=int, default=10, show_default=True, help="Layers in the table.")
@click.option("--start", type=float, default=0.5, show_default=True, help="Input of the chains.")
def activations(inputs, depth, start):
    """Sigmoid, tanh, ReLU and their derivatives; the gradient through depth."""
    x = E.parse_grid(inputs.replace(";", " "), "--inputs")
    _echo(E.render_activations(E.explain_activations(x, depth, start)))
