"""Predicting image files with a trained run: each file converted the way the model expects
(channels, size, scaling), one result per file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnlab.data.images import read_image
from cnnlab.errors import CnnlabError
from cnnlab.files import atomic_path
from cnnlab.runs.load import LoadedRun
from cnnlab.runs.schema import check_input_spec
from cnnlab.train.execution import resolve_precision
from cnnlab.train.inference import forward_logits, prepare_model
from cnnlab.train.metrics import predicted_class


@dataclass
class FilePrediction:
    """Top classes of one file (classification), or its mask (segmentation)."""

    file: Path
    probabilities: list[float]
    top: list[tuple[str, float]]
    inverted: bool
    mask: Path | None = None


def run_precision(run: LoadedRun) -> str:
    """The precision setting a run evaluates in by default: its training's (``auto`` for
    runs that do not record one), so a run trained in float32 predicts in float32."""
    return (run.config.get("train") or {}).get("precision") or "auto"


def needs_inversion(image: torch.Tensor, invert: str) -> bool:
    """``auto``: a single-channel image with a light background (border median > 127) is
    inverted, since MNIST-style data are light strokes on black; ``yes``/``no`` force it."""
    if invert not in ("auto", "yes", "no"):
        raise CnnlabError(f"invert must be auto, yes or no. Received: invert={invert!r}")
    if invert != "auto":
        return invert == "yes"
    if image.shape[0] != 1:
        return False
    border = torch.cat([image[0, 0], image[0, -1], image[0, :, 0], image[0, :, -1]])
    return float(border.float().median()) > 127


@torch.inference_mode()
def predict_files(
    run: LoadedRun,
    files: list[str | os.PathLike],
    invert: str = "auto",
    top: int = 3,
    mask_dir: str | os.PathLike | None = None,
    precision: str | None = None,
) -> list[FilePrediction]:
    """Predict every file (all files are read and checked before any prediction) in
    ``precision`` (auto, fp32, bf16: :mod:`cnnlab.train.inference`; None: the run's
    :func:`run_precision`)."""
    device = next(run.model.parameters(), torch.empty(0)).device
    precision = resolve_precision(precision or run_precision(run), device)
    if run.input_spec.kind != "image":
        raise CnnlabError(f"{run.run_dir} is a text model; it does not take image files")
    spec = run.input_spec
    check_input_spec(spec.to_json(), run.layout.config)  # before any image is resized to it
    images = [read_image(f, spec.channels, spec.size) for f in files]
    channels_last = prepare_model(run.model, device)
    results = []
    for file, image in zip(files, images, strict=True):
        flip = needs_inversion(image, invert)
        raw = 255 - image if flip else image
        x = run.input_spec.apply(raw.unsqueeze(0))
        logits = forward_logits(run.model, x.to(device), precision, channels_last)
        probabilities = torch.softmax(logits, dim=1)[0].cpu()
        if run.task == "segmentation":
            folder = Path(mask_dir) if mask_dir is not None else run.layout.predictions
            results.append(_mask_result(Path(file), probabilities, flip, folder, run.classes))
            continue
        values, indices = probabilities.topk(min(top, len(probabilities)))
        names = [run.classes[i] if i < len(run.classes) else str(i) for i in indices.tolist()]
        results.append(
            FilePrediction(
                Path(file),
                probabilities.tolist(),
                list(zip(names, values.tolist(), strict=True)),
                flip,
            )
        )
    return results


def _mask_result(
    file: Path, probabilities, flip: bool, folder: Path, classes: list[str]
) -> FilePrediction:
    """The mask as a PNG (class k at gray k * 255 / (K - 1)) and each class's share of the
    pixels, largest first."""
    mask = predicted_class(probabilities, dim=0)
    k = probabilities.shape[0]
    out = folder / f"{file.stem}.mask.png"
    scale = 255 // max(1, k - 1)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temporary:
        pixels = (mask.numpy() * scale).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(temporary, format="PNG")
    counts = torch.bincount(mask.flatten(), minlength=k).tolist()
    names = [classes[i] if i < len(classes) else str(i) for i in range(k)]
    shares = sorted(
        zip(names, (c / mask.numel() for c in counts), strict=True), key=lambda s: -s[1]
    )
    return FilePrediction(file, [], shares, flip, mask=out)
