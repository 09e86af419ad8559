"""Uploaded image bytes decoded safely, then shaped for a model or for the kernel playground.

Limits, checked from the header before anything is decoded: :data:`MAX_UPLOAD_BYTES` per file,
:data:`MAX_UPLOAD_PIXELS` per image, and :data:`MAX_DECODED_BYTES` for the decoded pixels as
Pillow holds them (a small PNG can decode to hundreds of megabytes). Conversion then works one
strip of rows at a time, shrinking each strip at once where the endpoint shrinks the image
anyway, so no full-size float copy of the image is ever made.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from cnnlab.data.images import convert_mode
from cnnlab.studio.errors import StudioError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
MAX_DECODED_BYTES = 100_000_000
PLAYGROUND_SIDE = 160
STRIP_BYTES = 4 * 1024 * 1024
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def pixel_bytes(mode: str) -> int:
    """Bytes per pixel of ``mode`` as Pillow holds it in memory (RGB is padded to 4)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _refuse_large(image: Image.Image) -> None:
    pixels = image.width * image.height
    if pixels > MAX_UPLOAD_PIXELS:
        raise StudioError(
            f"the image is {image.width}x{image.height}; the limit is {MAX_UPLOAD_PIXELS:,} pixels",
            413,
        )
    decoded = pixels * pixel_bytes(image.mode)
    if decoded > MAX_DECODED_BYTES:
        raise StudioError(
            f"the image ({image.width}x{image.height}, mode {image.mode}) decodes to "
            f"{decoded:,} bytes; the limit is {MAX_DECODED_BYTES:,} decoded bytes",
            413,
        )


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
            _refuse_large(image)
            image.load()
    except StudioError:
        raise
    except Exception as error:  # Pillow's decoders raise many types on corrupt data
        raise StudioError(
            f"the upload is not an image Pillow can read ({type(error).__name__})", 415
        ) from None
    return image


def _strips(image: Image.Image, factor: int) -> Iterator[tuple[int, Image.Image]]:
    """``(top, strip)`` over ``image``, strips a multiple of ``factor`` rows high."""
    rows = max(1, STRIP_BYTES // (4 * image.width) // factor) * factor
    for top in range(0, image.height, rows):
        yield top, image.crop((0, top, image.width, min(image.height, top + rows)))


def _value_range(image: Image.Image) -> tuple[float, float]:
    """Lowest and highest value of a 16-bit, 32-bit or float image (all finite)."""
    low, high = np.inf, -np.inf
    for _, strip in _strips(image, 1):
        values = np.asarray(strip)
        if not np.isfinite(values).all():
            raise StudioError(f"the image (mode {image.mode}) holds NaN or infinite values", 415)
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    return low, high


def _scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` mapped from ``low..high`` onto 0..255 by the formula of
    :func:`cnnlab.data.images.convert_mode`."""
    values = values.astype(np.float64)
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.rint(scaled).astype(np.uint8)


def _eight_bit(image: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """A function taking strips of a 16-bit, 32-bit or float ``image`` to 0..255 grey, scaled
    by the whole image's range (a 16-bit image through a table of its 65536 values)."""
    low, high = _value_range(image)
    table = _scaled(np.arange(1 << 16), low, high) if image.mode.startswith("I;16") else None

    def convert(strip: Image.Image) -> Image.Image:
        values = np.asarray(strip)
        return Image.fromarray(table[values] if table is not None else _scaled(values, low, high))

    return convert


def converted(image: Image.Image, mode: str, factor: int = 1) -> Image.Image:
    """``convert_mode(image, mode).reduce(factor)``, computed strip by strip."""
    eight_bit = _eight_bit(image) if image.mode in HIGH_BIT_MODES else None
    width, height = -(-image.width // factor), -(-image.height // factor)
    result = Image.new(mode, (width, height))
    for top, strip in _strips(image, factor):
        strip = convert_mode(strip if eight_bit is None else eight_bit(strip), mode)
        result.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    return result


def model_image(image: Image.Image, channels: int, fit: tuple[int, int] | None) -> torch.Tensor:
    """``image`` as the ``C x H x W`` uint8 tensor ``cnnlab.data.images.read_image`` returns
    for a file: converted to ``channels`` (1 or 3), large images first shrunk by an integer
    factor to at most 4 times ``fit``."""
    factor = 1
    if fit is not None:
        factor = max(1, min(image.height // (4 * fit[0]), image.width // (4 * fit[1])))
    tensor = torch.from_numpy(np.array(converted(image, "L" if channels == 1 else "RGB", factor)))
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1).contiguous()


def playground_image(image: Image.Image) -> np.ndarray:
    """``image`` as ``H x W x C`` floats in 0..255 (C = 1 for grey, 3 for colour), its longer
    side shrunk to at most :data:`PLAYGROUND_SIDE` pixels so the reference conv stays fast
    (a large image first by an integer factor, strip by strip, to about twice that)."""
    factor = max(1, max(image.size) // (2 * PLAYGROUND_SIDE))
    small = converted(image, "L" if image.mode in GREY_MODES else "RGB", factor)
    small.thumbnail((PLAYGROUND_SIDE, PLAYGROUND_SIDE), Image.Resampling.LANCZOS)
    data = np.asarray(small, dtype=np.float32)
    return data[..., None] if data.ndim == 2 else data
