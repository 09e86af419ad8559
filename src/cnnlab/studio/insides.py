"""Looking inside a trained classifier: its prediction, each conv layer's feature maps (forward
hooks on every ``nn.Conv2d``) and its learned filters (the conv weights).

Feature maps are the conv outputs before any activation, one grey image per channel scaled
by that channel's own minimum..maximum. Filters use one signed colour scale per layer (blue
negative, white zero, red positive, full colour at the layer's largest ``|w|``). A layer that
sees the image shows each filter as it is (an RGB picture for a 3-channel first layer); deeper
filters have one ``k x k`` kernel per input channel and are shown **summed over their input
channels** (their net response to a uniform input volume).

The pictures are counted before any is drawn: at most :data:`MAX_MAP_PIXELS` of feature maps
and :data:`MAX_FILTER_PIXELS` of filters per answer, beyond which the request is refused.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn

from cnnlab.models.info import main_output
from cnnlab.runs.load import LoadedRun
from cnnlab.runs.predict import needs_inversion, run_precision
from cnnlab.studio.errors import StudioError
from cnnlab.studio.pictures import data_url, grey, signed
from cnnlab.studio.schema import MAX_INPUT_PIXELS
from cnnlab.train.execution import autocast, resolve_precision
from cnnlab.train.inference import prepare_model

MAX_LAYERS = 24
MAX_CHANNELS = 32
MAX_MAP_PIXELS = 4_000_000
MAX_FILTER_PIXELS = 1_000_000
FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """The model's ``nn.Conv2d`` modules (subclasses included) in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def check_classifier(run: LoadedRun) -> None:
    """The studio predicts image classifiers only."""
    if run.input_spec.kind != "image" or run.task != "classification":
        raise StudioError(
            f"this run is a {run.input_spec.kind} {run.task} model; the studio predicts "
            "image classification runs only",
            422,
        )


def check_input(run: LoadedRun, size: tuple[int, int]) -> None:
    """A model that takes images at their own size gets at most ``MAX_INPUT_PIXELS``."""
    if run.input_spec.size is None and size[0] * size[1] > MAX_INPUT_PIXELS:
        raise StudioError(
            f"this model takes images at their own size; the studio feeds it at most "
            f"{MAX_INPUT_PIXELS:,} pixels. Received: {size[0]}x{size[1]}",
            413,
        )


def _count(pixels: int, limit: int, what: str) -> None:
    if pixels > limit:
        raise StudioError(
            f"the {what} of this model make {pixels:,} pixels; the studio draws at most {limit:,}",
            422,
        )


def _describe(name: str, conv: nn.Conv2d) -> dict:
    kh, kw = conv.kernel_size
    return {
        "layer": name or "(model)",
        "in_channels": conv.in_channels,
        "out_channels": conv.out_channels,
        "kernel": [kh, kw],
        "stride": list(conv.stride),
    }


def _maps_json(name: str, conv: nn.Conv2d, output: torch.Tensor) -> dict:
    maps = output[0].float().numpy()  # C x H x W
    shown = maps[:MAX_CHANNELS]
    return {
        **_describe(name, conv),
        "shape": list(maps.shape),
        "shown": len(shown),
        "maps": [
            {"image": data_url(grey(m)), "min": float(m.min()), "max": float(m.max())}
            for m in shown
        ],
    }


@torch.inference_mode()
def forward_with_maps(
    model: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[str, nn.Conv2d, torch.Tensor]]]:
    """``model(x)`` and the output of every conv layer it ran (first call of each, in order)."""
    recorded: dict[str, tuple[str, nn.Conv2d, torch.Tensor]] = {}
    handles = []
    for name, conv in conv_layers(model):

        def hook(module, _inputs, output, name=name):
            recorded.setdefault(name, (name, module, output.detach()))

        handles.append(conv.register_forward_hook(hook))
    try:
        output = main_output(model(x))
    finally:
        for handle in handles:
            handle.remove()
    return output, list(recorded.values())


