"""Arrays as small PNG images for the page: grey maps, signed weights, data URLs."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def data_url(pixels: np.ndarray) -> str:
    """A ``data:image/png`` URL of ``H x W`` or ``H x W x 3`` uint8 pixels."""
    grey = pixels.ndim == 2 or pixels.shape[2] == 1
    image = Image.fromarray(pixels.reshape(pixels.shape[:2]) if grey else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grey(values: np.ndarray) -> np.ndarray:
    """Values mapped linearly from their own minimum..maximum onto 0..255 (black..white)."""
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)
    return np.rint(scaled).astype(np.uint8)


def signed(values: np.ndarray, limit: float) -> np.ndarray:
    """Signed values as colours: blue for negative, white for zero, red for positive.

    Args:
        values: any shape ``S``.
        limit: the magnitude drawn at full colour (larger values are cut).

    Returns:
        ``S x 3`` uint8.
    """
    t = np.clip(values / limit, -1, 1) if limit > 0 else np.zeros_like(values)
    fade = 255 * (1 - np.abs(t))
    red = np.where(t < 0, fade, 255)
    blue = np.where(t > 0, fade, 255)
    return np.rint(np.stack([red, fade, blue], axis=-1)).astype(np.uint8)
