"""Convolution and transposed convolution as the course notes describe them ("Convoluzione",
"Convoluzione volumetrica", "Downsampling e Upsampling"), in plain NumPy (NCHW).

A filter holds one kernel per input channel; output pixel ``(i, j)`` of filter ``f`` is

    ``y[f, i, j] = b[f] + sum_{c, u, v} x_pad[c, i*s + u*d, j*s + v*d] * w[f, c, u, v]``

(cross-correlation, as in every deep-learning framework), then the activation. The loop runs
over output positions; the sum over the window and the channels is one vectorized product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnlab.arith import transposed_output_length, transposed_padding
from cnnlab.reference.activations import get_activation
from cnnlab.reference.padding import (
    Padding2d,
    Pair,
    border,
    padding_pair,
    pair,
    window,
    window_geometry,
)


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Pair = 1,
    padding: Padding2d = 0,
    dilation: Pair = 1,
    activation: str | Callable | None = None,
) -> np.ndarray:
    """2D convolution layer: sliding window, sum over window and channels, bias, activation.

    Args:
        x: input, ``N x C x H x W``.
        w: filters, ``F x C x k_h x k_w``.
        b: one bias per filter, ``F``, or None.
        stride, dilation: int or (height, width).
        padding: int, ``"same"`` (Keras/TF, odd pixel bottom/right), ``"valid"``, or one per axis.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"``, a callable, or None.

    Returns:
        ``N x F x H_out x W_out`` with ``H_out = floor((H + p_t + p_b - d(k-1) - 1) / s) + 1``.

    Raises:
        CnnlabError: bad padding, or a kernel larger than the padded input.
    """
    k, s, d = pair(w.shape[-2:], "kernel"), pair(stride, "stride"), pair(dilation, "dilation")
    (top, bottom, left, right), (h_out, w_out) = window_geometry(x.shape[-2:], k, s, padding, d)
    xp = border(x, top, bottom, left, right)  # N x C x (H + p_t + p_b) x (W + p_l + p_r)
    out = np.zeros((x.shape[0], w.shape[0], h_out, w_out), dtype=np.result_type(x, w))
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = window(xp, i, j, k, s, d)
            patch = xp[:, :, rows, cols]  # N x C x k_h x k_w
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))  # N x F
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return get_activation(activation)(out)


def conv2d_backward(
    dout: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair = 1,
    padding: Padding2d = 0,
    dilation: Pair = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` (no activation) given ``dout = dL/dy``.

    Each output pixel used one window: it sends ``dout * w`` back to that window of the input
    and adds ``dout * window`` to the kernel; every output pixel adds ``dout`` to its bias.

    Returns:
        ``(dx, dw, db)`` with the shapes of ``x``, ``w`` and ``F``.
    """
    k, s, d = pair(w.shape[-2:], "kernel"), pair(stride, "stride"), pair(dilation, "dilation")
    (top, bottom, left, right), (h_out, w_out) = window_geometry(x.shape[-2:], k, s, padding, d)
    xp = border(x, top, bottom, left, right)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(h_out):
        for j in range(w_out):
            rows, cols = window(xp, i, j, k, s, d)
            g = dout[:, :, i, j]  # N x F
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))  # F x C x k_h x k_w
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))  # N x C x k_h x k_w
    dx = border(dxp, -top, -bottom, -left, -right)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def zero_insert(x: np.ndarray, stride: Pair) -> np.ndarray:
    """Spread the pixels of ``x`` apart with ``s - 1`` zeros between neighbours (step 1 of the
    course notes' recipe)."""
    s = pair(stride, "stride")
    h, w = x.shape[-2:]
    out = np.zeros((*x.shape[:-2], (h - 1) * s[0] + 1, (w - 1) * s[1] + 1), dtype=x.dtype)
    out[..., :: s[0], :: s[1]] = x
    return out


def transposed_frame(
    hw: tuple[int, int],
    kernel: Pair,
    stride: Pair = 1,
    padding: Padding2d = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` zeros framing the zero-inserted input: ``d(f-1) - p``.

    ``output_padding`` adds its rows and columns at the bottom and right. A negative amount
    (``p > d(f-1)``) means cropping. Also checks the sizes with
    :func:`cnnlab.arith.transposed_output_length`.
    """
    k, s, d = pair(kernel, "kernel"), pair(stride, "stride"), pair(dilation, "dilation")
    op = pair(output_padding, "output_padding")
    specs = padding_pair(padding)
    frame = []
    for a in (0, 1):
        transposed_output_length(hw[a], k[a], s[a], specs[a], d[a], op[a])
        before, after = transposed_padding(specs[a], k[a], s[a], d[a])
        reach = d[a] * (k[a] - 1)
        frame += [reach - before, reach - after + op[a]]
    return frame[0], frame[1], frame[2], frame[3]


def transposed_grid(
    x: np.ndarray,
    kernel: Pair,
    stride: Pair = 1,
    padding: Padding2d = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> np.ndarray:
    """The input the course notes' recipe convolves: zeros inserted, then the
    :func:`transposed_frame`."""
    frame = transposed_frame(x.shape[-2:], kernel, stride, padding, output_padding, dilation)
    return border(zero_insert(x, stride), *frame)


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Pair = 1,
    padding: Padding2d = 0,
    output_padding: Pair = 0,
    dilation: Pair = 1,
) -> np.ndarray:
    """Transposed convolution by the course notes' recipe ("Downsampling e Upsampling";
    Dumoulin & Visin 2016, relationship 14).

    1. insert ``s - 1`` zeros between input pixels; 2. add a frame of ``d(f-1) - p`` zeros
    (plus ``output_padding`` at the bottom/right); 3. convolve with stride 1 and the kernel
    flipped in both spatial axes, with input and output channel axes swapped.

    Args:
        x: ``N x C_in x H x W``.
        w: ``C_in x C_out x k_h x k_w`` (PyTorch's layout for ``ConvTranspose2d``).
        b: ``C_out`` or None.

    Returns:
        ``N x C_out x H_out x W_out`` with ``H_out = (H-1)s - 2p + d(k-1) + output_padding + 1``.
    """
    grid = transposed_grid(x, w.shape[-2:], stride, padding, output_padding, dilation)
    flipped = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]  # C_out x C_in x k_h x k_w
    return conv2d(grid, flipped, b, stride=1, padding=0, dilation=dilation)
