"""Reading one image file of any mode into the uint8 layout models are trained on.

Modes are converted so that what the eye sees is kept: 16-bit and float images are scaled to
0..255 by their own range (a plain PIL ``convert`` would clip them to white); transparent
images (RGBA, LA, palette with transparency) are composited over white, as a viewer shows
them; CMYK becomes RGB.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cnnlab.errors import CnnlabError

MAX_PIXELS = 120_000_000


def open_image(path: str | os.PathLike) -> Image.Image:
    """The decoded image at ``path``, or a one-line error saying why it cannot be read."""
    file = Path(path)
    if not file.is_file():
        raise CnnlabError(f"{file} does not exist or is not a file")
    try:
        with warnings.catch_warnings():
            # our own limit below replaces PIL's warning at 89 M pixels
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(file)  # reads the header only: the size is known, not decoded
            if image.width * image.height > MAX_PIXELS:
                image.close()
                raise CnnlabError(
                    f"{file} is {image.width}x{image.height}, over {MAX_PIXELS:,} pixels; "
                    "downscale it first"
                )
            image.load()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        # PIL refuses a header claiming over 2 x 89 M pixels (20000 x 20000) itself
        raise CnnlabError(f"{file} is not a readable image ({error})") from error
    return image


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """I, I;16 and F images rescaled from their value range to 0..255 grayscale."""
    array = np.asarray(image, dtype=np.float64)
    if array.size == 0 or not np.isfinite(array).all():
        raise CnnlabError(f"image of mode {image.mode} has no finite pixel values")
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L")


def convert_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` as ``L`` (grayscale) or ``RGB``, keeping what a viewer shows."""
    if mode not in ("L", "RGB"):
        raise CnnlabError(f"mode must be 'L' or 'RGB'. Received: mode={mode!r}")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _to_eight_bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert(mode)


def read_image(
    path: str | os.PathLike, channels: int, fit: tuple[int, int] | None = None
) -> torch.Tensor:
    """The image at ``path`` as a C x H x W uint8 tensor with ``channels`` 1 or 3.

    With ``fit`` (H, W), an image more than 4 times larger is first shrunk by an integer
    factor (box filter) to at most 4 times ``fit``: a 10000 x 10000 photo for a 28 x 28 model
    costs a few megabytes instead of gigabytes of float pixels.
    """
    if channels not in (1, 3):
        raise CnnlabError(f"channels must be 1 or 3. Received: channels={channels}")
    image = convert_mode(open_image(path), "L" if channels == 1 else "RGB")
    if fit is not None:
        factor = min(image.height // (4 * fit[0]), image.width // (4 * fit[1]))
        if factor > 1:
            image = image.reduce(factor)
    array = np.asarray(image)
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1).contiguous()
