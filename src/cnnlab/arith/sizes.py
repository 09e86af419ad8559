"""Output size and padding along one axis, for convolution, pooling and transposed convolution.

Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016), extended with
dilation ``d`` and asymmetric padding: ``floor((n + p_before + p_after - d(f-1) - 1) / s) + 1``
positions for a convolution or a pooling window, ``(n - 1)s - p_before - p_after + d(f-1) +
output_padding + 1`` for a transposed convolution.
"""

from __future__ import annotations

import math

from cnnlab.errors import CnnlabError

PaddingSpec = int | str


def check_at_least(value: int, minimum: int, name: str) -> None:
    """``value`` must be an integer ``>= minimum``; ``name`` is what the error message calls it."""
    if not isinstance(value, int) or value < minimum:
        raise CnnlabError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")


def _check_window(n: int, kernel: int, stride: int, dilation: int) -> None:
    """Input size, kernel, stride and dilation of one axis must all be at least 1."""
    for value, name in ((n, "input size"), (kernel, "kernel"), (stride, "stride")):
        check_at_least(value, 1, name)
    check_at_least(dilation, 1, "dilation")


def _split(total: int) -> tuple[int, int]:
    """``total`` padding as ``(before, after)``; the odd pixel goes after, as in Keras."""
    return total // 2, total - total // 2


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: ``d(f - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def same_padding(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow ``"same"`` padding along one axis, as ``(before, after)``.

    The output has ``ceil(n / s)`` positions; the total padding is
    ``max((ceil(n / s) - 1) * s + d(f - 1) + 1 - n, 0)`` and the odd pixel goes after.
    """
    out = math.ceil(n / stride)
    return _split(max((out - 1) * stride + effective_kernel(kernel, dilation) - n, 0))


def resolve_padding(
    padding: PaddingSpec, n: int, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """Turn ``"same"``, ``"valid"`` or an integer into ``(before, after)`` for one axis."""
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(n, kernel, stride, dilation)
        if mode.isdecimal():
            padding = int(mode)
        else:
            raise CnnlabError(
                f"padding must be 'same', 'valid' or an integer >= 0. Received: padding={padding!r}"
            )
    check_at_least(padding, 0, "padding")
    return padding, padding


def conv_output_length(
    n: int, kernel: int, stride: int = 1, padding: PaddingSpec = 0, dilation: int = 1
) -> int:
    """Output positions of a convolution or pooling along one axis (Dumoulin & Visin, rel. 6, 15).

    ``floor((n + p_before + p_after - d(f - 1) - 1) / s) + 1``

    Raises:
        CnnlabError: when an argument is out of range or the (dilated) kernel does not fit
            in the padded input.
    """
    _check_window(n, kernel, stride, dilation)
    before, after = resolve_padding(padding, n, kernel, stride, dilation)
    extent = effective_kernel(kernel, dilation)
    padded = n + before + after
    if extent > padded:
        raise CnnlabError(
            f"kernel {kernel} (extent {extent} with dilation {dilation}) is larger than the padded "
            f"input {padded} = {n} + {before} + {after}; use a smaller kernel or more padding"
        )
    return (padded - extent) // stride + 1


def pool_output_length(
    n: int,
    kernel: int,
    stride: int | None = None,
    padding: PaddingSpec = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output positions of a pooling window along one axis (Dumoulin & Visin, rel. 7).

    The stride defaults to the kernel. With ``ceil_mode`` (PyTorch's option) the floor becomes
    a ceiling, ``ceil((n + p_before + p_after - d(f - 1) - 1) / s) + 1``, which counts a last,
    partial window (even one wider than the input), except that the last window must start
    inside the input or its left padding (PyTorch's ``pooling_output_shape``).
    """
    stride = kernel if stride is None else stride
    if not ceil_mode:
        return conv_output_length(n, kernel, stride, padding, dilation)
    _check_window(n, kernel, stride, dilation)
    before, after = resolve_padding(padding, n, kernel, stride, dilation)
    out = ceil_output_length(n, kernel, stride, before, after, dilation)
    if (out - 1) * stride >= n + before:
        out -= 1
    if out < 1:
        raise CnnlabError(
            f"kernel {kernel} with stride {stride} leaves no window on the padded input "
            f"{n + before + after}; use a smaller kernel or more padding"
        )
    return out


def ceil_output_length(n: int, kernel: int, stride: int, before: int, after: int, dilation: int):
    """``ceil((n + p_before + p_after - d(f - 1) - 1) / s) + 1``, before the last-window rule."""
    numerator = n + before + after - effective_kernel(kernel, dilation)
    return -(-numerator // stride) + 1


def transposed_padding(
    padding: PaddingSpec, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """``(before, after)`` cropping of a transposed convolution.

    ``"valid"`` is 0; ``"same"`` (Keras semantics, output ``n * s``) needs a total of
    ``d(f - 1) + 1 - s``, the odd pixel after.
    """
    if isinstance(padding, str) and padding.strip().lower() == "same":
        total = effective_kernel(kernel, dilation) - stride
        if total < 0:
            raise CnnlabError(
                f"'same' transposed padding needs kernel extent >= stride. "
                f"Received: kernel={kernel}, dilation={dilation}, stride={stride}"
            )
        return _split(total)
    return resolve_padding(padding, 1, kernel, stride, dilation)


def transposed_output_length(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: PaddingSpec = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Output positions of a transposed convolution along one axis (Dumoulin & Visin, rel. 14).

    ``(n - 1)s - p_before - p_after + d(f - 1) + output_padding + 1``

    ``output_padding`` must be smaller than the stride or the dilation (as in PyTorch): it
    picks one of the ``s`` input sizes that a strided convolution maps to the same output.
    """
    _check_window(n, kernel, stride, dilation)
    check_at_least(output_padding, 0, "output_padding")
    if output_padding >= max(stride, dilation):
        raise CnnlabError(
            "output_padding must be smaller than the stride or the dilation. "
            f"Received: output_padding={output_padding}, stride={stride}, dilation={dilation}"
        )
    before, after = transposed_padding(padding, kernel, stride, dilation)
    out = (n - 1) * stride - before - after + effective_kernel(kernel, dilation) + output_padding
    if out < 1:
        raise CnnlabError(
            f"padding {before}+{after} crops the whole output of the transposed convolution "
            f"(n={n}, kernel={kernel}, stride={stride}); use less padding"
        )
    return out
