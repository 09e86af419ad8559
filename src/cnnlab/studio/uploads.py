"""Uploaded image bytes decoded safely, then shaped for a model or for the kernel playground.

Limits: :data:`MAX_UPLOAD_BYTES` (10 MB) per file and :data:`MAX_UPLOAD_PIXELS` per image, the
pixel count checked from the header before anything is decoded.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image

from cnnlab.data.images import convert_mode
from cnnlab.studio.errors import StudioError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
PLAYGROUND_SIDE = 160
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def open_upload(data: bytes) -> Image.Image:
    """The decoded image in ``data``.

    Raises:
        StudioError: 400 for an empty upload, 413 for one over the limits, 415 for bytes
            Pillow cannot decode.
    """
    if not data:
        raise StudioError("the upload is empty; choose an image file (PNG, JPEG, ...)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise StudioError(
            f"the upload is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}", 413
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_UPLOAD_PIXELS:
                raise Image.DecompressionBombError(f"{image.width}x{image.height}")
            image.load()
    except Image.DecompressionBombError as error:
        raise StudioError(
            f"the image is too large ({error}); the limit is {MAX_UPLOAD_PIXELS:,} pixels", 413
        ) from None
    except Exception as error:  # Pillow's decoders raise many types on corrupt data
        raise StudioError(
            f"the upload is not an image Pillow can read ({type(error).__name__})", 415
        ) from None
    return image


def model_image(image: Image.Image, channels: int, fit: tuple[int, int] | None) -> torch.Tensor:
    """``image`` as the ``C x H x W`` uint8 tensor ``cnnlab.data.images.read_image`` returns
    for a file: converted to ``channels`` (1 or 3), large images first shrunk by an integer
    factor to at most 4 times ``fit``."""
    image = convert_mode(image, "L" if channels == 1 else "RGB")
    if fit is not None:
        factor = min(image.height // (4 * fit[0]), image.width // (4 * fit[1]))
        if factor > 1:
            image = image.reduce(factor)
    tensor = torch.from_numpy(np.array(image))
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1).contiguous()


def playground_image(image: Image.Image) -> np.ndarray:
    """``image`` as ``H x W x C`` floats in 0..255 (C = 1 for grey, 3 for colour), its longer
    side shrunk to at most :data:`PLAYGROUND_SIDE` pixels so the reference conv stays fast."""
    image = convert_mode(image, "L" if image.mode in GREY_MODES else "RGB")
    image.thumbnail((PLAYGROUND_SIDE, PLAYGROUND_SIDE), Image.Resampling.LANCZOS)
    data = np.asarray(image, dtype=float)
    return data[..., None] if data.ndim == 2 else data
