"""The words on a box: layer labels with their hyperparameters, shapes, parameter counts.

A layer is named the way the course notes write it, ``Conv2d 5x5, 6, s1`` (kernel, filters, stride),
so a diagram can be read against the paper's table. Short tokens (``Conv 3x3,16``) describe
the layers folded into one group box.
"""

from __future__ import annotations

from torch import nn

CATEGORIES = ("conv", "norm", "act", "pool", "dense", "merge", "other", "io")

_SHORT_NAMES = {
    "BatchNorm1d": "BN",
    "BatchNorm2d": "BN",
    "BatchNorm3d": "BN",
    "ConvTranspose2d": "ConvT",
    "AdaptiveAvgPool2d": "AvgPool",
    "AdaptiveMaxPool2d": "MaxPool",
}


def _pair(value) -> str:
    """``3`` or ``(3, 3)`` -> ``"3x3"``; ``(1, 5)`` -> ``"1x5"``."""
    values = value if isinstance(value, tuple | list) else (value,)
    return "x".join(str(v) for v in values) if len(set(values)) > 1 else str(values[0])


def _square(value) -> str:
    """A 2D pool's window in full (``2x2``) even when PyTorch stores the int 2."""
    text = _pair(value)
    return text if "x" in text else f"{text}x{text}"


def _conv_args(module: nn.Module, short: bool) -> str:
    parts = ["x".join(map(str, module.kernel_size)), str(module.out_channels)]
    stride = _pair(module.stride)
    if not short or stride != "1":
        parts.append(f"s{stride}")
    padding = module.padding if isinstance(module.padding, str) else _pair(module.padding)
    if not short and padding not in ("0", "valid"):
        parts.append(f"p{padding}")
    if _pair(module.dilation) != "1":
        parts.append(f"d{_pair(module.dilation)}")
    if module.groups != 1:
        parts.append(f"g{module.groups}")
    return ("," if short else ", ").join(parts)


def _pool_args(module: nn.Module, short: bool) -> str:
    sep = "," if short else ", "
    text = f"{_square(module.kernel_size)}{sep}s{_pair(module.stride)}"
    padding = _pair(module.padding)
    return text if short or padding == "0" else f"{text}{sep}p{padding}"


def layer_label(module: nn.Module, short: bool = False) -> str:
    """``Conv2d 5x5, 6, s1`` for a box; ``Conv 5x5,6`` (``short``) inside a folded box."""
    kind = type(module).__name__
    name = _SHORT_NAMES.get(kind, kind.removesuffix("2d")) if short else kind
    if isinstance(module, nn.modules.conv._ConvNd):
        return f"{name} {_conv_args(module, short)}"
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        return f"{name} {_pool_args(module, short)}"
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        size = _square(module.output_size)
        return ("GAP" if "Avg" in kind else "GMP") if short and size == "1x1" else f"{name} {size}"
    if isinstance(module, nn.Linear):
        return f"{name} {module.in_features}->{module.out_features}"
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return name if short else f"{name} {module.num_features}"
    if isinstance(module, nn.Dropout | nn.Dropout2d):
        return f"{name} {module.p:g}"
    if isinstance(module, nn.Embedding):
        return f"{name} {module.num_embeddings}->{module.embedding_dim}"
    if isinstance(module, nn.LeakyReLU):
        return f"{name} {module.negative_slope:g}"
    return name


def category(module: nn.Module) -> str:
    """Colour family of a layer: convolution, normalization, activation, pooling, dense."""
    kind = type(module).__name__
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.modules.batchnorm._NormBase | nn.LayerNorm | nn.GroupNorm):
        return "norm"
    if "Pool" in kind:
        return "pool"
    if isinstance(module, nn.Linear | nn.Embedding):
        return "dense"
    if module.__module__ == "torch.nn.modules.activation":
        return "act"
    return "other"


def format_shape(shape: tuple[int, ...]) -> str:
    """Output shape without the batch: ``(1, 6, 28, 28)`` -> ``"6x28x28"``."""
    return "x".join(str(d) for d in shape[1:]) or "scalar"


def format_params(count: int) -> str:
    """``156 params``, ``48,120 params``, ``2.36M params``: exact below a million, as the
    course notes count them layer by layer."""
    if count < 1_000_000:
        return f"{count:,} params"
    return f"{count / 1_000_000:.2f}M params"


def compress_tokens(tokens: list[str]) -> str:
    """``[Conv, ReLU, Conv, ReLU]`` -> ``"2× (Conv · ReLU)"``: a repeated pattern is counted."""
    for period in range(1, len(tokens) // 2 + 1):
        times, rest = divmod(len(tokens), period)
        if rest == 0 and tokens == tokens[:period] * times:
            inner = " · ".join(tokens[:period])
            return f"{times}× ({inner})" if period > 1 else f"{times}× {inner}"
    return " · ".join(tokens)


def count_tokens(tokens: list[str]) -> str:
    """``[Conv, ReLU, Conv, add]`` -> ``"Conv×2 · ReLU · add"`` (kinds in order of first use)."""
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    return " · ".join(k if n == 1 else f"{k}×{n}" for k, n in counts.items())


def wrap(text: str, width: int = 32) -> list[str]:
    """Break a ``" · "``-separated list into as few lines of at most about ``width``
    characters as it needs, of even lengths (``a · b · c · d`` as two lines of two)."""
    parts = text.split(" · ")
    count = -(-len(text) // width)
    target = -(-len(text) // count)
    while True:  # ends: at len(text) everything fits on one line
        lines: list[str] = []
        for part in parts:
            if lines and len(lines[-1]) + 3 + len(part) <= target:
                lines[-1] += " · " + part
            else:
                lines.append(part)
        if len(lines) <= count:
            return lines
        target += 1


def node_lines(node) -> list[tuple[str, str]]:
    """The text of a box as ``(style, text)`` lines: title, group contents, shape and params.

    Inputs, outputs and operators take one line (``add · 16x32x32``); a layer-free parameter
    count is left out rather than printed as ``0 params``.
    """
    shape = format_shape(node.shape)
    if node.kind in ("input", "output", "op"):
        return [("title", f"{node.title} · {shape}")]
    lines = [("title", node.title)]
    lines += [("detail", line) for line in wrap(node.detail)] if node.detail else []
    info = f"{shape} · {format_params(node.params)}" if node.params else shape
    return [*lines, ("info", info)]
