"""Convolution -> normalization -> activation, the unit every family is built from."""

from __future__ import annotations

from torch import nn

from cnnlab.errors import CnnlabError

LayerSpec = type[nn.Module] | str | None

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}
NORMS: dict[str, type[nn.Module]] = {"batch": nn.BatchNorm2d, "batchnorm": nn.BatchNorm2d}


def _get_layer(value: LayerSpec, table: dict[str, type[nn.Module]], name: str):
    if value is None or (isinstance(value, type) and issubclass(value, nn.Module)):
        return value
    if isinstance(value, str) and value.lower() in table:
        return table[value.lower()]
    if isinstance(value, str) and value.lower() == "none":
        return None
    raise CnnlabError(
        f"{name} must be an nn.Module class (like nn.ReLU), None, or one of "
        f"{', '.join(sorted(table))}. Received: {name}={value!r}"
    )


def get_activation(value: LayerSpec) -> type[nn.Module] | None:
    """The activation class for ``nn.ReLU``, ``"relu"``, ``"sigmoid"``, ``"tanh"``... or None.

    Raises:
        CnnlabError: for anything else.
    """
    return _get_layer(value, ACTIVATIONS, "activation")


def get_norm(value: LayerSpec) -> type[nn.Module] | None:
    """The normalization class for ``nn.BatchNorm2d``, ``"batch"``, or None (no normalization).

    Raises:
        CnnlabError: for anything else.
    """
    return _get_layer(value, NORMS, "norm_layer")


class ConvNormAct(nn.Sequential):
    """A 2D convolution, then an optional normalization, then an optional activation.

    ``a = g(norm(W * x + b))``. With a normalization layer the convolution has no bias: batch
    norm subtracts the mean, so its shift ``beta`` takes the bias's place (Ioffe & Szegedy,
    2015, sec. 3.2).

    Args:
        in_channels: channels of the input.
        out_channels: number of filters.
        kernel_size: ``f`` (int or pair).
        stride: ``s``.
        padding: an int, or ``"same"``/``"valid"`` as in ``nn.Conv2d`` (``"same"`` needs s = 1).
        norm_layer: normalization class called with ``out_channels`` (``nn.BatchNorm2d``),
            or None.
        activation: activation class (``nn.ReLU``), or None for a linear output.

    Shapes:
        ``N x C_in x H x W -> N x C_out x H' x W'`` with ``H' =
        cnnlab.arith.conv_output_length(H, f, s, padding)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | str = 0,
        norm_layer: LayerSpec = None,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        norm_layer, activation = get_norm(norm_layer), get_activation(activation)
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                bias=norm_layer is None,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)
        self.out_channels = out_channels
