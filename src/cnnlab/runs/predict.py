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
from cnnlab.models.info import main_output
from cnnlab.runs.load import LoadedRun


@dataclass
class FilePrediction:
    """Top classes of one file (classification), or its mask (segmentation)."""

    file: Path
    probabilities: list[float]
    top: list[tuple[str, float]]
    inverted: bool
    mask: Path | None = None


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
) -> list[FilePrediction]:
    """Predict every file (all files are read and checked before any prediction)."""
    if run.input_spec.kind != "image":
        raise CnnlabError(f"{run.run_dir} is a text model; it does not take image files")
    spec = run.input_spec
    images = [read_image(f, spec.channels, spec.size) for f in files]
    results = []
    for file, image in zip(files, images, strict=True):
        flip = needs_inversion(image, invert)
        raw = 255 - image if flip else image
        x = run.input_spec.apply(raw.unsqueeze(0))
        probabilities = torch.softmax(main_output(run.model(x)).float(), dim=1)[0]
        if run.task == "segmentation":
            results.append(_mask_result(Path(file), probabilities, flip, mask_dir))
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


def _mask_result(file: Path, probabilities, flip: bool, mask_dir) -> FilePrediction:
    mask = probabilities.argmax(0).numpy().astype(np.uint8)
    folder = Path(mask_dir) if mask_dir is not None else file.parent
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{file.stem}.mask.png"
    scale = 255 // max(1, probabilities.shape[0] - 1)
    Image.fromarray(mask * scale, mode="L").save(out)
    share = float((mask > 0).mean())
    return FilePrediction(file, [], [("foreground", share)], flip, mask=out)
