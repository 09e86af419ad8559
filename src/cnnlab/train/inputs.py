"""Turning stored samples into what a model takes, the same way in training and in predict.

Images are stored as uint8 0..255 (N x C x H x W). The model gets float32 scaled by 1/255 (the
normalization of the course notes' "Esercitazione CNN e Keras"), optionally standardized per
channel, and resized to the model's ``input_size`` when the data's size differs (sklearn's 8x8
digits for a 28x28 LeNet-5).
Token ids (text) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.data.augment import to_float
from cnnlab.errors import CnnlabError
from cnnlab.models.info import model_info
from cnnlab.train.data import input_kind, target_task


@dataclass(frozen=True)
class InputSpec:
    """How raw samples become model inputs.

    Args:
        kind: ``"image"`` or ``"tokens"``.
        channels: C the model takes (images).
        size: (H, W) the model takes, or None to keep the data's size (fully convolutional).
        mean, std: per-channel standardization after the 1/255 scaling, or None.
    """

    kind: str = "image"
    channels: int = 1
    size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> InputSpec:
        fields = dict(data)
        for key in ("size", "mean", "std"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        return cls(**fields)

    def resizes(self, inputs: torch.Tensor) -> bool:
        """Whether :meth:`apply` resamples ``inputs`` (their size differs from ``size``)."""
        return (
            self.kind == "image"
            and self.size is not None
            and tuple(inputs.shape[-2:]) != tuple(self.size)
        )

    def apply(self, inputs: torch.Tensor) -> torch.Tensor:
        """N x C x H x W uint8 (or float already in [0, 1]) -> float model input."""
        if self.kind == "tokens":
            return inputs.to(torch.int64)
        if inputs.ndim != 4:
            raise CnnlabError(
                f"images must be N x C x H x W. Received: shape={tuple(inputs.shape)}"
            )
        if inputs.shape[1] != self.channels:
            raise CnnlabError(
                f"the model takes {self.channels}-channel images but the data has "
                f"{inputs.shape[1]}; build the model with in_channels={inputs.shape[1]}"
            )
        x = to_float(inputs) if inputs.dtype == torch.uint8 else inputs.to(torch.float32)
        if self.resizes(x):
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True)
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean).view(1, -1, 1, 1)
            std = torch.tensor(self.std).view(1, -1, 1, 1)
            x = (x - mean.to(x)) / std.to(x)
        return x


def spec_for(
    model: nn.Module,
    kind: str,
    resize: bool = True,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> InputSpec:
    """The input spec of ``model``: its ``input_size`` (C, H, W) decides channels and size;
    ``mean``/``std`` default to the normalisation the model declares (published weights)."""
    if kind == "tokens":
        return InputSpec(kind="tokens", channels=0)
    info = model_info(model)
    mean, std = (mean, std) if mean is not None else (info.mean, info.std)
    size = info.input_size
    if size is None or len(size) != 3:
        raise CnnlabError(
            f"{type(model).__name__} has no input_size (C, H, W); set model.input_size"
        )
    return InputSpec(
        kind="image",
        channels=int(size[0]),
        size=(int(size[1]), int(size[2])) if resize else None,
        mean=tuple(mean) if mean is not None else None,
        std=tuple(std) if std is not None else None,
    )


def spec_for_data(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> InputSpec:
    """The spec that feeds ``inputs`` (arranged N x C x H x W, or N x L ids) to ``model``.

    Token ids pass through. Images are resized to the model's declared ``input_size`` for
    classification and keep their size for segmentation (the masks must keep matching the
    images). A model that declares no ``input_size`` takes the data as it is: its channels,
    and for classification its height and width, which the run records for prediction.
    """
    kind, classification = input_kind(inputs), target_task(targets) == "classification"
    if kind == "image" and model_info(model).input_size is None:
        return InputSpec(
            kind="image",
            channels=int(inputs.shape[1]),
            size=tuple(int(s) for s in inputs.shape[-2:]) if classification else None,
            mean=tuple(mean) if mean is not None else None,
            std=tuple(std) if std is not None else None,
        )
    return spec_for(model, kind, resize=classification, mean=mean, std=std)


def prepare_inputs(spec: InputSpec, inputs: torch.Tensor) -> torch.Tensor:
    """``spec.apply(inputs)`` for a whole data set: resampling runs in chunks (bounded scratch
    memory), and inputs that could hold NaN or Inf (floats, standardized images) are checked."""
    if spec.resizes(inputs):
        prepared = torch.cat([spec.apply(part) for part in inputs.split(4096)])
    else:
        prepared = spec.apply(inputs)
    may_be_nonfinite = inputs.is_floating_point() or spec.std is not None
    if may_be_nonfinite and not bool(torch.isfinite(prepared).all()):
        bad = (~torch.isfinite(prepared)).flatten(1).any(1).nonzero().flatten()
        raise CnnlabError(
            f"the inputs hold NaN or Inf in {len(bad)} samples (first: index "
            f"{int(bad[0])}); clean or drop them before training"
        )
    return prepared