def classify(
    run: LoadedRun, image: torch.Tensor, lock: threading.Lock, maps: bool, invert: str = "auto"
) -> dict:
    """Class probabilities of one ``C x H x W`` uint8 image, fed as ``cnnlab predict`` feeds a
    file (``auto`` inverts a light-background grey image) and in the same precision (the
    run's training setting: ``auto`` is bfloat16 autocast on CPUs that multiply bfloat16
    natively); with ``maps``, the feature maps.

    ``lock`` guards the model: hooks must not record another request's forward pass.
    """
    check_classifier(run)
    flip = needs_inversion(image, invert)
    x = run.input_spec.apply((255 - image if flip else image).unsqueeze(0))  # 1 x C x H x W
    precision = resolve_precision(run_precision(run), x.device)
    try:
        with lock, autocast(precision, x.device):
            if prepare_model(run.model, x.device):  # as cnnlab predict feeds it: same numbers
                x = x.contiguous(memory_format=torch.channels_last)
            logits, layers = forward_with_maps(run.model, x)
    except FORWARD_ERRORS as error:  # a config whose input the model cannot take
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        shape = " x ".join(map(str, x.shape[1:]))
        raise StudioError(
            f"the model cannot take the input its run describes ({shape}): {reason[:200]}", 422
        ) from None
    probabilities = torch.softmax(logits.float(), dim=1)[0].tolist()
    names = [run.classes[i] if i < len(run.classes) else str(i) for i in range(len(probabilities))]
    best = int(np.argmax(probabilities))
    result = {
        "probabilities": probabilities,
        "classes": names,
        "top": {"class": names[best], "probability": probabilities[best]},
        "inverted": flip,
        "precision": precision,
        "input": {"shape": list(x.shape[1:]), "image": data_url(_picture(x[0]))},
    }
    if maps:
        shown = layers[:MAX_LAYERS]
        pixels = sum(min(out.shape[1], MAX_CHANNELS) * out[0, 0].numel() for *_, out in shown)
        _count(pixels, MAX_MAP_PIXELS, "feature maps")
        result["feature_maps"] = [_maps_json(*layer) for layer in shown]
        result["conv_layers"] = len(layers)
    return result


def _picture(x: torch.Tensor) -> np.ndarray:
    """A ``C x H x W`` model input as uint8 pixels (its own range stretched to 0..255)."""
    pixels = grey(x.float().numpy())
    return pixels[0] if pixels.shape[0] == 1 else pixels[:3].transpose(1, 2, 0)


def _filter_images(weight: np.ndarray, sees_image: bool) -> tuple[list[np.ndarray], str, float]:
    """One picture per filter of ``F x C x k_h x k_w`` weights, how it was made, and the
    magnitude drawn at full colour."""
    if sees_image and weight.shape[1] == 3:
        limit = float(np.abs(weight).max()) or 1.0
        centred = np.clip(0.5 + weight / (2 * limit), 0, 1)
        pictures = [np.rint(255 * w.transpose(1, 2, 0)).astype(np.uint8) for w in centred]
        return pictures, "each filter's weights as an RGB picture (grey is zero)", limit
    how = "each filter's weights"
    if weight.shape[1] > 1:
        how = f"each filter's weights summed over its {weight.shape[1]} input channels"
        weight = weight.sum(axis=1, keepdims=True)
    limit = float(np.abs(weight).max())
    return [signed(w[0], limit) for w in weight], how, limit


def filters_json(run: LoadedRun) -> list[dict]:
    """The learned filters of every conv layer (at most :data:`MAX_CHANNELS` per layer).

    The first conv layer sees the image when its input channels match the image's.
    """
    convs = conv_layers(run.model)[:MAX_LAYERS]
    pixels = sum(min(c.out_channels, MAX_CHANNELS) * 3 * c.weight[0, 0].numel() for _, c in convs)
    _count(pixels, MAX_FILTER_PIXELS, "filters")
    layers = []
    for index, (name, conv) in enumerate(convs):
        weight = conv.weight.detach()[:MAX_CHANNELS].float().numpy()
        sees_image = index == 0 and conv.in_channels == run.input_spec.channels
        pictures, how, limit = _filter_images(weight, sees_image)
        layers.append(
            {
                **_describe(name, conv),
                "shape": list(conv.weight.shape),
                "shown": len(pictures),
                "how": how,
                "limit": limit,
                "filters": [data_url(p) for p in pictures],
            }
        )
    return layers
